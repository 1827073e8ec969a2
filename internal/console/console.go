// Package console is the web console every peer serves under /ui/ on the
// REST API's port (same listener, TLS, users and tokens): the cluster at a
// glance (peers by zone, health, alerts, rates), the pinset a page at a
// time, a pin's allocations and actions, uploads, and access (users,
// tokens).
//
// Pages are rendered on the server by html/template, which escapes every
// value it writes; small JavaScript modules (embedded, no build step, no
// third-party code) refresh parts of a page by fetching the same
// templates' fragments, draw the rate charts in SVG and drive uploads. The
// pages work without JavaScript, except the charts and the upload's
// progress.
//
// Sessions are the API's own tokens: logging in exchanges a password for
// a short-lived token of the user's scope, kept in an HttpOnly,
// SameSite=Strict cookie (Secure under TLS) and revocable like any other.
// Every mutating request carries a CSRF token bound to the browser and the
// session, and must come from the console's own origin. A strict Content
// Security Policy allows only the console's own scripts and styles.
package console

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	cid "github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Prefix is where the console is mounted.
const Prefix = "/ui/"

// Cluster is what the console reads and changes (*cluster.Peer satisfies
// it). Reads see every write acknowledged before them.
type Cluster interface {
	ID() string
	// Leader is the leader's ID, empty when there is none.
	Leader() string
	// Voters are the raft voters' IDs.
	Voters() ([]string, error)
	Members(ctx context.Context) ([]member.Member, error)
	// Liveness is the members with the leader's view of them: last
	// heartbeat, free space, queue length.
	Liveness(ctx context.Context) ([]member.Member, error)
	Get(ctx context.Context, c cid.Cid) (pin.Pin, error)
	Status(ctx context.Context, c cid.Cid) (pin.Info, error)
	// StatusFrom streams pins after the CID after (cid.Undef: from the
	// start) in CID order with every peer's status, until fn errs.
	StatusFrom(ctx context.Context, after cid.Cid, fn func(pin.Info) error) error
	// ListFrom streams the pins after the CID after in CID order, from
	// this peer's copy of the pinset (no peer is asked), until fn errs.
	ListFrom(ctx context.Context, after cid.Cid, fn func(pin.Pin) error) error
	Pin(ctx context.Context, p pin.Pin) (pin.Pin, error)
	Unpin(ctx context.Context, c cid.Cid) error
	Recover(ctx context.Context, c cid.Cid) (pin.Info, error)
	// RecentMoves is how many pins were given new allocations (repair,
	// release of surplus, a removed member's pins) in the last minute, and
	// when the last was, from this peer's state machine.
	RecentMoves() (n int, last time.Time)
}

// Auth is the admin ports' guard (*auth.Guard).
type Auth interface {
	// Enabled reports whether requests must authenticate; when not (a
	// node whose admin ports are all on loopback, with no users file),
	// the console is open, as the API is.
	Enabled() bool
	Login(r *http.Request, user, password string) (auth.Principal, error)
	VerifyToken(ctx context.Context, token string) (auth.Principal, error)
	Users() []auth.UserInfo
	Audit(api string, p auth.Principal, r *http.Request, status int, took time.Duration)
	// AuditLog is the last requests of this peer's audit log, newest
	// first.
	AuditLog() []auth.AuditRecord
}

// Tokens is the token service (*auth.Tokens).
type Tokens interface {
	Issue(ctx context.Context, user string, scope auth.Scope, ttl time.Duration, name string) (auth.TokenInfo, string, error)
	List(ctx context.Context, fn func(auth.TokenInfo) error) error
	Revoke(ctx context.Context, id string) (auth.TokenInfo, error)
}

// Config is the console's settings.
type Config struct {
	// SessionTTL is how long a login lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// DownAfter is how long a member may stay silent before it shows as
	// down (0: 4s, the cluster's default).
	DownAfter time.Duration
	// PageSize is the number of pins on a page (0: 50).
	PageSize int
	// ScanBudget bounds the pins one search or filtered page reads
	// before it answers with what it found and a cursor to go on (0:
	// 20,000): a page costs the same at any pinset size.
	ScanBudget int
}

// DefaultSessionTTL is how long a console login lasts by default.
const DefaultSessionTTL = 8 * time.Hour

// DefaultConfig is the console's defaults: logins of 8 hours, members
// down after 4 s of silence, pages of 50 pins, searches of 20,000 pins a
// request. New applies them to the fields left zero.
func DefaultConfig() Config {
	return Config{SessionTTL: DefaultSessionTTL, DownAfter: 4 * time.Second, PageSize: 50, ScanBudget: 20000}
}

// Deps are what the console serves from.
type Deps struct {
	Cluster Cluster // non-nil
	Auth    Auth    // non-nil
	Tokens  Tokens  // non-nil
	// API is the REST API's handler, behind no guard: the console hands
	// it uploads (POST /add) with the session's principal.
	API http.Handler
	// Metrics are this peer's metrics, sampled for the rate charts; nil:
	// no charts.
	Metrics prometheus.Gatherer
	// Key signs CSRF tokens; the same on every peer (derived from the
	// cluster secret), so that a page served by one peer behind a load
	// balancer may post to another.
	Key []byte
	// Version is this peer's version.
	Version string
	// GatewayURL is the base of gateway links ("http://host:8080"), empty
	// for none; a wildcard host is replaced by the host the browser asked.
	GatewayURL string
	Logger     *slog.Logger // non-nil
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

type server struct {
	cfg Config
	Deps
	pages map[string]*template.Template
	rates *rates
	now   func() time.Time
}

// New returns the console's handler, to be mounted at Prefix.
func New(cfg Config, d Deps) (http.Handler, error) {
	def := DefaultConfig()
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, def.SessionTTL)
	cfg.DownAfter = cmp.Or(cfg.DownAfter, def.DownAfter)
	cfg.PageSize = cmp.Or(cfg.PageSize, def.PageSize)
	cfg.ScanBudget = cmp.Or(cfg.ScanBudget, def.ScanBudget)
	if cfg.SessionTTL < 0 || cfg.SessionTTL > auth.MaxTokenTTL || cfg.PageSize < 0 || cfg.ScanBudget < 0 {
		return nil, fmt.Errorf("console: invalid config %+v", cfg)
	}
	if len(d.Key) < 16 {
		return nil, errors.New("console: key must be at least 16 bytes")
	}
	s := &server{cfg: cfg, Deps: d, now: time.Now, rates: newRates(d.Metrics)}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /ui/login", s.loginPage)
	mux.HandleFunc("POST /ui/login", s.login)

	routes := map[string]page{
		"GET /ui/{$}":                  {auth.ScopeRead, s.overview},
		"GET /ui/api/rates":            {auth.ScopeRead, s.ratesJSON},
		"GET /ui/pins":                 {auth.ScopeRead, s.pins},
		"POST /ui/pins":                {auth.ScopePin, s.pinNew},
		"GET /ui/pins/{cid}":           {auth.ScopeRead, s.pinDetail},
		"POST /ui/pins/{cid}/{action}": {auth.ScopePin, s.pinAction},
		"GET /ui/add":                  {auth.ScopePin, s.addPage},
		"POST /ui/api/add":             {auth.ScopePin, s.add},
		"GET /ui/access":               {auth.ScopeRead, s.access},
		"POST /ui/access/tokens":       {auth.ScopeRead, s.tokenNew},
		"POST /ui/access/tokens/{id}":  {auth.ScopeRead, s.tokenRevoke},
		"POST /ui/logout":              {auth.ScopeNone, s.logout},
	}
	for pattern, p := range routes {
		mux.Handle(pattern, s.session(p))
	}
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, nil, errorf(http.StatusNotFound, "no such page: %s", r.URL.Path))
	})
	// Mutating requests must come from the console's origin (Fetch
	// Metadata and Origin checks), on top of the CSRF token.
	cop := http.NewCrossOriginProtection()
	return securityHeaders(cop.Handler(mux)), nil
}

// page is a route: the scope it needs and its handler, which writes its
// answer or returns an error that fail renders.
type page struct {
	scope auth.Scope
	fn    func(w http.ResponseWriter, r *http.Request, v *viewer) error
}

// csp allows the console's own scripts, styles and requests only: no
// inline script or style, no frames, forms posting to the console only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// cacheStatic lets browsers keep the assets for a while; they change only
// with the binary.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
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
	case errors.Is(err, pin.ErrNotFound), errors.Is(err, auth.ErrTokenNotFound):
		return http.StatusNotFound
	case errors.Is(err, pin.ErrInvalid), errors.Is(err, auth.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, pin.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// fail renders an error page (a fragment request gets the message alone).
func (s *server) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	code := statusOf(err)
	if code >= 500 {
		s.Logger.Error("console request failed", "path", r.URL.Path, "status", code, "err", err)
	}
	if r.URL.Query().Get("part") != "" || r.Header.Get("Accept") == "application/json" {
		http.Error(w, err.Error(), code)
		return
	}
	s.render(w, code, "error", v, struct {
		Code    int
		Status  string
		Message string
	}{code, http.StatusText(code), err.Error()})
}
