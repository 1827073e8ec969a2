package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// memRecords is an in-memory Records; lag hides writes from LocalRecord,
// as a follower that has not applied them yet would.
type memRecords struct {
	mu  sync.Mutex
	m   map[string][]byte
	lag bool
}

func (m *memRecords) PutRecord(_ context.Context, k string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[k] = bytes.Clone(v)
	return nil
}

func (m *memRecords) Record(_ context.Context, k string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[k]
	return v, ok, nil
}

func (m *memRecords) LocalRecord(k string) ([]byte, bool, error) {
	if m.lag {
		return nil, false, nil
	}
	return m.Record(context.Background(), k)
}

func (m *memRecords) Records(_ context.Context, prefix, after string, fn func(string, []byte) error) error {
	m.mu.Lock()
	var keys []string
	for k := range m.m {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		v, _, _ := m.Record(context.Background(), k)
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func quickHash(t testing.TB, pass string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

type fixture struct {
	guard   *Guard
	tokens  *Tokens
	records *memRecords
	handler http.Handler
	audit   *bytes.Buffer
}

func newFixture(t testing.TB) *fixture {
	rec := &memRecords{m: map[string][]byte{}}
	key, err := TokenKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := NewTokens(key, rec)
	audit := &bytes.Buffer{}
	g, err := NewGuard(Config{
		Users: []User{
			{Name: "admin", PasswordHash: quickHash(t, "root-pw"), Scope: ScopeAdmin},
			{Name: "reader", PasswordHash: quickHash(t, "read-pw"), Scope: ScopeRead},
		},
		Tokens:         tokens,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Audit:          slogJSON(audit),
	})
	if err != nil {
		t.Fatal(err)
	}
	rule := func(r *http.Request) Scope {
		switch {
		case r.URL.Path == "/health":
			return ScopeNone
		case r.Method == http.MethodGet:
			return ScopeRead
		}
		return ScopePin
	}
	fail := func(w http.ResponseWriter, status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"code": status, "message": msg})
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		w.Write([]byte(p.User + "/" + p.Scope.String()))
	})
	return &fixture{guard: g, tokens: tokens, records: rec, handler: g.Wrap("test", rule, fail, ok), audit: audit}
}

func (f *fixture) do(method, path, remote string, set func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote
	if set != nil {
		set(r)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func basic(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func TestBasicAuthAndScopes(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		method string
		path   string
		set    func(*http.Request)
		want   int
		body   string
	}{
		{"health needs nothing", "GET", "/health", nil, 200, "/"},
		{"no credentials", "GET", "/pins", nil, 401, "no credentials"},
		{"wrong password", "GET", "/pins", basic("admin", "nope"), 401, "wrong user or password"},
		{"unknown user", "GET", "/pins", basic("mallory", "root-pw"), 401, "wrong user or password"},
		{"empty password", "GET", "/pins", basic("admin", ""), 401, "wrong user or password"},
		{"other scheme", "GET", "/pins", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, 401, "unsupported"},
		{"admin reads", "GET", "/pins", basic("admin", "root-pw"), 200, "admin/admin"},
		{"admin pins", "POST", "/pins/x", basic("admin", "root-pw"), 200, "admin/admin"},
		{"reader reads", "GET", "/pins", basic("reader", "read-pw"), 200, "reader/read"},
		{"reader may not pin", "POST", "/pins/x", basic("reader", "read-pw"), 403, "needs scope pin"},
	}
	for i, c := range cases {
		// A distinct client each, so the rate limit stays out of it.
		w := f.do(c.method, c.path, "192.0.2."+string(rune('1'+i))+":1234", c.set)
		if w.Code != c.want || !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s: %d %q, want %d containing %q", c.name, w.Code, w.Body, c.want, c.body)
		}
		if w.Code == 401 && len(w.Header().Values("WWW-Authenticate")) != 2 {
			t.Errorf("%s: WWW-Authenticate = %q", c.name, w.Header().Values("WWW-Authenticate"))
		}
	}
	// The audit log names the user and the outcome, never the password.
	if log := f.audit.String(); !strings.Contains(log, `"user":"admin"`) || !strings.Contains(log, `"status":403`) || strings.Contains(log, "root-pw") {
		t.Errorf("audit log:\n%s", log)
	}
}

func TestFailedAttemptsAreRateLimitedPerClient(t *testing.T) {
	f := newFixture(t)
	now := time.Unix(1_800_000_000, 0)
	f.guard.now = func() time.Time { return now }
	for i := range failBurst {
		if w := f.do("GET", "/pins", "198.51.100.7:1", basic("admin", "guess")); w.Code != 401 {
			t.Fatalf("attempt %d: %d, want 401", i, w.Code)
		}
	}
	w := f.do("GET", "/pins", "198.51.100.7:2", basic("admin", "root-pw"))
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d (Retry-After %q), want 429 with Retry-After", failBurst, w.Code, w.Header().Get("Retry-After"))
	}
	// Another client is not affected.
	if w := f.do("GET", "/pins", "198.51.100.8:1", basic("admin", "root-pw")); w.Code != 200 {
		t.Fatalf("other client: %d, want 200", w.Code)
	}
	// Behind a trusted proxy, the forwarded client is the one limited.
	fwd := func(client string) func(*http.Request) {
		return func(r *http.Request) {
			r.SetBasicAuth("admin", "root-pw")
			r.Header.Set("X-Forwarded-For", "203.0.113.9, "+client+", 10.1.2.3")
		}
	}
	if w := f.do("GET", "/pins", "10.0.0.5:1", fwd("198.51.100.7")); w.Code != 429 {
		t.Fatalf("limited client through the proxy: %d, want 429", w.Code)
	}
	if w := f.do("GET", "/pins", "10.0.0.5:1", fwd("198.51.100.9")); w.Code != 200 {
		t.Fatalf("other client through the proxy: %d, want 200", w.Code)
	}
	// The bucket refills.
	now = now.Add(2 * time.Second)
	if w := f.do("GET", "/pins", "198.51.100.7:3", basic("admin", "root-pw")); w.Code != 200 {
		t.Fatalf("after waiting: %d, want 200", w.Code)
	}
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	info, tok, err := f.tokens.Issue(ctx, "admin", ScopePin, time.Hour, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if w := f.do("POST", "/pins/x", "192.0.2.1:1", bearer(tok)); w.Code != 200 || w.Body.String() != "admin/pin" {
		t.Fatalf("token: %d %q", w.Code, w.Body)
	}
	// A token a follower has not applied yet is found through the leader.
	f.records.lag = true
	if w := f.do("GET", "/pins", "192.0.2.1:1", bearer(tok)); w.Code != 200 {
		t.Fatalf("token unknown locally: %d %q", w.Code, w.Body)
	}
	f.records.lag = false

	// A token is also its user's password, for clients that speak only
	// Basic (docker login); another user's name with it fails.
	if w := f.do("POST", "/pins/x", "192.0.2.1:1", basic("admin", tok)); w.Code != 200 || w.Body.String() != "admin/pin" {
		t.Fatalf("token as the password: %d %q", w.Code, w.Body)
	}
	if w := f.do("GET", "/pins", "192.0.2.1:1", basic("reader", tok)); w.Code != 401 {
		t.Fatalf("admin's token as reader's password: %d, want 401", w.Code)
	}

	// A reader's token never exceeds the reader's scope, whatever it says.
	_, readerTok, err := f.tokens.Issue(ctx, "reader", ScopeAdmin, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if w := f.do("POST", "/pins/x", "192.0.2.2:1", bearer(readerTok)); w.Code != 403 {
		t.Fatalf("reader's admin token pinning: %d, want 403", w.Code)
	}

	// Tampered, foreign-keyed, expired and unknown-user tokens fail.
	parts := strings.Split(tok, ".")
	claims := parts[1]
	tampered := parts[0] + "." + claims[:len(claims)-2] + "AA" + "." + parts[2]
	otherKey, _ := TokenKey([]byte("another cluster's secret, 32 byt"))
	_, foreign, _ := NewTokens(otherKey, f.records).Issue(ctx, "admin", ScopeAdmin, time.Hour, "")
	expiring := NewTokens(f.tokens.key, f.records)
	expiring.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	_, expired, _ := expiring.Issue(ctx, "admin", ScopeAdmin, time.Hour, "")
	_, ghost, _ := f.tokens.Issue(ctx, "ghost", ScopeAdmin, time.Hour, "")
	for name, bad := range map[string]string{"tampered": tampered, "foreign key": foreign, "expired": expired, "garbage": "abc", "deleted user": ghost} {
		if w := f.do("GET", "/pins", "192.0.2.3:1", bearer(bad)); w.Code != 401 {
			t.Errorf("%s token: %d, want 401", name, w.Code)
		}
	}

	// Revocation is seen by the next request.
	if _, err := f.tokens.Revoke(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if w := f.do("GET", "/pins", "192.0.2.4:1", bearer(tok)); w.Code != 401 || !strings.Contains(w.Body.String(), "revoked") {
		t.Fatalf("revoked token: %d %q", w.Code, w.Body)
	}
	if _, err := f.tokens.Revoke(ctx, "nope"); err == nil {
		t.Fatal("revoking an unknown token succeeded")
	}
	var listed []TokenInfo
	f.tokens.List(ctx, func(i TokenInfo) error { listed = append(listed, i); return nil })
	if len(listed) != 5 || !slices.ContainsFunc(listed, func(i TokenInfo) bool { return i.ID == info.ID && i.Revoked && i.Name == "ci" }) {
		t.Fatalf("listed %+v", listed)
	}
	if _, _, err := f.tokens.Issue(ctx, "admin", ScopeRead, 2*MaxTokenTTL, ""); err == nil {
		t.Fatal("a token beyond the maximum lifetime was issued")
	}
}

func TestOpenGuardLetsEveryoneIn(t *testing.T) {
	g, err := NewGuard(Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap("t", func(*http.Request) Scope { return ScopeAdmin }, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); ok {
			t.Error("principal set with auth off")
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/x", nil))
	if w.Code != 200 {
		t.Fatalf("open guard: %d", w.Code)
	}
}

func TestUsersFileAndBootstrap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.json")
	pw, err := Bootstrap(path)
	if err != nil || len(pw) < 20 {
		t.Fatalf("Bootstrap = %q, %v", pw, err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), pw) {
		t.Fatal("the generated password is stored in clear")
	}
	users, err := LoadUsers(path)
	if err != nil || len(users) != 1 || users[0].Scope != ScopeAdmin || bcrypt.CompareHashAndPassword([]byte(users[0].PasswordHash), []byte(pw)) != nil {
		t.Fatalf("LoadUsers = %+v, %v", users, err)
	}
	if again, err := Bootstrap(path); again != "" || err != nil {
		t.Fatalf("second Bootstrap = %q, %v; want nothing new", again, err)
	}
	for name, body := range map[string]string{
		"plaintext": `{"users":[{"name":"a","password_hash":"secret","scope":"admin"}]}`,
		"no scope":  `{"users":[{"name":"a","password_hash":"` + quickHash(t, "x") + `"}]}`,
		"bad scope": `{"users":[{"name":"a","password_hash":"` + quickHash(t, "x") + `","scope":"root"}]}`,
		"twice":     `{"users":[{"name":"a","password_hash":"` + quickHash(t, "x") + `","scope":"read"},{"name":"a","password_hash":"` + quickHash(t, "x") + `","scope":"read"}]}`,
		"not json":  `users: a`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := LoadUsers(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// BenchmarkBasicAuthCached is the cost of an authenticated request once
// its credentials were verified: the target is well under a millisecond
// (a bcrypt comparison at cost 12 takes hundreds).
func BenchmarkBasicAuthCached(b *testing.B) {
	f := newFixture(b)
	h, _ := HashPassword("root-pw")
	f.guard.users["admin"] = User{Name: "admin", PasswordHash: h, Scope: ScopeAdmin}
	f.guard.cfg.Audit = slogJSON(nopWriter{})
	r := httptest.NewRequest("GET", "/pins", nil)
	r.SetBasicAuth("admin", "root-pw")
	f.handler.ServeHTTP(httptest.NewRecorder(), r)
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkBasicAuthUncached is one bcrypt comparison at HashCost.
func BenchmarkBasicAuthUncached(b *testing.B) {
	h, _ := HashPassword("root-pw")
	for b.Loop() {
		bcrypt.CompareHashAndPassword([]byte(h), []byte("root-pw"))
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func slogJSON(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// FuzzAuthorization: no Authorization header, however malformed, panics
// the guard or gets through it.
func FuzzAuthorization(f *testing.F) {
	fx := newFixture(f)
	_, tok, err := fx.tokens.Issue(context.Background(), "admin", ScopeAdmin, time.Hour, "")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", "Basic YWRtaW46d3Jvbmc=", "Basic !!!", "Bearer ", "Bearer " + tok[:len(tok)-1],
		"bearer " + tok + "x", "Bearer a.b.c", "Basic " + strings.Repeat("A", 300), "Digest username=admin"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		w := fx.do("GET", "/pins", "192.0.2.200:1", func(r *http.Request) { r.Header["Authorization"] = []string{header} })
		if w.Code == 200 {
			t.Fatalf("header %q got through", header)
		}
		fx.guard.failures = newLimiter() // keep the rate limit out of it
	})
}
