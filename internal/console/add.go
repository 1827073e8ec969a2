package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
)

// addPage is the upload form; its script sends the files to /ui/api/add.
func (s *server) addPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	s.render(w, http.StatusOK, "add", v, nil)
	return nil
}

// addOptions are the REST API's /add options the console passes on.
var addOptions = []string{"replication-min", "replication-max", "name", "wrap-with-directory", "cid-version", "local"}

// add hands an upload to the REST API's POST /add, the cluster-wide add
// that ipfs-cluster-ctl uses (its multipart format, its NDJSON answer),
// with the session's principal: one implementation of the add, whichever
// client sends it.
func (s *server) add(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.API == nil {
		return errorf(http.StatusNotImplemented, "adding is not available on this peer")
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return errorf(http.StatusBadRequest, "want a multipart/form-data upload")
	}
	in := r.URL.Query()
	q := url.Values{}
	for _, k := range addOptions {
		if val := in.Get(k); val != "" {
			q.Set(k, val)
		}
	}
	req := r.Clone(r.Context())
	if !v.Open {
		req = req.WithContext(auth.WithPrincipal(r.Context(), v.Principal))
	}
	req.URL.Path, req.URL.RawPath = "/add", ""
	req.URL.RawQuery = q.Encode()
	req.RequestURI = req.URL.RequestURI()
	s.API.ServeHTTP(w, req)
	return nil
}
