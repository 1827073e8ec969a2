// Package pinsvc serves the IPFS Pinning Service API v1.0.0
// (ipfs/pinning-services-api-spec; default port 9097) over the daemon's
// cluster peer, so that `ipfs pin remote` of kubo works against a cluster.
//
// A pin request is a record in the cluster's replicated state (see
// request.go for the keys); its CID is a cluster pin with the cluster's
// default replication, shared by every request naming that CID and unpinned
// when the last of them is removed (store.go). A request's status is
// derived from the cluster's status of its CID (status.go). Each request
// belongs to the owner who made it (Deps.Owner): an owner sees and removes
// only its own. The package talks to the cluster through the Cluster
// interface it defines; the wire shapes live in wire.go only.
package pinsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
)

// Deps are what the API serves from.
type Deps struct {
	Cluster Cluster // non-nil
	// Owner names the authenticated caller of a request; nil: every
	// caller is "" (no authentication).
	Owner  func(*http.Request) string
	Logger *slog.Logger // non-nil
}

type server struct {
	Deps
	mux   *http.ServeMux
	clock clock
	// statusAllAbove: a listing that needs the status of more CIDs than
	// this asks for the whole pinset's status once instead of one CID at
	// a time.
	statusAllAbove int
}

// NewHandler returns the API's handler.
func NewHandler(d Deps) http.Handler {
	return newServer(d, time.Now)
}

func newServer(d Deps, now func() time.Time) *server {
	s := &server{Deps: d, clock: clock{now: now}, statusAllAbove: 64}
	if s.Owner == nil {
		s.Owner = func(*http.Request) string { return "" }
	}
	s.mux = s.routes()
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for pattern, h := range map[string]handler{
		"GET /pins":                s.list,
		"POST /pins":               s.add,
		"GET /pins/{requestid}":    s.get,
		"POST /pins/{requestid}":   s.replace,
		"DELETE /pins/{requestid}": s.remove,
	} {
		mux.Handle(pattern, s.wrap(h))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The catch-all also gets known paths with another method:
		// those are 405, with the methods they take.
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.fail(w, errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
			return
		}
		s.fail(w, errorf(http.StatusNotFound, "no route %s", r.URL.Path))
	})
	return mux
}

// handler serves one route: it writes its answer, or returns an error
// that wrap maps to a status and a Failure body.
type handler func(w http.ResponseWriter, r *http.Request) error

func (s *server) wrap(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, err)
		}
	})
}

// httpError carries its status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an error to its HTTP status: the one place that decides.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.Is(err, pin.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, placement.ErrNotEnoughPeers), errors.Is(err, pin.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// fail writes err as a Failure: the reason is the status in capitals
// (BAD_REQUEST, NOT_FOUND, as the spec's examples), the details the
// message.
func (s *server) fail(w http.ResponseWriter, err error) {
	code := statusOf(err)
	if code >= 500 {
		s.Logger.Error("request failed", "status", code, "err", err)
	}
	reason := strings.ToUpper(strings.ReplaceAll(http.StatusText(code), " ", "_"))
	if reason == "" {
		reason = "ERROR"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(wireFailure{Error: wireFailureError{Reason: reason, Details: err.Error()}})
}

// reply writes one JSON object.
func reply(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}
