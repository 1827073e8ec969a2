// Package restapi serves IPFS Cluster 1.1.6's REST API (default port 9094)
// over the daemon's cluster peer, with that API's exact JSON shapes and
// HTTP behaviour, so that ipfs-cluster-ctl and IPFS Cluster's Go client work
// unchanged: NDJSON streams flushed per item with X-Stream-Error trailers,
// 204 on empty streams, errors as {"code","message"}, 307 on a trailing
// slash, CORS. It talks to the cluster through the Cluster interface it
// defines; the wire shapes live in wire.go only.
package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
)

// Config is the API's own settings.
type Config struct {
	// CORSAllowedOrigins are the origins browsers may call from ("*":
	// any); IPFS Cluster's defaults.
	CORSAllowedOrigins []string
	// CORSAllowedMethods are the methods allowed cross-origin.
	CORSAllowedMethods []string
}

// DefaultConfig is IPFS Cluster's CORS defaults: any origin, GET only.
func DefaultConfig() Config {
	return Config{CORSAllowedOrigins: []string{"*"}, CORSAllowedMethods: []string{http.MethodGet}}
}

// Deps are what the API serves from.
type Deps struct {
	Cluster Cluster      // non-nil
	Version string       // reported by /version and /id
	Commit  string       // reported by /id
	Logger  *slog.Logger // non-nil
	// DownAfter is how long a member may stay silent before it is down
	// (0: DefaultDownAfter).
	DownAfter time.Duration
	// Resolve resolves an /ipfs, /ipns or /ipld path with segments to
	// the CID it names; nil: only /ipfs/{cid} path forms are served.
	Resolve func(ctx context.Context, path string) (cid.Cid, error)
	// Adder serves POST /add; nil: 501.
	Adder Adder
	// Tokens issues and revokes bearer tokens; nil: /token answers 401,
	// as IPFS Cluster's does with no credentials configured.
	Tokens Tokens
}

type server struct {
	cfg Config
	Deps
	now func() time.Time
}

// NewHandler returns the API's handler.
func NewHandler(cfg Config, d Deps) http.Handler {
	s := &server{cfg: cfg, Deps: d, now: time.Now}
	mux := http.NewServeMux()
	routes := map[string]handler{
		"GET /id":                       s.id,
		"GET /version":                  s.version,
		"GET /peers":                    s.peers,
		"GET /allocations":              s.allocations,
		"GET /allocations/{cid}":        s.allocation,
		"GET /pins":                     s.statusAll,
		"GET /pins/{cid}":               s.status,
		"POST /pins/{cid}":              s.pin,
		"POST /pins/batch":              s.pinBatch,
		"DELETE /pins/{cid}":            s.unpin,
		"POST /pins/{cid}/recover":      s.recover,
		"POST /pins/recover":            s.recoverAll,
		"POST /pins/{kind}/{path...}":   s.pinPath,
		"DELETE /pins/{kind}/{path...}": s.unpinPath,
		"GET /health/alerts":            s.alerts,
		"GET /monitor/metrics":          s.metricNames,
		"GET /monitor/metrics/{name}":   s.metrics,
		"POST /add":                     s.add,

		"GET /health/graph":     s.graph,
		"GET /health/bandwidth": s.bandwidth,
		"POST /peers":           s.peerAdd,
		"DELETE /peers/{peer}":  s.peerRemove,
		"POST /ipfs/gc":         s.repoGC,
		"POST /token":           s.token,
		"GET /tokens":           s.tokens,
		"DELETE /tokens/{id}":   s.revokeToken,
	}
	for pattern, h := range routes {
		mux.Handle(pattern, s.wrap(h))
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNoContent)
	})
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
		s.fail(w, errorf(http.StatusNotFound, "not found"))
	})
	return s.cors(strictSlash(mux))
}

// handler serves one route: it writes its answer, or returns an error
// that wrap maps to a status and a {"code","message"} body.
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
	case errors.Is(err, pin.ErrNotFound), errors.Is(err, ErrPeerNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrRefused):
		return http.StatusConflict
	case errors.Is(err, pin.ErrInvalid), errors.Is(err, placement.ErrNotEnoughPeers), errors.Is(err, ErrBadUpload),
		errors.Is(err, importer.ErrBadParams):
		return http.StatusBadRequest
	case errors.Is(err, pin.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func (s *server) fail(w http.ResponseWriter, err error) {
	code := statusOf(err)
	if code >= 500 {
		s.Logger.Error("request failed", "status", code, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(wireError{Code: code, Message: err.Error()})
}

// reply writes one JSON object with 200.
func reply(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(v)
}

// streamer writes an NDJSON stream as IPFS Cluster does: the status is
// decided by the first item (200) or its absence (204, or an error body
// if the producer failed before any item); each item is flushed; a
// failure after the first item is reported in the X-Stream-Error trailer,
// which is always sent (empty on success) once the stream has started.
type streamer struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newStreamer(w http.ResponseWriter) *streamer {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Trailer", "X-Stream-Error")
	return &streamer{w: w, enc: json.NewEncoder(w)}
}

func (st *streamer) send(v any) error {
	if !st.started {
		st.started = true
		st.w.WriteHeader(http.StatusOK)
	}
	if err := st.enc.Encode(v); err != nil {
		return err
	}
	http.NewResponseController(st.w).Flush()
	return nil
}

// end finishes the stream with the producer's error, if any.
func (st *streamer) end(s *server, err error) {
	if !st.started {
		if err != nil {
			s.fail(st.w, err)
			return
		}
		st.w.WriteHeader(http.StatusNoContent)
		return
	}
	msg := ""
	if err != nil {
		msg = err.Error()
		s.Logger.Warn("stream failed", "err", err)
	}
	st.w.Header().Set("X-Stream-Error", msg)
}

// strictSlash redirects /path/ to /path with 307, which keeps the method
// and body, as IPFS Cluster does.
func strictSlash(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			u := *r.URL
			u.Path = strings.TrimSuffix(p, "/")
			u.RawPath = ""
			http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// corsHeaders are the request headers a preflight may ask for (rs/cors's
// defaults, which IPFS Cluster uses).
var corsHeaders = []string{"origin", "accept", "content-type", "x-requested-with", "authorization"}

// cors answers preflights and marks cross-origin answers, as IPFS
// Cluster's rs/cors setup: credentials allowed, so the origin is echoed.
func (s *server) cors(h http.Handler) http.Handler {
	allowed := func(origin string) bool {
		return slices.Contains(s.cfg.CORSAllowedOrigins, "*") || slices.Contains(s.cfg.CORSAllowedOrigins, origin)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
			method := strings.ToUpper(r.Header.Get("Access-Control-Request-Method"))
			if origin == "" || !allowed(origin) || !slices.Contains(s.cfg.CORSAllowedMethods, method) {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			for _, hd := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
				if hd = strings.ToLower(strings.TrimSpace(hd)); hd != "" && !slices.Contains(corsHeaders, hd) {
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Methods", method)
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				w.Header().Set("Access-Control-Allow-Headers", rh)
			}
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if origin != "" {
			w.Header().Add("Vary", "Origin")
			if allowed(origin) && slices.Contains(s.cfg.CORSAllowedMethods, r.Method) {
				w.Header().Set("Access-Control-Allow-Origin", origin)
				w.Header().Set("Access-Control-Allow-Credentials", "true")
				w.Header().Set("Access-Control-Expose-Headers", "Content-Type, X-Stream-Output, X-Chunked-Output, X-Content-Length")
			}
		}
		h.ServeHTTP(w, r)
	})
}

// pathCid decodes the {cid} of the route.
func pathCid(r *http.Request) (cid.Cid, error) {
	c, err := cid.Decode(r.PathValue("cid"))
	if err != nil {
		return cid.Undef, errorf(http.StatusBadRequest, "error decoding Cid: %v", err)
	}
	return c, nil
}

// membersByID indexes the members for the wire conversions.
func (s *server) membersByID(ctx context.Context) ([]member.Member, map[string]member.Member, error) {
	ms, err := s.Cluster.Members(ctx)
	if err != nil {
		return nil, nil, err
	}
	by := make(map[string]member.Member, len(ms))
	for _, m := range ms {
		by[m.ID] = m
	}
	return ms, by, nil
}
