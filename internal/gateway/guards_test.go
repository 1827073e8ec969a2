package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
)

// get fetches a URL (with an optional Host) and returns status and body.
func get(t *testing.T, url, host string) (int, http.Header, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		r.Host = host
	}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// eventually polls cond every 20ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestDenylist(t *testing.T) {
	n := newFixtureNode(t)
	deny := filepath.Join(t.TempDir(), "test.deny")
	rules := "version: 1\nname: flotilla test\n---\n" +
		"/ipfs/" + helloV1 + "\n" + // a CID, wherever it appears
		"/ipfs/" + dirWithFiles + "/ascii.txt\n" + // one path (its CID is also ascii-copy.txt)
		"/ipns/dnslink-over-ipns.example.org\n" // a DNSLink name
	if err := os.WriteFile(deny, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fixtureConfig()
	cfg.Denylists = []string{deny}
	srv := serve(t, n, cfg)
	runCases(t, srv.URL, []gwCase{
		{"blocked CID", req{path: "/ipfs/" + helloV1}, want{status: 410}},
		{"blocked CID as a raw block", req{path: "/ipfs/" + helloV1 + "?format=raw"}, want{status: 410}},
		{"blocked CID in a subdomain", req{path: "/", host: helloV1 + ".ipfs.example.com"}, want{status: 410}},
		{"blocked CID behind IPNS", req{path: "/ipns/" + ipnsEdCIDv1}, want{status: 410}},
		{"blocked path", req{path: "/ipfs/" + dirWithFiles + "/ascii.txt"}, want{status: 410}},
		{"same CID under another path", req{path: "/ipfs/" + dirWithFiles + "/ascii-copy.txt"}, want{status: 200}},
		{"blocked name", req{path: "/", host: "dnslink-over-ipns.example.org"}, want{status: 410}},
		{"other content", req{path: "/ipfs/" + dirWithFiles + "/hello.txt"}, want{status: 200, body: str("hello world\n")}},
	})

	// Rules appended to a followed denylist apply while running, through
	// both caches (the path was resolved and its block read above).
	f, err := os.OpenFile(deny, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	eventually(t, 10*time.Second, "appended rule blocks hello.txt", func() bool {
		code, _, _ := get(t, srv.URL+"/ipfs/"+dirWithFiles+"/hello.txt", "")
		return code == http.StatusGone
	})
}

func TestDenylistMustExist(t *testing.T) {
	cfg := fixtureConfig()
	cfg.Denylists = []string{filepath.Join(t.TempDir(), "missing.deny")}
	_, err := newGateway(t, newMemNode(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "missing.deny") {
		t.Fatalf("gateway.New with a missing denylist = %v, want an error naming it", err)
	}
}

// newOnlineNode is a node with a libp2p host on 127.0.0.1 and no peers:
// whatever it lacks, bitswap waits for forever.
func newOnlineNode(t *testing.T) *ipfs.Node {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := p2p.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Bootstrap = nil
	cfg.DHT = "off"
	nw, err := p2p.Start(context.Background(), cfg, key, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{
		Blocks: dssync.MutexWrap(ds.NewMapDatastore()), Meta: dssync.MutexWrap(ds.NewMapDatastore()),
		Network: nw, Logger: slog.New(slog.DiscardHandler), DNS: noDNS{},
	})
	if err != nil {
		nw.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); n.Pins.Close(); nw.Close() })
	return n
}

// absent is a CID no peer has.
const absent = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

func TestRetrievalTimeoutAndConcurrencyCap(t *testing.T) {
	n := newOnlineNode(t)
	cfg := fixtureConfig()
	cfg.RetrievalTimeout = 2 * time.Second
	cfg.MaxConcurrentRequests = 1
	srv := serve(t, n, cfg)

	// Requests for content nobody has hold the only slot until the
	// retrieval timeout ends them with 504. Several sent at once: whichever
	// takes the slot first, every other one must be refused with 429 while
	// it is held, so the check does not depend on which arrives first.
	type result struct {
		code       int
		retryAfter string
		err        error
	}
	const concurrent = 5
	results := make(chan result, concurrent)
	for i := range concurrent {
		go func() {
			resp, err := http.Get(fmt.Sprintf("%s/ipfs/%s/%d", srv.URL, absent, i))
			if err != nil {
				results <- result{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- result{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		}()
	}
	codes := map[int]int{}
	for range concurrent {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.retryAfter == "" {
				t.Errorf("%d without Retry-After", r.code)
			}
			codes[r.code]++
		case <-time.After(20 * time.Second):
			t.Fatal("retrieval timeout did not end the request")
		}
	}
	if codes[http.StatusGatewayTimeout] < 1 || codes[http.StatusTooManyRequests] < 1 ||
		codes[http.StatusGatewayTimeout]+codes[http.StatusTooManyRequests] != concurrent {
		t.Fatalf("status codes %v: want one 504 (retrieval timeout) and 429 for the requests refused meanwhile", codes)
	}
}

func TestNoFetch(t *testing.T) {
	n := newOnlineNode(t)
	cid := addFile(t, n, "local content\n")
	cfg := fixtureConfig()
	cfg.NoFetch = true
	cfg.RetrievalTimeout = 30 * time.Second // must not be what ends the request
	srv := serve(t, n, cfg)
	start := time.Now()
	if code, _, _ := get(t, srv.URL+"/ipfs/"+absent, ""); code != http.StatusNotFound {
		t.Fatalf("no-fetch gateway, absent content = %d, want 404", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("no-fetch gateway took %s to say 404: it must not wait for the network", d)
	}
	if code, _, body := get(t, srv.URL+"/ipfs/"+cid, ""); code != 200 || body != "local content\n" {
		t.Fatalf("no-fetch gateway, local content = %d %q", code, body)
	}
}

// addFile adds one file and returns its CID.
func addFile(t testing.TB, n *ipfs.Node, content string) string {
	t.Helper()
	return addDir(t, n, map[string]string{"f": content}, false)
}

// addDir adds files (name -> content); with wrap they are one directory.
func addDir(t testing.TB, n *ipfs.Node, tree map[string]string, wrap bool) string {
	t.Helper()
	p := importer.Params{CidVersion: new(int), Wrap: wrap}
	*p.CidVersion = 1
	s, err := p.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	var entries []files.DirEntry
	for name, content := range tree {
		entries = append(entries, files.FileEntry(name, files.NewBytesFile([]byte(content))))
	}
	roots, err := n.Add(context.Background(), files.NewSliceDirectory(entries), ipfs.AddOptions{Import: s, Pin: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return roots[len(roots)-1].Node.Cid().String()
}

func TestHostileRedirects(t *testing.T) {
	n := newMemNode(t)
	huge := strings.Repeat("/a /b 301\n", 7000) // 70 KB, over the spec's 64 KiB
	sites := map[string]string{
		"too large":    addDir(t, n, map[string]string{"_redirects": huge, "index.html": "x"}, true),
		"binary":       addDir(t, n, map[string]string{"_redirects": "\x00\xff\xfe/\x01 \x02 300000000000000000000\n"}, true),
		"self-rewrite": addDir(t, n, map[string]string{"_redirects": "/* /nowhere 200\n"}, true),
		"header split": addDir(t, n, map[string]string{"_redirects": "/a /b\rSet-Cookie:x 302\n"}, true),
		"long line":    addDir(t, n, map[string]string{"_redirects": "/" + strings.Repeat("x", 60000) + " /b 301\n"}, true),
		"splat loop":   addDir(t, n, map[string]string{"_redirects": "/* /:splat/:splat 200\n"}, true),
	}
	srv := serve(t, n, fixtureConfig())
	for name, root := range sites {
		code, h, body := get(t, srv.URL+"/some/missing/path", v1(root)+".ipfs.example.com")
		switch {
		case name == "too large" && (code != 500 || !strings.Contains(body, "65536")):
			t.Errorf("%s: %d %q, want 500 naming the size limit", name, code, body)
		case code == 500 && !strings.Contains(body, "_redirects"):
			t.Errorf("%s: 500 that is not about _redirects: %q", name, body)
		case code != 500 && code >= 400 && code != 404:
			t.Errorf("%s: %d %q, want 404 or the spec's 500 for a bad _redirects", name, code, body)
		}
		if strings.Contains(h.Get("Location"), "\r") || h.Get("Set-Cookie") != "" {
			t.Errorf("%s: header injection: %v", name, h)
		}
	}
}
