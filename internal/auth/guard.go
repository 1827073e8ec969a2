package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// ErrInvalid marks a request the caller got wrong (a 400).
var ErrInvalid = errors.New("invalid request")

// Principal is who a request comes from.
type Principal struct {
	User    string
	Scope   Scope
	TokenID string // set when authenticated by a token
}

type principalKey struct{}

// FromContext returns the request's principal; ok is false when the port
// runs without authentication.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p (for tests of the APIs).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Rule says which scope a request needs; ScopeNone lets it through with no
// credentials (health probes, CORS preflights).
type Rule func(r *http.Request) Scope

// ErrorWriter writes an authentication failure in the API's own error
// shape, so that each API's clients read it as they read any error.
type ErrorWriter func(w http.ResponseWriter, status int, msg string)

// Config is what a Guard checks against.
type Config struct {
	// Users may authenticate with Basic credentials. With no users (and
	// so no way to obtain a token), the guard lets everyone in: only
	// for ports bound to loopback, which the daemon enforces.
	Users []User
	// Tokens checks bearer tokens; nil refuses them.
	Tokens *Tokens
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client, for rate limiting and logs.
	TrustedProxies []netip.Prefix
	// Audit receives one line per request.
	Audit *slog.Logger
	// AuditKeep is how many of the last audit records are kept in memory
	// for AuditLog (0: DefaultAuditKeep; negative: none).
	AuditKeep int
}

// Limits on failed attempts, per client address: a burst, then one per
// second.
const (
	failBurst = 10
	failRate  = 1.0
)

// credentialTTL is how long a verified password is remembered, so that a
// request costs a hash lookup instead of a bcrypt comparison.
const credentialTTL = 10 * time.Minute

// Guard authenticates, authorises, rate limits and logs the requests of
// the admin ports.
type Guard struct {
	cfg   Config
	users map[string]User
	dummy []byte // compared against for unknown users: same cost either way

	cacheKey []byte
	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedCredential
	flight   singleflight.Group

	failures *limiter
	recent   *auditRing // the last audit records, for AuditLog
	now      func() time.Time
}

type verifiedCredential struct {
	user    User
	expires time.Time
}

// NewGuard builds a guard.
func NewGuard(cfg Config) (*Guard, error) {
	g := &Guard{cfg: cfg, users: map[string]User{}, verified: map[[sha256.Size]byte]verifiedCredential{},
		failures: newLimiter(), now: time.Now, cacheKey: make([]byte, 32)}
	keep := cfg.AuditKeep
	if keep == 0 {
		keep = DefaultAuditKeep
	}
	g.recent = newAuditRing(keep)
	rand.Read(g.cacheKey)
	cost := bcrypt.MinCost
	for _, u := range cfg.Users {
		g.users[u.Name] = u
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil && c > cost {
			cost = c
		}
	}
	var err error
	if g.dummy, err = bcrypt.GenerateFromPassword([]byte("not a password"), cost); err != nil {
		return nil, err
	}
	if g.cfg.Audit == nil {
		g.cfg.Audit = slog.New(slog.DiscardHandler)
	}
	return g, nil
}

// Enabled reports whether requests must authenticate.
func (g *Guard) Enabled() bool { return len(g.users) > 0 }

// Wrap guards h, the handler of the API named api.
func (g *Guard) Wrap(api string, rule Rule, fail ErrorWriter, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.now()
		client := g.clientAddr(r)
		rec := &Recorder{ResponseWriter: w}
		who := "-"
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			g.audit(api, who, r, client, status, g.now().Sub(start))
		}()

		need := rule(r)
		if need == ScopeNone || !g.Enabled() {
			h.ServeHTTP(rec, r)
			return
		}
		if wait := g.failures.wait(client, g.now()); wait > 0 {
			rec.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			fail(rec, http.StatusTooManyRequests, "too many failed authentication attempts from "+client)
			return
		}
		p, err := g.authenticate(r)
		if err != nil {
			g.failures.fail(client, g.now())
			rec.Header().Add("WWW-Authenticate", `Basic realm="flotilla"`)
			rec.Header().Add("WWW-Authenticate", `Bearer realm="flotilla"`)
			fail(rec, http.StatusUnauthorized, "unauthorized: "+err.Error())
			return
		}
		who = p.User
		if p.TokenID != "" {
			who += " (token " + p.TokenID + ")"
		}
		if p.Scope < need {
			fail(rec, http.StatusForbidden, fmt.Sprintf("forbidden: %s %s needs scope %s, %s has %s", r.Method, r.URL.Path, need, p.User, p.Scope))
			return
		}
		h.ServeHTTP(rec, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// authenticate reads the request's credentials.
func (g *Guard) authenticate(r *http.Request) (Principal, error) {
	if user, pass, ok := r.BasicAuth(); ok {
		if g.cfg.Tokens != nil && looksLikeToken(pass) {
			// A token works as the password of its user: clients that
			// only speak Basic (docker login) can use tokens too.
			p, err := g.token(r.Context(), pass)
			if err == nil && p.User != user {
				err = fmt.Errorf("invalid token: it is %s's, not %s's", p.User, user)
			}
			return p, err
		}
		u, err := g.checkPassword(user, pass)
		if err != nil {
			return Principal{}, err
		}
		return Principal{User: u.Name, Scope: u.Scope}, nil
	}
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		if g.cfg.Tokens == nil {
			return Principal{}, errors.New("tokens are not accepted here")
		}
		return g.token(r.Context(), strings.TrimSpace(h[7:]))
	}
	if h != "" {
		return Principal{}, errors.New("unsupported authorization scheme (use Basic or Bearer)")
	}
	return Principal{}, errors.New("no credentials")
}

// token verifies a bearer token. A token outlives neither its user nor
// the user's scope.
func (g *Guard) token(ctx context.Context, raw string) (Principal, error) {
	p, err := g.cfg.Tokens.Verify(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	u, ok := g.users[p.User]
	if !ok {
		return Principal{}, errors.New("invalid token: its user no longer exists")
	}
	p.Scope = min(p.Scope, u.Scope)
	return p, nil
}

// looksLikeToken tells a JWT (three base64url parts, a JSON header first)
// from a password: passwords are never checked as tokens or the reverse.
func looksLikeToken(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2
}

// checkPassword verifies Basic credentials, from the cache when the same
// pair was verified recently. The cache is keyed by a keyed hash of the
// pair, so the process never keeps a password, and concurrent requests
// with one new pair share one bcrypt comparison.
func (g *Guard) checkPassword(user, pass string) (User, error) {
	mac := hmac.New(sha256.New, g.cacheKey)
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	var key [sha256.Size]byte
	mac.Sum(key[:0])

	now := g.now()
	g.mu.Lock()
	v, ok := g.verified[key]
	g.mu.Unlock()
	if ok && now.Before(v.expires) {
		return v.user, nil
	}
	res, err, _ := g.flight.Do(string(key[:]), func() (any, error) {
		u, known := g.users[user]
		hash := g.dummy
		if known {
			hash = []byte(u.PasswordHash)
		}
		if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !known {
			return nil, errors.New("wrong user or password")
		}
		g.mu.Lock()
		if len(g.verified) >= 4096 {
			clear(g.verified) // bounded; the next requests re-verify
		}
		g.verified[key] = verifiedCredential{user: u, expires: now.Add(credentialTTL)}
		g.mu.Unlock()
		return u, nil
	})
	if err != nil {
		return User{}, err
	}
	return res.(User), nil
}

// clientAddr is the request's client: the peer address, or, when that is
// a trusted proxy, the last address in X-Forwarded-For not itself trusted.
func (g *Guard) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !g.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !g.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (g *Guard) trusted(a netip.Addr) bool {
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// limiter counts failed attempts per client address.
type limiter struct {
	mu      sync.Mutex
	clients map[string]*rate.Limiter
	swept   time.Time
}

func newLimiter() *limiter { return &limiter{clients: map[string]*rate.Limiter{}} }

// wait is how long client must wait before its next attempt (0: now).
func (l *limiter) wait(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.clients[client]
	if lim == nil || lim.TokensAt(now) >= 1 {
		return 0
	}
	r := lim.ReserveN(now, 1)
	defer r.CancelAt(now)
	return max(r.DelayFrom(now), time.Second)
}

// fail records a failed attempt.
func (l *limiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		// Forget clients whose bucket has refilled: the map stays as
		// small as the set of recent offenders.
		for c, lim := range l.clients {
			if lim.TokensAt(now) >= failBurst {
				delete(l.clients, c)
			}
		}
		l.swept = now
	}
	lim := l.clients[client]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(failRate), failBurst)
		l.clients[client] = lim
	}
	lim.AllowN(now, 1)
}

// Recorder remembers the status of a response for its audit line (the
// guard's, and the console's for its own sessions); Unwrap lets handlers
// reach the real writer's Flush and trailers.
type Recorder struct {
	http.ResponseWriter
	status int
}

// Status is the status sent so far: 200 once a body was written without
// one, 0 before anything was.
func (r *Recorder) Status() int { return r.status }

func (r *Recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *Recorder) Flush() { http.NewResponseController(r.ResponseWriter).Flush() }

func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
