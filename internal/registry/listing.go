package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// maxPage bounds a tags or catalog page when the client asks for none (or
// for more): a page is built in memory.
const maxPage = 1000

// pageParams reads n and last.
func pageParams(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	n = maxPage
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", errorf(http.StatusBadRequest, codeUnsupported, "n must be a count, got %q", s)
		}
		n = min(v, maxPage)
	}
	return n, q.Get("last"), nil
}

// nextLink is the spec's Link header to the page after last.
func nextLink(path string, n int, last string) string {
	return fmt.Sprintf(`<%s?n=%d&last=%s>; rel="next"`, path, n, url.QueryEscape(last))
}

// listTags serves GET /v2/<name>/tags/list, in lexical order, paged with n
// and last.
func (g *Registry) listTags(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	if ok, err := g.records.get(ctx, repoKey(rt.repo), nil); err != nil {
		return err
	} else if !ok {
		return errorf(http.StatusNotFound, codeNameUnknown, "no repository %s", rt.repo).with(map[string]string{"name": rt.repo})
	}
	tags := []string{}
	more := false
	if n > 0 {
		err = g.records.scan(ctx, tagPrefix(rt.repo), last, func(tag string, _ []byte) bool {
			if len(tags) == n {
				more = true
				return false
			}
			tags = append(tags, tag)
			return true
		})
		if err != nil {
			return err
		}
	}
	if more {
		w.Header().Set("Link", nextLink(r.URL.Path, n, tags[len(tags)-1]))
	}
	return writeJSON(w, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.repo, tags})
}

// catalog serves GET /v2/_catalog: every repository that ever held
// something, paged as tags are.
func (g *Registry) catalog(w http.ResponseWriter, r *http.Request, _ route) error {
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	repos := []string{}
	more := false
	if n > 0 {
		err = g.records.scan(r.Context(), repoKey(""), last, func(repo string, _ []byte) bool {
			if len(repos) == n {
				more = true
				return false
			}
			repos = append(repos, repo)
			return true
		})
		if err != nil {
			return err
		}
	}
	if more {
		w.Header().Set("Link", nextLink(r.URL.Path, n, repos[len(repos)-1]))
	}
	return writeJSON(w, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// listReferrers serves GET /v2/<name>/referrers/<digest>: an index of the
// manifests whose subject is the digest, known or not, filtered by
// artifactType when asked.
func (g *Registry) listReferrers(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	subject, ok := parseDigest(rt.ref)
	if !ok {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q", rt.ref)
	}
	filter := r.URL.Query().Get("artifactType")
	list := []descriptor{}
	var scanErr error
	err := g.records.scan(ctx, referrerPrefix(rt.repo, subject), "", func(_ string, raw []byte) bool {
		var ref referrerRecord
		if err := json.Unmarshal(raw, &ref); err != nil {
			scanErr = err
			return false
		}
		if filter != "" && ref.ArtifactType != filter {
			return true
		}
		if ref.AnnotationsInManifest {
			if ref.Annotations, scanErr = g.annotationsOf(r, digest(ref.Digest)); scanErr != nil {
				return false
			}
		}
		list = append(list, ref.descriptor)
		return true
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return err
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, mediaOCIIndex, struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, mediaOCIIndex, list})
}

// annotationsOf reads a manifest's annotations from its content.
func (g *Registry) annotationsOf(r *http.Request, d digest) (map[string]string, error) {
	b, ok, err := g.records.blob(r.Context(), d)
	if err != nil || !ok {
		return nil, err
	}
	body, err := g.readSmall(r.Context(), b)
	if err != nil {
		return nil, err
	}
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	return doc.Annotations, nil
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	_, err = w.Write(raw)
	return err
}
