package restapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// fakeCluster is an in-memory pinset with one member; failAfter > 0
// makes listings fail after that many pins.
type fakeCluster struct {
	mu        sync.Mutex
	pins      map[cid.Cid]pin.Pin
	writes    int
	failAfter int
}

var _ Cluster = (*fakeCluster)(nil)

func (f *fakeCluster) ID() string { return testPeer }

func (f *fakeCluster) Pin(ctx context.Context, p pin.Pin) (pin.Pin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.ReplicationMin == 0 {
		p.ReplicationMin, p.ReplicationMax = 1, 1
	}
	p.Allocations = []string{testPeer}
	f.pins[p.Cid] = p
	f.writes++
	return p, nil
}

func (f *fakeCluster) PinMany(ctx context.Context, pins []pin.Pin) ([]pin.Pin, []error, error) {
	placed := make([]pin.Pin, len(pins))
	errs := make([]error, len(pins))
	for i, p := range pins {
		placed[i], errs[i] = f.Pin(ctx, p)
	}
	return placed, errs, nil
}

func (f *fakeCluster) Unpin(ctx context.Context, c cid.Cid) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pins[c]; !ok {
		return fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	delete(f.pins, c)
	f.writes++
	return nil
}

func (f *fakeCluster) Get(ctx context.Context, c cid.Cid) (pin.Pin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pins[c]
	if !ok {
		return pin.Pin{}, fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	return p, nil
}

func (f *fakeCluster) List(ctx context.Context, fn func(pin.Pin) error) error {
	f.mu.Lock()
	var ps []pin.Pin
	for _, p := range f.pins {
		ps = append(ps, p)
	}
	f.mu.Unlock()
	slices.SortFunc(ps, func(a, b pin.Pin) int { return strings.Compare(a.Cid.KeyString(), b.Cid.KeyString()) })
	for i, p := range ps {
		if f.failAfter > 0 && i == f.failAfter {
			return errors.New("peer went away")
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeCluster) Status(ctx context.Context, c cid.Cid) (pin.Info, error) {
	p, err := f.Get(ctx, c)
	if err != nil {
		return pin.Info{}, err
	}
	return pin.Info{Pin: p, Peers: []pin.PeerStatus{{Peer: testPeer, Status: pin.StatusPinned}}}, nil
}

func (f *fakeCluster) StatusAll(ctx context.Context, fn func(pin.Info) error) error {
	return f.List(ctx, func(p pin.Pin) error {
		return fn(pin.Info{Pin: p, Peers: []pin.PeerStatus{{Peer: testPeer, Status: pin.StatusPinned}}})
	})
}

func (f *fakeCluster) Recover(ctx context.Context, c cid.Cid) (pin.Info, error) {
	return f.Status(ctx, c)
}

func (f *fakeCluster) Members(ctx context.Context) ([]member.Member, error) {
	return []member.Member{{ID: testPeer, Name: "one", ClusterAddr: "127.0.0.1:9096"}}, nil
}

func newTestAPI(t *testing.T) (*httptest.Server, *fakeCluster) {
	t.Helper()
	fc := &fakeCluster{pins: map[cid.Cid]pin.Pin{}}
	h := NewHandler(DefaultConfig(), Deps{Cluster: fc, Version: "v-test", Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, fc
}

func do(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body) // reading to EOF fills the trailers
	resp.Body.Close()
	return resp, string(body)
}

func TestRestBadInputIsRejectedWithoutStateChange(t *testing.T) {
	srv, fc := newTestAPI(t)
	tests := []struct {
		method, path string
		code         int
		msg          string
	}{
		{"POST", "/pins/notacid", 400, "error decoding Cid"},
		{"POST", "/pins/" + testCid + "?replication-min=3&replication-max=2", 400, "want 1 <= min <= max"},
		{"POST", "/pins/" + testCid + "?mode=shallow", 400, `unknown mode "shallow"`},
		{"POST", "/pins/" + testCid + "?expire-at=2001-01-01T00:00:00Z", 400, "is in the past"},
		{"POST", "/pins/" + testCid + "?user-allocations=bob", 400, "bad peer ID"},
		{"POST", "/pins/ipfs/notacid", 400, "error decoding Cid"},
		{"DELETE", "/pins/" + testCid, 404, "pin not found"},
		{"GET", "/allocations/" + testCid, 404, "pin not found"},
		{"GET", "/allocations?filter=bogus", 400, "invalid filter value"},
		{"GET", "/pins?filter=bogus", 400, "invalid filter value"},
		{"GET", "/pins?cids=" + testCid + ",nope", 400, "error decoding Cid"},
		{"GET", "/nowhere", 404, "not found"},
		{"PUT", "/pins/" + testCid, 405, "method PUT not allowed"},
		{"POST", "/id", 405, "method POST not allowed"},
		{"GET", "/health/alerts", 501, "not implemented"},
	}
	for _, tt := range tests {
		resp, body := do(t, tt.method, srv.URL+tt.path)
		var e wireError
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Errorf("%s %s: body %q is not an error object: %v", tt.method, tt.path, body, err)
			continue
		}
		if resp.StatusCode != tt.code || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("%s %s = %d %+v, want %d with %q", tt.method, tt.path, resp.StatusCode, e, tt.code, tt.msg)
		}
	}
	if fc.writes != 0 {
		t.Errorf("bad requests made %d writes, want 0", fc.writes)
	}
}

func TestRestPinAndStreams(t *testing.T) {
	srv, fc := newTestAPI(t)

	// Empty streams are 204 with no body.
	for _, p := range []string{"/pins", "/allocations", "/allocations?filter=shard-pin"} {
		if resp, body := do(t, "GET", srv.URL+p); resp.StatusCode != 204 || body != "" {
			t.Errorf("GET %s on an empty pinset = %d %q, want 204 and no body", p, resp.StatusCode, body)
		}
	}

	resp, body := do(t, "POST", srv.URL+"/pins/"+testCid+"?name=doc&replication-max=1&meta-k=v")
	var wp wirePin
	json.Unmarshal([]byte(body), &wp)
	if resp.StatusCode != 200 || wp.Cid != testCid || wp.Name != "doc" || wp.Type != "pin" || wp.MaxDepth != -1 ||
		wp.ReplicationFactorMin != 1 || wp.ReplicationFactorMax != 1 || wp.Metadata["k"] != "v" || len(wp.Allocations) != 1 {
		t.Errorf("POST /pins = %d %s", resp.StatusCode, body)
	}

	// A stream: 200, one JSON object per line, an empty X-Stream-Error
	// trailer.
	resp, body = do(t, "GET", srv.URL+"/allocations?filter=pin")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if resp.StatusCode != 200 || len(lines) != 1 || !strings.Contains(lines[0], testCid) {
		t.Errorf("GET /allocations = %d %q", resp.StatusCode, body)
	}
	if v, ok := resp.Trailer["X-Stream-Error"]; !ok || v[0] != "" {
		t.Errorf("GET /allocations trailer = %q, want an empty X-Stream-Error", resp.Trailer)
	}

	resp, body = do(t, "GET", srv.URL+"/pins?filter=pinned,queued&cids="+testCid)
	var g wireGlobalPinInfo
	json.Unmarshal([]byte(body), &g)
	if resp.StatusCode != 200 || g.Cid != testCid || g.PeerMap[testPeer].Status != "pinned" || g.PeerMap[testPeer].PeerName != "one" {
		t.Errorf("GET /pins?cids = %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", srv.URL+"/pins?filter=pin_error"); resp.StatusCode != 204 {
		t.Errorf("GET /pins?filter=pin_error = %d, want 204", resp.StatusCode)
	}

	// A CID outside the pinset is unpinned everywhere, as in IPFS Cluster.
	other := "bafkqaaa"
	resp, body = do(t, "GET", srv.URL+"/pins/"+other)
	json.Unmarshal([]byte(body), &g)
	if resp.StatusCode != 200 || g.PeerMap[testPeer].Status != "unpinned" {
		t.Errorf("GET /pins/%s = %d %s", other, resp.StatusCode, body)
	}

	// A failure after the first item goes to the trailer.
	c2, _ := cid.Decode(other)
	fc.Pin(context.Background(), pin.Pin{Cid: c2, Mode: pin.Recursive})
	fc.failAfter = 1
	resp, body = do(t, "GET", srv.URL+"/allocations")
	if resp.StatusCode != 200 || strings.Count(body, "\n") != 1 || resp.Trailer.Get("X-Stream-Error") != "peer went away" {
		t.Errorf("GET /allocations failing midway = %d %q trailer %q", resp.StatusCode, body, resp.Trailer)
	}
	fc.failAfter = 0

	resp, body = do(t, "DELETE", srv.URL+"/pins/"+testCid)
	if resp.StatusCode != 200 || !strings.Contains(body, testCid) {
		t.Errorf("DELETE /pins = %d %s", resp.StatusCode, body)
	}
	if _, err := fc.Get(context.Background(), wpCid(t)); !errors.Is(err, pin.ErrNotFound) {
		t.Errorf("after DELETE, Get = %v, want pin.ErrNotFound", err)
	}
}

func wpCid(t *testing.T) cid.Cid {
	c, err := cid.Decode(testCid)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Streams are flushed per item: the first line arrives before the
// handler is done.
func TestRestStreamFlushesPerItem(t *testing.T) {
	release := make(chan struct{})
	fc := &blockingCluster{fakeCluster: fakeCluster{pins: map[cid.Cid]pin.Pin{}}, release: release}
	c, _ := cid.Decode(testCid)
	fc.pins[c] = pin.Pin{Cid: c, Mode: pin.Recursive}
	srv := httptest.NewServer(NewHandler(DefaultConfig(), Deps{Cluster: fc, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	defer close(release)
	resp, err := http.Get(srv.URL + "/allocations")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, testCid) {
		t.Fatalf("first line = %q, %v", line, err)
	}
}

// blockingCluster lists its pins, then blocks until released.
type blockingCluster struct {
	fakeCluster
	release chan struct{}
}

func (b *blockingCluster) List(ctx context.Context, fn func(pin.Pin) error) error {
	if err := b.fakeCluster.List(ctx, fn); err != nil {
		return err
	}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

func TestRestHTTPBehaviour(t *testing.T) {
	srv, _ := newTestAPI(t)
	if resp, body := do(t, "GET", srv.URL+"/health"); resp.StatusCode != 204 || body != "" {
		t.Errorf("GET /health = %d %q, want 204", resp.StatusCode, body)
	}
	resp, _ := do(t, "POST", srv.URL+"/pins/"+testCid+"/?name=x")
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "/pins/"+testCid+"?name=x" {
		t.Errorf("POST with a trailing slash = %d to %q, want 307 to the path without it", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := do(t, "GET", srv.URL+"/version", "Origin", "https://ui.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://ui.example" || !strings.Contains(body, `"version":"v-test"`) {
		t.Errorf("GET /version cross-origin = %q %s", resp.Header, body)
	}
	resp, _ = do(t, "OPTIONS", srv.URL+"/pins", "Origin", "https://ui.example", "Access-Control-Request-Method", "GET")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Methods") != "GET" {
		t.Errorf("preflight GET = %d %q", resp.StatusCode, resp.Header)
	}
	resp, _ = do(t, "OPTIONS", srv.URL+"/pins/x", "Origin", "https://ui.example", "Access-Control-Request-Method", "DELETE")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight DELETE allowed: %q", resp.Header)
	}
	resp, body = do(t, "GET", srv.URL+"/id")
	var id wireID
	json.Unmarshal([]byte(body), &id)
	if resp.StatusCode != 200 || id.ID != testPeer || id.Peername != "one" || len(id.ClusterPeers) != 1 ||
		id.Addresses[0] != "/ip4/127.0.0.1/tcp/9096/p2p/"+testPeer || id.RPCProtocolVersion != rpcProtocol {
		t.Errorf("GET /id = %d %s", resp.StatusCode, body)
	}
}

// liveCluster reports liveness: one member alive, one silent.
type liveCluster struct {
	fakeCluster
	now time.Time
}

const downPeer = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"

func (l *liveCluster) Liveness(ctx context.Context) ([]member.Member, error) {
	return []member.Member{
		{ID: testPeer, FreeSpace: 1 << 30, LastSeen: l.now.Add(-time.Second)},
		{ID: downPeer, FreeSpace: 5, LastSeen: l.now.Add(-time.Minute)},
	}, nil
}

func TestRestHealthAndMetrics(t *testing.T) {
	now := time.Now()
	lc := &liveCluster{fakeCluster: fakeCluster{pins: map[cid.Cid]pin.Pin{}}, now: now}
	srv := httptest.NewServer(NewHandler(DefaultConfig(), Deps{Cluster: lc, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()

	resp, body := do(t, "GET", srv.URL+"/monitor/metrics")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `["freespace","ping"]` {
		t.Errorf("GET /monitor/metrics = %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", srv.URL+"/monitor/metrics/freespace")
	var ms []wireMetric
	json.Unmarshal([]byte(body), &ms)
	if resp.StatusCode != 200 || len(ms) != 2 || ms[0].Value != "1073741824" || !ms[0].Valid || ms[1].Valid {
		t.Errorf("GET /monitor/metrics/freespace = %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", srv.URL+"/monitor/metrics/bogus"); resp.StatusCode != 404 {
		t.Errorf("GET /monitor/metrics/bogus = %d, want 404", resp.StatusCode)
	}
	resp, body = do(t, "GET", srv.URL+"/health/alerts")
	var as []wireAlert
	json.Unmarshal([]byte(body), &as)
	if resp.StatusCode != 200 || len(as) != 1 || as[0].Peer != downPeer || as[0].Name != "ping" ||
		!as[0].TriggeredAt.Equal(now.Add(-time.Minute+DefaultDownAfter)) {
		t.Errorf("GET /health/alerts = %d %s", resp.StatusCode, body)
	}
}
