package console

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// fakeCluster is a pinset in memory, in CID-byte order, on three peers in
// three zones that report every allocated pin pinned.
type fakeCluster struct {
	mu      sync.Mutex
	pins    map[string]pin.Pin // by CID bytes
	members []member.Member
	listed  int // ListFrom calls (searches that asked no peer)
	moved   int // RecentMoves' count
	movedAt time.Time
}

func newFakeCluster() *fakeCluster {
	now := time.Now()
	return &fakeCluster{pins: map[string]pin.Pin{}, members: []member.Member{
		{ID: "12D3KooWPeerA", Name: "a", Zone: "z1", LastSeen: now, FreeSpace: 1 << 30, Held: 11},
		{ID: "12D3KooWPeerB", Name: "b", Zone: "z2", LastSeen: now, FreeSpace: 2 << 30, Held: 22},
		{ID: "12D3KooWPeerC", Name: "c", Zone: "z3", LastSeen: now.Add(-time.Minute), FreeSpace: 3 << 30, Held: 33},
	}}
}

func (f *fakeCluster) ID() string     { return "12D3KooWPeerA" }
func (f *fakeCluster) Leader() string { return "12D3KooWPeerA" }
func (f *fakeCluster) Voters() ([]string, error) {
	return []string{"12D3KooWPeerA", "12D3KooWPeerB", "12D3KooWPeerC"}, nil
}
func (f *fakeCluster) Members(context.Context) ([]member.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members), nil
}
func (f *fakeCluster) Liveness(ctx context.Context) ([]member.Member, error) { return f.Members(ctx) }
func (f *fakeCluster) RecentMoves() (int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.moved, f.movedAt
}

func (f *fakeCluster) Get(_ context.Context, c cid.Cid) (pin.Pin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pins[string(c.Bytes())]
	if !ok {
		return pin.Pin{}, fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	return p, nil
}

func (f *fakeCluster) info(p pin.Pin) pin.Info {
	info := pin.Info{Pin: p}
	for _, m := range f.members {
		st := pin.StatusRemote
		if p.AllocatedTo(m.ID) {
			st = pin.StatusPinned
		}
		info.Peers = append(info.Peers, pin.PeerStatus{Peer: m.ID, Status: st})
	}
	return info
}

func (f *fakeCluster) Status(ctx context.Context, c cid.Cid) (pin.Info, error) {
	p, err := f.Get(ctx, c)
	if err != nil {
		return pin.Info{}, err
	}
	return f.info(p), nil
}

func (f *fakeCluster) StatusFrom(ctx context.Context, after cid.Cid, fn func(pin.Info) error) error {
	f.mu.Lock()
	var keys []string
	for k := range f.pins {
		if !after.Defined() || k > string(after.Bytes()) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var infos []pin.Info
	for _, k := range keys {
		infos = append(infos, f.info(f.pins[k]))
	}
	f.mu.Unlock()
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeCluster) ListFrom(ctx context.Context, after cid.Cid, fn func(pin.Pin) error) error {
	f.mu.Lock()
	f.listed++
	f.mu.Unlock()
	return f.StatusFrom(ctx, after, func(info pin.Info) error { return fn(info.Pin) })
}

func (f *fakeCluster) Pin(_ context.Context, p pin.Pin) (pin.Pin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p = p.WithDefaults(2, 3, 3)
	p.Allocations = []string{"12D3KooWPeerA", "12D3KooWPeerB", "12D3KooWPeerC"}
	f.pins[string(p.Cid.Bytes())] = p
	return p, nil
}

func (f *fakeCluster) Unpin(_ context.Context, c cid.Cid) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pins[string(c.Bytes())]; !ok {
		return pin.ErrNotFound
	}
	delete(f.pins, string(c.Bytes()))
	return nil
}

func (f *fakeCluster) Recover(ctx context.Context, c cid.Cid) (pin.Info, error) {
	return f.Status(ctx, c)
}

// memRecords keeps the tokens' records in memory.
type memRecords struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (r *memRecords) PutRecord(_ context.Context, k string, v []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[k] = v
	return nil
}
func (r *memRecords) Record(_ context.Context, k string) ([]byte, bool, error) {
	return r.LocalRecord(k)
}
func (r *memRecords) LocalRecord(k string) ([]byte, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[k]
	return v, ok, nil
}
func (r *memRecords) Records(_ context.Context, prefix, after string, fn func(string, []byte) error) error {
	r.mu.Lock()
	var keys []string
	for k := range r.m {
		if strings.HasPrefix(k, prefix) && k > prefix+after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = r.m[k]
	}
	r.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func cidOf(s string) cid.Cid {
	h, _ := mh.Sum([]byte(s), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

type fixture struct {
	srv     *httptest.Server
	cluster *fakeCluster
	tokens  *auth.Tokens
}

// newFixture serves a console over a fake cluster with the real guard and
// tokens; users maps a name to its password and scope (none: open).
func newFixture(t *testing.T, cfg Config, users map[string][2]string, tls bool) *fixture {
	t.Helper()
	var us []auth.User
	for name, v := range users {
		h, _ := bcrypt.GenerateFromPassword([]byte(v[0]), bcrypt.MinCost)
		sc, err := auth.ParseScope(v[1])
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, auth.User{Name: name, PasswordHash: string(h), Scope: sc})
	}
	tokens := auth.NewTokens(bytes.Repeat([]byte("k"), 32), &memRecords{m: map[string][]byte{}})
	guard, err := auth.NewGuard(auth.Config{Users: us, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	fc := newFakeCluster()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The REST API's /add as the console hands it over: the path,
		// the options and the principal.
		p, _ := auth.FromContext(r.Context())
		fmt.Fprintf(w, `{"name":"x","cid":"bafkqaaa","path":%q,"query":%q,"user":%q}`+"\n", r.URL.Path, r.URL.RawQuery, p.User)
	})
	h, err := New(cfg, Deps{Cluster: fc, Auth: guard, Tokens: tokens, API: api, Key: []byte("0123456789abcdef0123456789abcdef"),
		Version: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix, h)
	f := &fixture{cluster: fc, tokens: tokens}
	if tls {
		f.srv = httptest.NewTLSServer(mux)
	} else {
		f.srv = httptest.NewServer(mux)
	}
	t.Cleanup(f.srv.Close)
	return f
}

// client is a browser without JavaScript: cookies, no redirects followed.
func (f *fixture) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *f.srv.Client() // a copy: each browser its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string, http.Header) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var csrfRE = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

// csrfOf reads the page's CSRF token.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page: %.300s", page)
	}
	return html.UnescapeString(m[1])
}

// login logs c in and returns the CSRF token of its session.
func (f *fixture) login(t *testing.T, c *http.Client, user, password string) string {
	t.Helper()
	_, page, _ := get(t, c, f.srv.URL+"/ui/login")
	code, _, hd := post(t, c, f.srv.URL+"/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "user": {user}, "password": {password}, "next": {"/ui/pins"}})
	if code != http.StatusSeeOther || hd.Get("Location") != "/ui/pins" {
		t.Fatalf("login(%q) = %d to %q, want 303 to /ui/pins", user, code, hd.Get("Location"))
	}
	_, page, _ = get(t, c, f.srv.URL+"/ui/")
	return csrfOf(t, page)
}

func TestLoginSetsAStrictSessionCookie(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			f := newFixture(t, Config{}, map[string][2]string{"ada": {"secret pass", "admin"}}, tls)
			c := f.client(t)
			code, _, hd := get(t, c, f.srv.URL+"/ui/pins?q=x")
			if code != http.StatusSeeOther || hd.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/pins?q=x") {
				t.Fatalf("GET /ui/pins without a session = %d to %q, want 303 to the login form", code, hd.Get("Location"))
			}
			_, page, _ := get(t, c, f.srv.URL+"/ui/login")
			token := csrfOf(t, page)

			// No CSRF token, a wrong password: refused, no session.
			if code, _, _ := post(t, c, f.srv.URL+"/ui/login", url.Values{"user": {"ada"}, "password": {"secret pass"}}); code != http.StatusForbidden {
				t.Errorf("login without CSRF token = %d, want 403", code)
			}
			if code, body, _ := post(t, c, f.srv.URL+"/ui/login", url.Values{"csrf": {token}, "user": {"ada"}, "password": {"wrong"}}); code != http.StatusUnauthorized || !strings.Contains(body, "Wrong user or password") {
				t.Errorf("login with a wrong password = %d, want 401 and the message", code)
			}

			resp, err := c.PostForm(f.srv.URL+"/ui/login", url.Values{"csrf": {token}, "user": {"ada"}, "password": {"secret pass"}, "next": {"//evil.example/"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
				t.Fatalf("login = %d to %q, want 303 to /ui/ (an outside next is ignored)", resp.StatusCode, resp.Header.Get("Location"))
			}
			var session *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == sessionCookie {
					session = ck
				}
			}
			if session == nil {
				t.Fatal("no session cookie after login")
			}
			if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure != tls || session.Path != Prefix {
				t.Errorf("session cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q, want true, Strict, %v, %q",
					session.HttpOnly, session.SameSite, session.Secure, session.Path, tls, Prefix)
			}
			// The session is a token of the user's scope, listed and
			// short-lived.
			var infos []auth.TokenInfo
			f.tokens.List(context.Background(), func(i auth.TokenInfo) error { infos = append(infos, i); return nil })
			if len(infos) != 1 || infos[0].User != "ada" || infos[0].Scope != auth.ScopeAdmin || infos[0].Name != sessionName ||
				infos[0].Expires.Sub(infos[0].Created) != DefaultSessionTTL {
				t.Errorf("tokens after login = %+v, want one admin session of ada lasting %s", infos, DefaultSessionTTL)
			}
			if code, page, _ := get(t, c, f.srv.URL+"/ui/"); code != http.StatusOK || !strings.Contains(page, "Degraded: 2 of 3 peers up") {
				t.Errorf("GET /ui/ with the session = %d, want 200 with the health line: %.400s", code, page)
			}
		})
	}
}

func TestEveryPageHasAStrictPolicy(t *testing.T) {
	f := newFixture(t, Config{}, nil, false) // open: no login
	c := f.client(t)
	f.cluster.Pin(context.Background(), pin.Pin{Cid: cidOf("a"), Name: "a"})
	for _, path := range []string{"/ui/", "/ui/pins", "/ui/pins/" + cidOf("a").String(), "/ui/add", "/ui/access", "/ui/nothing", "/ui/static/console.js"} {
		code, body, hd := get(t, c, f.srv.URL+path)
		if path != "/ui/nothing" && code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200: %.300s", path, code, body)
		}
		if got := hd.Get("Content-Security-Policy"); got != csp {
			t.Errorf("GET %s: Content-Security-Policy = %q, want %q", path, got, csp)
		}
		if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: nosniff/frame headers missing: %v", path, hd)
		}
		// No inline script or style anywhere: the policy would block it.
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "<style") || strings.Contains(body, " onclick=") {
			t.Errorf("GET %s has inline script or style", path)
		}
	}
}

func TestMutationsNeedTheCSRFTokenAndTheScope(t *testing.T) {
	f := newFixture(t, Config{}, map[string][2]string{"ada": {"pw-ada", "admin"}, "rita": {"pw-rita", "read"}}, false)
	c := f.client(t)
	token := f.login(t, c, "ada", "pw-ada")
	target := cidOf("keep me")
	f.cluster.Pin(context.Background(), pin.Pin{Cid: target})
	unpin := f.srv.URL + "/ui/pins/" + target.String() + "/unpin"

	for name, form := range map[string]url.Values{
		"no token":    {"confirmed": {"yes"}},
		"wrong token": {"confirmed": {"yes"}, "csrf": {"AAAA" + token[4:]}},
	} {
		if code, _, _ := post(t, c, unpin, form); code != http.StatusForbidden {
			t.Errorf("unpin with %s = %d, want 403", name, code)
		}
	}
	// Another browser's token is no good either.
	other := f.client(t)
	f.login(t, other, "ada", "pw-ada")
	if code, _, _ := post(t, other, unpin, url.Values{"confirmed": {"yes"}, "csrf": {token}}); code != http.StatusForbidden {
		t.Errorf("unpin with another session's token = %d, want 403", code)
	}
	// A cross-site form post is refused before anything runs.
	req, _ := http.NewRequest(http.MethodPost, unpin, strings.NewReader(url.Values{"confirmed": {"yes"}, "csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site unpin = %v %v, want 403", resp.StatusCode, err)
	}
	if _, err := f.cluster.Get(context.Background(), target); err != nil {
		t.Fatalf("the pin is gone after refused unpins: %v", err)
	}

	// Without confirmation: a confirmation page, nothing done.
	code, page, _ := post(t, c, unpin, url.Values{"csrf": {token}})
	if code != http.StatusOK || !strings.Contains(page, `id="confirm-question"`) {
		t.Fatalf("unpin without confirmation = %d, want the confirmation page: %s", code, page)
	}
	if _, err := f.cluster.Get(context.Background(), target); err != nil {
		t.Fatalf("the pin is gone before confirmation: %v", err)
	}
	// A reader may not unpin, even with a good token.
	reader := f.client(t)
	rtoken := f.login(t, reader, "rita", "pw-rita")
	if code, _, _ := post(t, reader, unpin, url.Values{"confirmed": {"yes"}, "csrf": {rtoken}}); code != http.StatusForbidden {
		t.Errorf("unpin by a reader = %d, want 403", code)
	}
	if code, _, hd := post(t, c, unpin, url.Values{"confirmed": {"yes"}, "csrf": {token}}); code != http.StatusSeeOther || hd.Get("Location") != "/ui/pins" {
		t.Errorf("confirmed unpin = %d to %q, want 303 to /ui/pins", code, hd.Get("Location"))
	}
	if _, err := f.cluster.Get(context.Background(), target); err == nil {
		t.Error("the pin is still there after a confirmed unpin")
	}
}

func TestRevokedSessionIsRefused(t *testing.T) {
	f := newFixture(t, Config{}, map[string][2]string{"ada": {"pw", "pin"}}, false)
	c := f.client(t)
	f.login(t, c, "ada", "pw")
	var id string
	f.tokens.List(context.Background(), func(i auth.TokenInfo) error { id = i.ID; return nil })
	if _, err := f.tokens.Revoke(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if code, _, hd := get(t, c, f.srv.URL+"/ui/"); code != http.StatusSeeOther || !strings.HasPrefix(hd.Get("Location"), "/ui/login") {
		t.Errorf("page after revocation = %d to %q, want 303 to the login form", code, hd.Get("Location"))
	}
	if code, _, _ := get(t, c, f.srv.URL+"/ui/?part=live"); code != http.StatusUnauthorized {
		t.Errorf("live part after revocation = %d, want 401", code)
	}
}

// Hostile names, metadata and peer names are text, whatever they hold.
func TestHostileNamesAreEscaped(t *testing.T) {
	f := newFixture(t, Config{}, nil, false)
	c := f.client(t)
	long := strings.Repeat("<b>&\"'", 4096/8)
	hostile := []string{
		`<script>alert("pwned")</script>`,
		`"><img src=x onerror=alert(1)>`,
		"'; alert(1); //",
		"\u202egnp.exe\u202c and \u200f RTL marks",
		long,
	}
	for i, name := range hostile {
		f.cluster.Pin(context.Background(), pin.Pin{Cid: cidOf(name), Name: name, Metadata: map[string]string{"k<script>": name}})
		f.cluster.members[i%3].Name = name
	}
	pages := []string{"/ui/", "/ui/?part=live", "/ui/pins", "/ui/pins?part=rows", "/ui/pins?q=" + url.QueryEscape(hostile[0])}
	for _, name := range hostile {
		pages = append(pages, "/ui/pins/"+cidOf(name).String())
	}
	for _, p := range pages {
		code, body, _ := get(t, c, f.srv.URL+p)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d", p, code)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", "<b>&"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s contains %q unescaped", p, bad)
			}
		}
	}
	_, body, _ := get(t, c, f.srv.URL+"/ui/pins/"+cidOf(long).String())
	if !strings.Contains(body, template4k(long)) {
		t.Error("the 4 KiB name is not shown whole, escaped")
	}
	_, body, _ = get(t, c, f.srv.URL+"/ui/pins/"+cidOf(hostile[3]).String())
	if !strings.Contains(body, "\u202egnp.exe\u202c") {
		t.Error("the RTL name is not shown as it is")
	}
}

// template4k is how html/template writes s in text.
func template4k(s string) string {
	r := strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;", `"`, "&#34;", "'", "&#39;")
	return r.Replace(s)
}

var rowRE = regexp.MustCompile(`<tr data-cid="([^"]+)">`)
var nextRE = regexp.MustCompile(`href="([^"]+)" rel="next"`)

func TestPinsArePagedByCursor(t *testing.T) {
	f := newFixture(t, Config{PageSize: 50, ScanBudget: 30}, nil, false)
	c := f.client(t)
	var want []string
	for i := range 120 {
		p, _ := f.cluster.Pin(context.Background(), pin.Pin{Cid: cidOf(fmt.Sprint(i)), Name: fmt.Sprintf("pin-%d", i)})
		want = append(want, string(p.Cid.Bytes()))
	}
	sort.Strings(want)
	var got []string
	u := f.srv.URL + "/ui/pins"
	pages := 0
	for u != "" {
		_, body, _ := get(t, c, u)
		pages++
		rows := rowRE.FindAllStringSubmatch(body, -1)
		if len(rows) > 50 {
			t.Fatalf("page %d has %d rows, want at most 50", pages, len(rows))
		}
		for _, m := range rows {
			c, _ := cid.Decode(m[1])
			got = append(got, string(c.Bytes()))
		}
		u = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			u = f.srv.URL + html.UnescapeString(m[1])
		}
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("paging read %d pins in %d pages, want all 120 in CID order in 3", len(got), pages)
	}

	// A search reads at most the budget, then offers to go on.
	target := cidOf("77")
	var rank int
	for i, k := range want {
		if k == string(target.Bytes()) {
			rank = i
		}
	}
	u = f.srv.URL + "/ui/pins?q=pin-77"
	for hops := 0; ; hops++ {
		_, body, _ := get(t, c, u)
		if rows := rowRE.FindAllStringSubmatch(body, -1); len(rows) == 1 && rows[0][1] == target.String() {
			if wantHops := rank / 30; hops != wantHops {
				t.Errorf("found pin-77 (rank %d) after %d continuations, want %d at 30 pins a request", rank, hops, wantHops)
			}
			break
		}
		m := nextRE.FindStringSubmatch(body)
		if m == nil || hops > 5 {
			t.Fatalf("search for pin-77 ended without finding it (hop %d)", hops)
		}
		u = f.srv.URL + html.UnescapeString(m[1])
	}
	if f.cluster.listed == 0 {
		t.Error("the search read statuses of every pin it scanned, want this peer's copy of the pinset")
	}
	// A whole CID is looked up.
	_, body, _ := get(t, c, f.srv.URL+"/ui/pins?q="+target.String())
	if rows := rowRE.FindAllStringSubmatch(body, -1); len(rows) != 1 || rows[0][1] != target.String() {
		t.Errorf("search by CID = %v, want that pin alone", rows)
	}
}

func TestAddGoesToTheRESTAPIWithThePrincipal(t *testing.T) {
	f := newFixture(t, Config{}, map[string][2]string{"ada": {"pw", "pin"}}, false)
	c := f.client(t)
	token := f.login(t, c, "ada", "pw")
	send := func(csrf string) (int, string) {
		var buf bytes.Buffer
		buf.WriteString("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B--\r\n")
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/ui/api/add?replication-min=3&replication-max=3&chunker=evil", &buf)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
		if csrf != "" {
			req.Header.Set(csrfHeader, csrf)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := send(""); code != http.StatusForbidden {
		t.Errorf("upload without CSRF header = %d, want 403", code)
	}
	code, body := send(token)
	if code != http.StatusOK || !strings.Contains(body, `"path":"/add"`) || !strings.Contains(body, `"user":"ada"`) ||
		!strings.Contains(body, `"query":"replication-max=3&replication-min=3"`) {
		t.Errorf("upload = %d %s, want /add with the options it allows and ada's principal", code, body)
	}
}

func TestOpenConsoleNeedsNoLoginButStillCSRF(t *testing.T) {
	f := newFixture(t, Config{}, nil, false)
	c := f.client(t)
	code, page, _ := get(t, c, f.srv.URL+"/ui/")
	if code != http.StatusOK || !strings.Contains(page, "open (no login)") {
		t.Fatalf("open console = %d, want 200 saying it is open", code)
	}
	if code, _, hd := get(t, c, f.srv.URL+"/ui/login"); code != http.StatusSeeOther || hd.Get("Location") != Prefix {
		t.Errorf("login page of an open console = %d to %q, want 303 to %s", code, hd.Get("Location"), Prefix)
	}
	form := url.Values{"cid": {cidOf("new").String()}, "confirmed": {"yes"}}
	if code, _, _ := post(t, c, f.srv.URL+"/ui/pins", form); code != http.StatusForbidden {
		t.Errorf("pin without CSRF token on an open console = %d, want 403", code)
	}
	form.Set("csrf", csrfOf(t, page))
	if code, _, hd := post(t, c, f.srv.URL+"/ui/pins", form); code != http.StatusSeeOther || hd.Get("Location") != "/ui/pins/"+cidOf("new").String() {
		t.Errorf("pin with the token = %d to %q, want 303 to its page", code, hd.Get("Location"))
	}
	if _, err := f.cluster.Get(context.Background(), cidOf("new")); err != nil {
		t.Errorf("the pin was not made: %v", err)
	}
}

func TestRatesFromCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flotilla_http_requests_total", ConstLabels: prometheus.Labels{"service": "gateway"}}, []string{"code"})
	ops := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flotilla_state_ops_total"}, []string{"op"})
	reg.MustRegister(req, ops)
	s := &server{rates: newRates(reg)}
	t0 := time.Unix(1_000_000, 0)
	for i, n := range []float64{0, 10, 30} {
		req.WithLabelValues("200").Add(n)
		ops.WithLabelValues("pin").Add(n)
		ops.WithLabelValues("unpin").Add(n / 10)
		ops.WithLabelValues("move").Add(1000) // moves are not pins/s
		if _, err := s.rates.sample(t0.Add(time.Duration(i) * 2 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Within sampleEvery of the last sample: no new sample.
	got, _ := s.rates.sample(t0.Add(4*time.Second + time.Second))
	if len(got) != 3 {
		t.Fatalf("%d samples, want 3", len(got))
	}
	rec := httptest.NewRecorder()
	s.now = func() time.Time { return t0.Add(5 * time.Second) }
	if err := s.ratesJSON(rec, httptest.NewRequest("GET", "/ui/api/rates", nil), nil); err != nil {
		t.Fatal(err)
	}
	// Gateway requests: 10 then 30 over 2 s each; the S3 and bytes
	// counters do not exist here, so their series are left out.
	body := rec.Body.String()
	want := `{"name":"Gateway requests","unit":"req/s","points":[5,15]}`
	if !strings.Contains(body, want) || strings.Contains(body, "S3") || strings.Contains(body, "Gateway bytes") {
		t.Errorf("rates = %s, want %s and no S3 or bytes series", body, want)
	}
	// Pins and unpins applied by the state machine: 11 then 33 over 2 s.
	if want := `{"name":"Pins and unpins (cluster)","unit":"pins/s","points":[5.5,16.5]}`; !strings.Contains(body, want) {
		t.Errorf("rates = %s, want %s", body, want)
	}
}

func TestGatewayLinkFollowsTheBrowsersHost(t *testing.T) {
	for _, tc := range []struct{ gw, host, want string }{
		{"http://127.0.0.1:8080", "127.0.0.1:9094", "http://127.0.0.1:8080"},
		{"http://0.0.0.0:8080", "node1.example:9094", "http://node1.example:8080"},
		{"http://[::]:8080", "[2001:db8::1]:9094", "http://[2001:db8::1]:8080"},
		{"", "x:1", ""},
	} {
		s := &server{Deps: Deps{GatewayURL: tc.gw}}
		r := httptest.NewRequest("GET", "/ui/pins/x", nil)
		r.Host = tc.host
		if got := s.gatewayBase(r); got != tc.want {
			t.Errorf("gatewayBase(%q, host %q) = %q, want %q", tc.gw, tc.host, got, tc.want)
		}
	}
}

func TestStatusFilters(t *testing.T) {
	f := newFixture(t, Config{}, nil, false)
	c := f.client(t)
	ok, _ := f.cluster.Pin(context.Background(), pin.Pin{Cid: cidOf("whole"), Name: "whole"})
	under := pin.Pin{Cid: cidOf("short"), Name: "short", Mode: pin.Recursive, ReplicationMin: 2, ReplicationMax: 3, Allocations: []string{"12D3KooWPeerA"}}
	f.cluster.mu.Lock()
	f.cluster.pins[string(under.Cid.Bytes())] = under
	f.cluster.mu.Unlock()
	for filter, want := range map[string][]string{
		"":       {ok.Cid.String(), under.Cid.String()},
		"under":  {under.Cid.String()},
		"pinned": {ok.Cid.String(), under.Cid.String()},
		"error":  nil,
	} {
		_, body, _ := get(t, c, f.srv.URL+"/ui/pins?status="+filter)
		var got []string
		for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("status=%q lists %v, want %v", filter, got, want)
		}
	}
	if code, _, _ := get(t, c, f.srv.URL+"/ui/pins?status=bogus"); code != http.StatusBadRequest {
		t.Errorf("an unknown filter = %d, want 400", code)
	}
}

func TestOverviewShowsPeersByZone(t *testing.T) {
	f := newFixture(t, Config{}, nil, false)
	_, body, _ := get(t, f.client(t), f.srv.URL+"/ui/?part=live")
	for _, want := range []string{
		`data-zone="z1"`, `data-zone="z2"`, `data-zone="z3"`,
		`<dd class="held">11</dd>`, `<dd class="held">22</dd>`, `<dd class="held">33</dd>`,
		"Degraded: 2 of 3 peers up", "1.0 GiB",
		// The pins it held are the under-replicated ones, counted from
		// its last report.
		`Peer c (zone z3) is down: last seen 1m ago. 33 pins held there are a replica short until it returns or is repaired. <a href="/ui/pins?status=under">Under-replicated pins</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if n := strings.Count(body, `<span class="badge">leader</span>`); n != 1 {
		t.Errorf("%d leaders shown, want 1", n)
	}
	if n := strings.Count(body, `<span class="state err">down</span>`); n != 1 {
		t.Errorf("%d peers shown down, want 1", n)
	}
}

// Every peer's version and pins in error come from its heartbeats (the
// leader's view); pins in error and recent moves raise alerts with links,
// without the pinset being read.
func TestOverviewAlertsErrorsRepairAndVersions(t *testing.T) {
	f := newFixture(t, Config{}, nil, false)
	c := f.client(t)
	f.cluster.mu.Lock()
	f.cluster.members[0].Version = "v0.0.0-reported" // this peer: its own version wins
	f.cluster.members[1].Version, f.cluster.members[1].Errors = "v1.2.3", 7
	f.cluster.members[2].Version = "v1.2.2"
	f.cluster.mu.Unlock()
	_, body, _ := get(t, c, f.srv.URL+"/ui/?part=live")
	for _, want := range []string{
		"<dt>Version</dt><dd>test</dd>", "<dt>Version</dt><dd>v1.2.3</dd>", "<dt>Version</dt><dd>v1.2.2</dd>",
		`7 pins in error on b. <a href="/ui/pins?status=error">Pins in error</a>`,
		`<dd class="errors"><a href="/ui/pins?status=error">7</a></dd>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if strings.Contains(body, "Repair in progress") || strings.Contains(body, "v0.0.0-reported") {
		t.Errorf("overview shows a repair with no pin moved, or this peer's reported version over its own:\n%s", body)
	}
	if f.cluster.listed != 0 {
		t.Errorf("the overview listed the pinset %d times", f.cluster.listed)
	}

	f.cluster.mu.Lock()
	f.cluster.moved, f.cluster.movedAt = 12, time.Now().Add(-3*time.Second)
	f.cluster.members[1].Errors = 1
	f.cluster.mu.Unlock()
	_, body, _ = get(t, c, f.srv.URL+"/ui/?part=live")
	for _, want := range []string{
		"Repair in progress: 12 pins moved in the last minute (last 3s ago).",
		"1 pin in error on b.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
}

// An admin's Access page lists this peer's audit log, newest first, with
// hostile paths as text; a reader's does not.
func TestAccessShowsTheAuditLogToAdmins(t *testing.T) {
	f := newFixture(t, Config{}, map[string][2]string{"ada": {"pw-ada", "admin"}, "rita": {"pw-rita", "read"}}, false)
	c := f.client(t)
	token := f.login(t, c, "ada", "pw-ada")
	hostile := `<img src=x onerror=alert(1)>`
	if code, _, _ := post(t, c, f.srv.URL+"/ui/pins/"+url.PathEscape(hostile)+"/unpin", url.Values{"csrf": {token}, "confirmed": {"yes"}}); code != http.StatusBadRequest {
		t.Fatalf("unpin of a hostile CID = %d, want 400", code)
	}
	code, page, _ := get(t, c, f.srv.URL+"/ui/access")
	if code != http.StatusOK {
		t.Fatalf("access page = %d", code)
	}
	if strings.Contains(page, hostile) {
		t.Fatal("a hostile path is in the audit log unescaped")
	}
	rows := regexp.MustCompile(`(?s)<table id="audit">.*?</table>`).FindString(page)
	unpin := strings.Index(rows, "<code>POST /ui/pins/"+html.EscapeString(hostile)+"/unpin</code></td><td>400</td>")
	login := strings.Index(rows, "<code>POST /ui/login</code></td><td>303</td>")
	if unpin < 0 || login < 0 || unpin > login {
		t.Errorf("audit log lacks the unpin (400) before the login (303), newest first:\n%s", rows)
	}
	if !strings.Contains(page, "(this peer&#39;s)") && !strings.Contains(page, "(this peer's)") || !strings.Contains(rows, "ada (token ") {
		t.Error("the audit log does not say it is this peer's, or lacks the session's user and token")
	}

	reader := f.client(t)
	f.login(t, reader, "rita", "pw-rita")
	if _, page, _ := get(t, reader, f.srv.URL+"/ui/access"); strings.Contains(page, `id="audit"`) || strings.Contains(page, "Audit log") {
		t.Error("a reader sees the audit log")
	}
}
