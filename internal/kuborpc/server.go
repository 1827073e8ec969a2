package kuborpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/ipfs/boxo/verifcid"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/names"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Deps are what the RPC handlers serve from.
type Deps struct {
	Node     *ipfs.Node     // non-nil
	Cluster  Cluster        // nil: pins are the node's own
	Identity crypto.PrivKey // the peer's key, for id
	RepoPath string         // reported by repo/stat
	Config   func() any     // effective settings for config/show (secrets redacted)
	S3       func() *S3Stat // the S3 block store's figures for repo/stat; nil, or nil result, on flatfs
	Logger   *slog.Logger   // non-nil
	Names    *names.Service // the cluster's IPNS keys and names; nil: key/* and name/publish answer 501
	// GC, when set, is what repo/gc runs instead of the node's own
	// collection (on a shared S3 bucket, the cluster's), reporting each
	// block removed.
	GC func(ctx context.Context, removed func(cid.Cid) error) error
}

// server holds the dependencies of every handler.
type server struct {
	Deps
	id peer.ID
}

// handler is one RPC command. It writes through res and returns an error
// that wrap maps to Kubo's error encoding.
type handler func(ctx context.Context, req *request, res *response) error

// NewHandler returns the handler for /api/v0/.
func NewHandler(d Deps) http.Handler {
	s := &server{Deps: d}
	if d.Identity != nil {
		s.id, _ = peer.IDFromPrivateKey(d.Identity)
	}
	routes := map[string]handler{
		"add":                s.add,
		"cat":                s.cat,
		"get":                s.get,
		"ls":                 s.ls,
		"refs":               s.refs,
		"refs/local":         s.refsLocal,
		"resolve":            s.resolve,
		"name/resolve":       s.nameResolve,
		"name/publish":       s.namePublish,
		"key/gen":            s.keyGen,
		"key/list":           s.keyList,
		"key/ls":             s.keyList,
		"key/rm":             s.keyRm,
		"key/rename":         s.keyRename,
		"key/import":         s.keyImport,
		"key/export":         s.keyExport,
		"block/get":          s.blockGet,
		"block/put":          s.blockPut,
		"block/stat":         s.blockStat,
		"block/rm":           s.blockRm,
		"dag/get":            s.dagGet,
		"dag/put":            s.dagPut,
		"dag/stat":           s.dagStat,
		"dag/import":         s.dagImport,
		"dag/export":         s.dagExport,
		"pin/add":            s.pinAdd,
		"pin/rm":             s.pinRm,
		"pin/ls":             s.pinLs,
		"pin/update":         s.pinUpdate,
		"pin/verify":         s.pinVerify,
		"routing/get":        s.routingGet,
		"routing/put":        s.routingPut,
		"routing/findprovs":  s.routingFindProvs,
		"routing/provide":    s.routingProvide,
		"repo/gc":            s.repoGC,
		"repo/stat":          s.repoStat,
		"repo/verify":        s.repoVerify,
		"id":                 s.identity,
		"version":            s.version,
		"swarm/peers":        s.swarmPeers,
		"swarm/connect":      s.swarmConnect,
		"swarm/disconnect":   s.swarmDisconnect,
		"swarm/addrs":        s.swarmAddrs,
		"swarm/addrs/local":  s.swarmAddrsLocal,
		"swarm/addrs/listen": s.swarmAddrsListen,
		"config/show":        s.configShow,
	}
	mux := http.NewServeMux()
	for name, h := range routes {
		mux.Handle("/api/v0/"+name, s.wrap(name, h))
	}
	mux.Handle("/api/v0/", s.wrap("", func(_ context.Context, req *request, _ *response) error {
		cmd := strings.TrimPrefix(req.URL.Path, "/api/v0/")
		return &statusError{status: http.StatusNotImplemented, err: fmt.Errorf("command %q is not implemented by flotilla", cmd)}
	}))
	return mux
}

// wrap enforces Kubo's transport rules (POST only) and encodes errors: as a
// status and an Error body when nothing was sent yet, as an X-Stream-Error
// trailer (and a last error line on NDJSON streams) once the stream began.
func (s *server) wrap(name string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := &response{w: w}
		if r.Method != http.MethodPost {
			res.fail(&statusError{status: http.StatusMethodNotAllowed, err: fmt.Errorf("method %s not allowed: the RPC API takes POST only", r.Method)})
			return
		}
		// Kubo streams its response while the client is still uploading
		// (add reports progress mid-upload); HTTP/1.1 servers close the
		// request body once the response starts unless told otherwise.
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			http.NewResponseController(w).EnableFullDuplex()
			// A full-duplex connection is not reused: net/http may still
			// be reading the finished body when it looks for the next
			// request ("invalid concurrent Body.Read call").
			w.Header().Set("Connection", "close")
		}
		req := &request{Request: r, query: r.URL.Query()}
		err := h(r.Context(), req, res)
		if err != nil {
			s.Logger.Debug("rpc command failed", "cmd", name, "err", err)
			if !res.started && r.ContentLength != 0 {
				// The upload was refused before it was read: closing
				// the connection beats draining gigabytes nobody wants.
				w.Header().Set("Connection", "close")
			}
			res.fail(err)
		}
	})
}

// statusError carries an explicit HTTP status.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// badRequest marks a client mistake.
func badRequest(format string, args ...any) error {
	return &statusError{status: http.StatusBadRequest, err: fmt.Errorf(format, args...)}
}

// status maps an error to its HTTP status and Kubo error code, in one place.
func status(err error) (int, int) {
	var se *statusError
	switch {
	case errors.As(err, &se):
		if se.status < 500 {
			return se.status, codeClient
		}
		return se.status, codeNormal
	case errors.Is(err, ipfs.ErrBadPath), errors.Is(err, importer.ErrBadParams),
		errors.Is(err, ipfs.ErrBadCAR), errors.Is(err, block.ErrTooBig),
		errors.Is(err, ipfs.ErrNotPinned), errors.Is(err, ipfs.ErrPinned),
		errors.Is(err, ipfs.ErrBadRecord), errors.Is(err, ipfs.ErrNeedsAllowOffline),
		errors.Is(err, verifcid.ErrPossiblyInsecureHashFunction), errors.Is(err, verifcid.ErrDigestTooSmall),
		errors.Is(err, verifcid.ErrDigestTooLarge):
		return http.StatusBadRequest, codeClient
	case errors.Is(err, ipfs.ErrOffline), errors.Is(err, pin.ErrUnavailable):
		return http.StatusServiceUnavailable, codeNormal
	case errors.Is(err, names.ErrInvalid), errors.Is(err, names.ErrExists), errors.Is(err, names.ErrNotFound):
		// Kubo answers these with its normal code, so that its CLI
		// prints them without a usage hint; not 404, which its client
		// reads as an unknown command.
		return http.StatusBadRequest, codeNormal
	case errors.Is(err, ipfs.ErrNotFound):
		return http.StatusNotFound, codeNormal
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusRequestTimeout, codeNormal
	}
	return http.StatusInternalServerError, codeNormal
}

// request gives typed access to Kubo's query-string arguments.
type request struct {
	*http.Request
	query map[string][]string
}

// args returns the positional arguments (repeated "arg").
func (r *request) args() []string { return r.query["arg"] }

// needArgs returns the arguments, failing when there are fewer than min.
func (r *request) needArgs(min int, what string) ([]string, error) {
	a := r.args()
	if len(a) < min {
		return nil, badRequest("argument %q is required", what)
	}
	return a, nil
}

func (r *request) str(name string) string {
	if v := r.query[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// boolOpt parses a boolean option; absent gives def.
func (r *request) boolOpt(name string, def bool) (bool, error) {
	v, ok := r.query[name]
	if !ok || len(v) == 0 || v[0] == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, badRequest("option %q: %q is not a boolean", name, v[0])
	}
	return b, nil
}

// optBool parses a boolean option that may be absent.
func (r *request) optBool(name string) (*bool, error) {
	if _, ok := r.query[name]; !ok {
		return nil, nil
	}
	b, err := r.boolOpt(name, false)
	return &b, err
}

// optInt parses an integer option that may be absent.
func (r *request) optInt(name string) (*int, error) {
	v := r.str(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, badRequest("option %q: %q is not an integer", name, v)
	}
	return &n, nil
}

// response writes one of Kubo's three response kinds: a single JSON value,
// an NDJSON stream (X-Chunked-Output) or a raw byte stream (X-Stream-Output).
type response struct {
	w       http.ResponseWriter
	started bool
	ndjson  bool
}

// begin starts an NDJSON stream, which may end with no value at all: an
// empty answer (Kubo's clients print nothing for it, where an empty object
// would print an empty line).
func (r *response) begin() error {
	if !r.started {
		h := r.w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Chunked-Output", "1")
		h.Set("Trailer", "X-Stream-Error")
		h.Set("Vary", "Origin")
		r.w.WriteHeader(http.StatusOK)
		r.started, r.ndjson = true, true
	}
	return nil
}

// emit writes one value of an NDJSON stream, flushing it at once so that a
// client sees progress as it happens.
func (r *response) emit(v any) error {
	r.begin()
	if err := json.NewEncoder(r.w).Encode(v); err != nil {
		return err
	}
	if f, ok := r.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// single writes a one-value response.
func (r *response) single(v any) error {
	r.w.Header().Set("Content-Type", "application/json")
	r.w.WriteHeader(http.StatusOK)
	r.started = true
	return json.NewEncoder(r.w).Encode(v)
}

// stream starts a raw byte stream and returns where to write it.
func (r *response) stream(contentType string) io.Writer {
	h := r.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Stream-Output", "1")
	h.Set("Trailer", "X-Stream-Error")
	r.w.WriteHeader(http.StatusOK)
	r.started = true
	return r.w
}

func (r *response) fail(err error) {
	code, kuboCode := status(err)
	body := Error{Message: err.Error(), Code: kuboCode, Type: "error"}
	if !r.started {
		r.w.Header().Set("Content-Type", "application/json")
		r.w.WriteHeader(code)
		json.NewEncoder(r.w).Encode(body)
		return
	}
	if r.ndjson {
		json.NewEncoder(r.w).Encode(body)
	}
	r.w.Header().Set("X-Stream-Error", err.Error())
}
