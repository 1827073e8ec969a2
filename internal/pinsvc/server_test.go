package pinsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
)

const (
	peerA = "12D3KooWGRUVh7nqeXjmRTcBmsbVaxHKqpCrd5NGFGXpYuUddBJd"
	peerB = "12D3KooWHHzSeKaY8xuZVzkLbKFfvNgPPeKhFBGrMbNzbm5akpqu"
)

// fakeCluster is an in-memory pinset and record store with two members;
// every pin is allocated to both, with replication-min 2. Allocated peers
// report status[cid][peer], pin_queued by default.
type fakeCluster struct {
	mu          sync.Mutex
	pins        map[cid.Cid]pin.Pin
	status      map[cid.Cid]map[string]pin.Status
	records     map[string][]byte
	failPin     error
	writes      int    // pin, unpin and record writes
	statusCalls int    // Status
	statusAlls  int    // StatusAll
	beforeUnpin func() // run (unlocked) at the start of Unpin, once
}

var _ Cluster = (*fakeCluster)(nil)

func newFake() *fakeCluster {
	return &fakeCluster{pins: map[cid.Cid]pin.Pin{}, status: map[cid.Cid]map[string]pin.Status{}, records: map[string][]byte{}}
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

func (f *fakeCluster) Pin(ctx context.Context, p pin.Pin) (pin.Pin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPin != nil {
		return pin.Pin{}, f.failPin
	}
	if p.ReplicationMin == 0 {
		p.ReplicationMin, p.ReplicationMax = 2, 2
	}
	p.Allocations = []string{peerA, peerB}
	f.pins[p.Cid] = p
	f.writes++
	return p, nil
}

func (f *fakeCluster) Unpin(ctx context.Context, c cid.Cid) error {
	if hook := f.beforeUnpin; hook != nil {
		f.beforeUnpin = nil
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pins[c]; !ok {
		return fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	delete(f.pins, c)
	f.writes++
	return nil
}

func (f *fakeCluster) info(p pin.Pin) pin.Info {
	info := pin.Info{Pin: p}
	for _, m := range []string{peerA, peerB} {
		st := pin.StatusRemote
		if p.AllocatedTo(m) {
			st = pin.StatusPinQueued
			if s, ok := f.status[p.Cid][m]; ok {
				st = s
			}
		}
		info.Peers = append(info.Peers, pin.PeerStatus{Peer: m, Status: st})
	}
	return info
}

func (f *fakeCluster) Status(ctx context.Context, c cid.Cid) (pin.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statusCalls++
	p, ok := f.pins[c]
	if !ok {
		return pin.Info{}, fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	return f.info(p), nil
}

func (f *fakeCluster) StatusAll(ctx context.Context, fn func(pin.Info) error) error {
	f.mu.Lock()
	f.statusAlls++
	var infos []pin.Info
	for _, p := range f.pins {
		infos = append(infos, f.info(p))
	}
	f.mu.Unlock()
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeCluster) Members(ctx context.Context) ([]member.Member, error) {
	return []member.Member{
		{ID: peerA, SwarmAddrs: []string{"/ip4/127.0.0.1/tcp/4001/p2p/" + peerA, "/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/udp/4001/quic-v1/p2p/" + peerA}},
		{ID: peerB, SwarmAddrs: []string{"/ip4/127.0.0.2/tcp/4001/p2p/" + peerB}},
	}, nil
}

func (f *fakeCluster) PutRecord(ctx context.Context, key string, value []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[key] = slices.Clone(value)
	f.writes++
	return nil
}

func (f *fakeCluster) DeleteRecord(ctx context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.records, key)
	f.writes++
	return nil
}

func (f *fakeCluster) Record(ctx context.Context, key string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.records[key]
	return slices.Clone(v), ok, nil
}

func (f *fakeCluster) Records(ctx context.Context, prefix, after string, fn func(string, []byte) error) error {
	f.mu.Lock()
	var keys []string
	for k := range f.records {
		if strings.HasPrefix(k, prefix) && (after == "" || k > after) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = slices.Clone(f.records[k])
	}
	f.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeCluster) setStatus(c cid.Cid, sts ...pin.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[c] = map[string]pin.Status{peerA: sts[0], peerB: sts[len(sts)-1]}
}

// snapshot is the fake's whole state, to check that a failed call
// changed nothing.
func (f *fakeCluster) snapshot() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := slices.Sorted(maps.Keys(f.records))
	var pins []string
	for c := range f.pins {
		pins = append(pins, c.String())
	}
	slices.Sort(pins)
	return fmt.Sprintf("records %q pins %q writes %d", keys, pins, f.writes)
}

// ownerHeader names the caller in these tests; the daemon's
// authentication does it for real.
const ownerHeader = "X-Test-Owner"

type testAPI struct {
	t   *testing.T
	srv *httptest.Server
	s   *server
	fc  *fakeCluster
}

// newTestAPI serves the API over fc with a clock that stands still at
// now: every creation time comes from the strictly increasing clock.
func newTestAPI(t *testing.T, fc *fakeCluster, now time.Time) *testAPI {
	t.Helper()
	s := newServer(Deps{Cluster: fc, Logger: slog.New(slog.DiscardHandler), Owner: func(r *http.Request) string { return r.Header.Get(ownerHeader) }},
		func() time.Time { return now })
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &testAPI{t: t, srv: srv, s: s, fc: fc}
}

// do sends a request as owner and returns the status and body.
func (a *testAPI) do(owner, method, path, body string) (int, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set(ownerHeader, owner)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// add creates a request and returns its status object.
func (a *testAPI) add(owner string, p wirePin) wirePinStatus {
	a.t.Helper()
	body, _ := json.Marshal(p)
	code, raw := a.do(owner, "POST", "/pins", string(body))
	if code != http.StatusAccepted {
		a.t.Fatalf("POST /pins %s = %d %s, want 202", body, code, raw)
	}
	var ps wirePinStatus
	mustDecode(a.t, raw, &ps)
	return ps
}

func (a *testAPI) get(owner, id string) (int, wirePinStatus) {
	a.t.Helper()
	code, raw := a.do(owner, "GET", "/pins/"+id, "")
	var ps wirePinStatus
	if code == http.StatusOK {
		mustDecode(a.t, raw, &ps)
	}
	return code, ps
}

func (a *testAPI) list(owner, query string) wirePinResults {
	a.t.Helper()
	code, raw := a.do(owner, "GET", "/pins?"+query, "")
	if code != http.StatusOK {
		a.t.Fatalf("GET /pins?%s = %d %s, want 200", query, code, raw)
	}
	var res wirePinResults
	mustDecode(a.t, raw, &res)
	return res
}

// listAll pages through a listing as kubo's client does: before = the
// creation time of the oldest result, until a page holds all the count.
func (a *testAPI) listAll(owner, query string, limit int) (all []wirePinStatus, counts []int) {
	a.t.Helper()
	q, _ := url.ParseQuery(query)
	q.Set("limit", fmt.Sprint(limit))
	for range 1000 {
		res := a.list(owner, q.Encode())
		counts = append(counts, res.Count)
		all = append(all, res.Results...)
		if res.Count == len(res.Results) {
			return all, counts
		}
		if len(res.Results) == 0 {
			a.t.Fatalf("count %d but no results", res.Count)
		}
		q.Set("before", res.Results[len(res.Results)-1].Created.Format(time.RFC3339Nano))
	}
	a.t.Fatal("listing does not end")
	return nil, nil
}

func mustDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// testCid returns a distinct CIDv1 for each n.
func testCid(n int) cid.Cid {
	h, _ := mh.Sum([]byte(fmt.Sprint("block ", n)), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestAddGetRemove(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	c := testCid(1)
	origin := "/ip4/127.0.0.9/tcp/4001/p2p/" + peerB
	ps := a.add("", wirePin{Cid: c.String(), Name: "precious", Origins: []string{origin}, Meta: map[string]string{"app": "x"}})

	if _, ok := idTime(ps.RequestID); !ok || ps.RequestID == c.String() {
		t.Errorf("requestid = %q, want a request ID, not the CID", ps.RequestID)
	}
	if !ps.Created.Equal(t0) {
		t.Errorf("created = %s, want %s (the clock's time)", ps.Created, t0)
	}
	if ps.Status != statusQueued || ps.Pin.Cid != c.String() || ps.Pin.Name != "precious" || !slices.Equal(ps.Pin.Origins, []string{origin}) || ps.Pin.Meta["app"] != "x" {
		t.Errorf("POST /pins = %+v, want the pin echoed, queued", ps)
	}
	wantDelegates := []string{"/ip4/127.0.0.1/tcp/4001/p2p/" + peerA, "/ip4/127.0.0.2/tcp/4001/p2p/" + peerB, "/ip4/10.0.0.1/udp/4001/quic-v1/p2p/" + peerA}
	if !slices.Equal(ps.Delegates, wantDelegates) {
		t.Errorf("delegates = %q, want %q (allocated peers' addresses with /p2p/, in turn)", ps.Delegates, wantDelegates)
	}
	p, err := fc.Get(t.Context(), c)
	if err != nil {
		t.Fatalf("the CID is not a cluster pin: %v", err)
	}
	if p.Name != "precious" || p.Mode != pin.Recursive || !slices.Equal(p.Origins, []string{origin}) || p.ReplicationMin != 2 {
		t.Errorf("cluster pin = %+v, want recursive, named, with the origins and the default replication", p)
	}

	fc.setStatus(c, pin.StatusPinned, pin.StatusPinning)
	if code, got := a.get("", ps.RequestID); code != 200 || got.Status != statusPinning || got.RequestID != ps.RequestID || !got.Created.Equal(ps.Created) {
		t.Errorf("GET = %d %+v, want 200 pinning (1 of the 2 needed)", code, got)
	}
	fc.setStatus(c, pin.StatusPinned)
	if code, got := a.get("", ps.RequestID); code != 200 || got.Status != statusPinned {
		t.Errorf("GET = %d %+v, want 200 pinned", code, got)
	}

	if code, raw := a.do("", "DELETE", "/pins/"+ps.RequestID, ""); code != http.StatusAccepted || len(raw) != 0 {
		t.Fatalf("DELETE = %d %q, want 202 and no body", code, raw)
	}
	if code, _ := a.get("", ps.RequestID); code != http.StatusNotFound {
		t.Errorf("GET after DELETE = %d, want 404", code)
	}
	if _, err := fc.Get(t.Context(), c); err == nil {
		t.Error("the CID is still pinned after its only request was removed")
	}
	if len(fc.records) != 0 {
		t.Errorf("records left behind: %q", slices.Sorted(maps.Keys(fc.records)))
	}
}

func TestRequestsShareTheirCid(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	c := testCid(1)
	first := a.add("", wirePin{Cid: c.String(), Name: "first"})
	second := a.add("bob", wirePin{Cid: c.String(), Name: "second"})
	if first.RequestID == second.RequestID {
		t.Fatalf("two requests for one CID share the ID %s", first.RequestID)
	}
	if p, _ := fc.Get(t.Context(), c); p.Name != "first" {
		t.Errorf("cluster pin name = %q: the second request changed the existing pin", p.Name)
	}
	a.do("", "DELETE", "/pins/"+first.RequestID, "")
	if _, err := fc.Get(t.Context(), c); err != nil {
		t.Fatalf("the CID was unpinned while bob's request still refers to it: %v", err)
	}
	a.do("bob", "DELETE", "/pins/"+second.RequestID, "")
	if _, err := fc.Get(t.Context(), c); err == nil {
		t.Error("the CID is still pinned after its last request was removed")
	}
}

// A CID pinned through another API before any request referred to it
// keeps its pin and its options.
func TestPinOfAnotherAPIStays(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	c := testCid(1)
	fc.Pin(t.Context(), pin.Pin{Cid: c, Name: "admin's", Mode: pin.Recursive, ReplicationMin: 3, ReplicationMax: 3})
	ps := a.add("", wirePin{Cid: c.String(), Name: "mine"})
	a.do("", "DELETE", "/pins/"+ps.RequestID, "")
	p, err := fc.Get(t.Context(), c)
	if err != nil {
		t.Fatal("removing the request unpinned a pin the service did not make")
	}
	if p.Name != "admin's" || p.ReplicationMin != 3 {
		t.Errorf("cluster pin = %+v, want its own name and replication", p)
	}
}

// A request created for a CID while the last other request for it is
// being removed (after the remover found no reference, before it unpins)
// keeps the CID pinned: the remover sees it afterwards and pins again.
func TestRemoveRacingCreate(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	b := newTestAPI(t, fc, t0.Add(time.Hour)) // another peer
	c := testCid(1)
	old := a.add("", wirePin{Cid: c.String(), Name: "old"})
	var late wirePinStatus
	fc.beforeUnpin = func() {
		late = b.add("", wirePin{Cid: c.String(), Name: "late", Origins: []string{"/ip4/127.0.0.9/tcp/1/p2p/" + peerB}})
	}
	a.do("", "DELETE", "/pins/"+old.RequestID, "")
	if late.RequestID == "" {
		t.Fatal("the hook did not run: the remover never unpinned")
	}
	p, err := fc.Get(t.Context(), c)
	if err != nil {
		t.Fatal("the CID is unpinned although the late request refers to it")
	}
	if p.Name != "late" || len(p.Origins) != 1 {
		t.Errorf("pinned again as %+v, want the late request's name and origins", p)
	}
	b.do("", "DELETE", "/pins/"+late.RequestID, "")
	if _, err := fc.Get(t.Context(), c); err == nil {
		t.Error("the CID is still pinned after the late request was removed")
	}
}

func TestReplace(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	c1, c2 := testCid(1), testCid(2)
	old := a.add("", wirePin{Cid: c1.String(), Name: "v1"})
	code, raw := a.do("", "POST", "/pins/"+old.RequestID, fmt.Sprintf(`{"cid":%q,"name":"v2"}`, c2))
	if code != http.StatusAccepted {
		t.Fatalf("POST /pins/{id} = %d %s, want 202", code, raw)
	}
	var ps wirePinStatus
	mustDecode(t, raw, &ps)
	if ps.RequestID == old.RequestID || !ps.Created.After(old.Created) || ps.Pin.Cid != c2.String() || ps.Pin.Name != "v2" {
		t.Errorf("replacement = %+v, want a new request for %s", ps, c2)
	}
	if code, _ := a.get("", old.RequestID); code != http.StatusNotFound {
		t.Errorf("GET of the replaced request = %d, want 404", code)
	}
	if _, err := fc.Get(t.Context(), c1); err == nil {
		t.Error("the replaced CID is still pinned")
	}
	if p, err := fc.Get(t.Context(), c2); err != nil || !p.PinUpdate.Equals(c1) {
		t.Errorf("new cluster pin = %+v, %v: want it pinned as an update of %s", p, err, c1)
	}
}

// Kubo's client pages with before=<created of the oldest result>: that
// only works if no two requests share a creation time, here all made at
// the same instant of a clock that stands still.
func TestPagination(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	var made []string
	for i := range 25 {
		made = append(made, a.add("", wirePin{Cid: testCid(i % 7).String(), Name: fmt.Sprint("n", i)}).RequestID)
	}
	for _, c := range slices.Collect(maps.Keys(fc.pins)) {
		fc.setStatus(c, pin.StatusPinned)
	}

	if res := a.list("", ""); res.Count != 25 || len(res.Results) != defaultLimit {
		t.Errorf("GET /pins = count %d, %d results; want 25 and the default limit %d", res.Count, len(res.Results), defaultLimit)
	}
	all, counts := a.listAll("", "", 10)
	if !slices.Equal(counts, []int{25, 15, 5}) {
		t.Errorf("counts while paging = %v, want [25 15 5]", counts)
	}
	var got []string
	for i, ps := range all {
		got = append(got, ps.RequestID)
		if i > 0 && !ps.Created.Before(all[i-1].Created) {
			t.Errorf("result %d created %s, not before the previous %s", i, ps.Created, all[i-1].Created)
		}
	}
	slices.Reverse(got)
	if !slices.Equal(got, made) {
		t.Errorf("paged through %d requests, newest first; want all 25 in creation order reversed:\ngot  %q\nwant %q", len(got), got, made)
	}
	if res := a.list("", "limit=1000"); len(res.Results) != 25 {
		t.Errorf("limit=1000: %d results, want 25", len(res.Results))
	}
	after := all[20].Created.Format(time.RFC3339Nano) // the 5th oldest
	if res := a.list("", "after="+url.QueryEscape(after)+"&limit=100"); res.Count != 20 || res.Results[len(res.Results)-1].RequestID != made[5] {
		t.Errorf("after=%s: count %d, want the 20 newer requests, the oldest being %s", after, res.Count, made[5])
	}
}

// Two peers creating requests of one owner at the same nanosecond: the
// second sees the tie and takes another time.
func TestCreatedTieBetweenPeers(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	b := newTestAPI(t, fc, t0)
	first := a.add("", wirePin{Cid: testCid(1).String()})
	second := b.add("", wirePin{Cid: testCid(2).String()})
	if !second.Created.After(first.Created) {
		t.Fatalf("created %s and %s: a tie (or out of order) between peers", first.Created, second.Created)
	}
	if code, _ := b.get("", second.RequestID); code != http.StatusOK {
		t.Errorf("GET of the request that moved = %d, want 200", code)
	}
	var refs []string
	for k := range fc.records {
		if strings.HasPrefix(k, prefixRef) {
			refs = append(refs, k)
		}
	}
	if len(refs) != 2 {
		t.Errorf("references = %q, want 2: the abandoned ID's is removed", refs)
	}
	if all, _ := a.listAll("", "status=queued,pinning,pinned,failed", 1); len(all) != 2 {
		t.Errorf("paging one by one found %d requests, want 2", len(all))
	}
}

func TestListFilters(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	add := func(n int, name string, meta map[string]string) wirePinStatus {
		return a.add("", wirePin{Cid: testCid(n).String(), Name: name, Meta: meta})
	}
	r1 := add(1, "Holiday Photos", map[string]string{"app": "a", "v": "1"})
	r2 := add(2, "holiday photos", map[string]string{"app": "a"})
	r3 := add(3, "work", map[string]string{"app": "b"})
	r4 := add(1, "photos backup", nil)
	fc.setStatus(testCid(1), pin.StatusPinned)
	fc.setStatus(testCid(2), pin.StatusPinning, pin.StatusPinQueued)
	fc.setStatus(testCid(3), pin.StatusPinError)
	all := "&status=queued,pinning,pinned,failed"
	name := func(ps wirePinStatus) string { return ps.Pin.Name }

	for _, tc := range []struct {
		query string
		want  []wirePinStatus // newest first
	}{
		{"", []wirePinStatus{r4, r1}}, // pinned only, by default
		{"status=failed", []wirePinStatus{r3}},
		{"status=pinning&status=failed", []wirePinStatus{r3, r2}},
		{"status=queued", nil},
		{"cid=" + testCid(1).String() + all, []wirePinStatus{r4, r1}},
		{"cid=" + testCid(2).String() + "," + testCid(3).String() + all, []wirePinStatus{r3, r2}},
		{"cid=" + testCid(2).String() + "&cid=" + testCid(3).String() + all, []wirePinStatus{r3, r2}},
		{"name=holiday%20photos" + all, []wirePinStatus{r2}},
		{"name=holiday%20photos&match=exact" + all, []wirePinStatus{r2}},
		{"name=holiday%20photos&match=iexact" + all, []wirePinStatus{r2, r1}},
		{"name=photos&match=partial" + all, []wirePinStatus{r4, r2}},
		{"name=PHOTOS&match=ipartial" + all, []wirePinStatus{r4, r2, r1}},
		{"name=PHOTOS&match=partial" + all, nil},
		{"meta=" + url.QueryEscape(`{"app":"a"}`) + all, []wirePinStatus{r2, r1}},
		{"meta=" + url.QueryEscape(`{"app":"a","v":"1"}`) + all, []wirePinStatus{r1}},
		{"meta=" + url.QueryEscape(`{"app":"c"}`) + all, nil},
		{"meta=%7B%7D" + all, []wirePinStatus{r4, r3, r2, r1}},
		{"before=" + url.QueryEscape(r3.Created.Format(time.RFC3339Nano)) + all, []wirePinStatus{r2, r1}},
		{"after=" + url.QueryEscape(r2.Created.Format(time.RFC3339Nano)) + all, []wirePinStatus{r4, r3}},
		{"after=" + url.QueryEscape(r1.Created.Format(time.RFC3339Nano)) + "&before=" + url.QueryEscape(r4.Created.Format(time.RFC3339Nano)) + all, []wirePinStatus{r3, r2}},
		{"after=2000-01-01T00:00:00Z&before=2100-01-01T00:00:00Z" + all, []wirePinStatus{r4, r3, r2, r1}},
		{"after=1970-01-01T00:30:00%2B01:00" + all, []wirePinStatus{r4, r3, r2, r1}}, // before 1970 in UTC
		{"after=1900-01-01T00:00:00Z&before=3000-01-01T00:00:00Z" + all, []wirePinStatus{r4, r3, r2, r1}},
		{"name=photos&match=ipartial&status=pinned&cid=" + testCid(1).String(), []wirePinStatus{r4, r1}},
	} {
		res := a.list("", tc.query)
		var got, want []string
		for _, ps := range res.Results {
			got = append(got, ps.RequestID)
		}
		for _, ps := range tc.want {
			want = append(want, ps.RequestID)
		}
		if !slices.Equal(got, want) || res.Count != len(want) {
			t.Errorf("GET /pins?%s = count %d %q, want %d %q", tc.query, res.Count, mapNames(res.Results, name), len(want), mapNames(tc.want, name))
		}
	}
	for _, ps := range a.list("", "status=failed").Results {
		if !strings.Contains(ps.Info["status_details"], "failed on") {
			t.Errorf("failed request's info = %q, want the failure in status_details", ps.Info)
		}
	}
}

func mapNames(pss []wirePinStatus, f func(wirePinStatus) string) []string {
	var out []string
	for _, ps := range pss {
		out = append(out, f(ps))
	}
	return out
}

// A listing that needs many CIDs' statuses asks for the whole pinset's
// once, with the same answer.
func TestListManyStatusesAtOnce(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	for i := range 6 {
		a.add("", wirePin{Cid: testCid(i).String()})
		if i%2 == 0 {
			fc.setStatus(testCid(i), pin.StatusPinned)
		}
	}
	one := a.list("", "")
	fc.statusCalls, fc.statusAlls = 0, 0
	a.s.statusAllAbove = 2
	all := a.list("", "")
	if fc.statusAlls != 1 || fc.statusCalls != 0 {
		t.Errorf("Status calls %d, StatusAll calls %d; want StatusAll once", fc.statusCalls, fc.statusAlls)
	}
	if all.Count != 3 || !slices.EqualFunc(all.Results, one.Results, func(x, y wirePinStatus) bool { return x.RequestID == y.RequestID && x.Status == y.Status }) {
		t.Errorf("through StatusAll: %+v; one by one: %+v", all, one)
	}
}

// Every caller sees and removes only its own requests; "" (no
// authentication) is an owner like any other.
func TestOwnerIsolation(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	c := testCid(1)
	fc.setStatus(c, pin.StatusPinned)
	alice := a.add("alice", wirePin{Cid: c.String(), Name: "alice's"})
	anon := a.add("", wirePin{Cid: c.String(), Name: "anonymous"})

	for owner, want := range map[string]string{"alice": alice.RequestID, "": anon.RequestID, "bob": "", "alice/x": "", "ALICE": ""} {
		res := a.list(owner, "")
		if want == "" && res.Count != 0 || want != "" && (res.Count != 1 || res.Results[0].RequestID != want) {
			t.Errorf("%q lists %+v, want only %q", owner, res, want)
		}
	}
	before := fc.snapshot()
	for _, owner := range []string{"bob", ""} {
		if code, _ := a.get(owner, alice.RequestID); code != http.StatusNotFound {
			t.Errorf("%q: GET of alice's request = %d, want 404", owner, code)
		}
		if code, _ := a.do(owner, "DELETE", "/pins/"+alice.RequestID, ""); code != http.StatusNotFound {
			t.Errorf("%q: DELETE of alice's request = %d, want 404", owner, code)
		}
		if code, _ := a.do(owner, "POST", "/pins/"+alice.RequestID, `{"cid":"`+testCid(2).String()+`"}`); code != http.StatusNotFound {
			t.Errorf("%q: POST (replace) of alice's request = %d, want 404", owner, code)
		}
	}
	if after := fc.snapshot(); after != before {
		t.Errorf("other owners changed alice's request:\nbefore %s\nafter  %s", before, after)
	}
	if code, got := a.get("alice", alice.RequestID); code != http.StatusOK || got.Pin.Name != "alice's" {
		t.Errorf("alice: GET = %d %+v", code, got)
	}
}

// Bad input is a precise 4xx with a Failure body, and changes nothing.
func TestErrors(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	existing := a.add("", wirePin{Cid: testCid(1).String()}).RequestID
	// A well-formed ID that is not the existing one: its last character
	// changed, to "1" when it already ends in "0".
	unknown := existing[:idLen-1] + "0"
	if unknown == existing {
		unknown = existing[:idLen-1] + "1"
	}
	c := testCid(2).String()
	p2p := "/ip4/1.2.3.4/tcp/1/p2p/" + peerA
	var origins21 []string
	for i := range 21 {
		origins21 = append(origins21, fmt.Sprintf("/ip4/1.2.3.%d/tcp/1/p2p/%s", i, peerA))
	}
	manyOrigins, _ := json.Marshal(wirePin{Cid: c, Origins: origins21})
	var cids11 []string
	for i := range 11 {
		cids11 = append(cids11, testCid(i).String())
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		reason, details    string
	}{
		{"POST", "/pins", `{"cid":"bafyNOTACID"}`, 400, "BAD_REQUEST", "cid"},
		{"POST", "/pins", `{"name":"x"}`, 400, "BAD_REQUEST", "cid is missing"},
		{"POST", "/pins", `{"cid":`, 400, "BAD_REQUEST", "not a Pin object"},
		{"POST", "/pins", ``, 400, "BAD_REQUEST", "not a Pin object"},
		{"POST", "/pins", `null`, 400, "BAD_REQUEST", "null"},
		{"POST", "/pins", `["` + c + `"]`, 400, "BAD_REQUEST", "not a Pin object"},
		{"POST", "/pins", `{"cid":"` + c + `"} {}`, 400, "BAD_REQUEST", "after the Pin object"},
		{"POST", "/pins", `{"cid":"` + c + `","name":7}`, 400, "BAD_REQUEST", "name"},
		{"POST", "/pins", `{"cid":"` + c + `","name":"` + strings.Repeat("é", 256) + `"}`, 400, "BAD_REQUEST", "256 characters"},
		{"POST", "/pins", `{"cid":"` + c + `","origins":["/ip4/1.2.3.4/tcp/1"]}`, 400, "BAD_REQUEST", "no /p2p/"},
		{"POST", "/pins", `{"cid":"` + c + `","origins":["not a multiaddr"]}`, 400, "BAD_REQUEST", "origin"},
		{"POST", "/pins", `{"cid":"` + c + `","origins":["` + p2p + `","` + p2p + `"]}`, 400, "BAD_REQUEST", "twice"},
		{"POST", "/pins", string(manyOrigins), 400, "BAD_REQUEST", "at most 20"},
		{"POST", "/pins", `{"cid":"` + c + `","meta":{"k":1}}`, 400, "BAD_REQUEST", "meta"},
		{"POST", "/pins", `{"cid":"` + c + `","meta":{"k":"` + strings.Repeat("x", 70000) + `"}}`, 400, "BAD_REQUEST", "bytes, at most"},
		{"POST", "/pins", `{"cid":"` + c + `","meta":{"k":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, "REQUEST_ENTITY_TOO_LARGE", "over"},
		{"GET", "/pins?limit=0", "", 400, "BAD_REQUEST", "limit"},
		{"GET", "/pins?limit=1001", "", 400, "BAD_REQUEST", "limit"},
		{"GET", "/pins?limit=ten", "", 400, "BAD_REQUEST", "limit"},
		{"GET", "/pins?limit=1&limit=2", "", 400, "BAD_REQUEST", "2 times"},
		{"GET", "/pins?status=done", "", 400, "BAD_REQUEST", "status"},
		{"GET", "/pins?status=", "", 400, "BAD_REQUEST", "status is empty"},
		{"GET", "/pins?cid=x", "", 400, "BAD_REQUEST", "cid"},
		{"GET", "/pins?cid=" + strings.Join(cids11, ","), "", 400, "BAD_REQUEST", "at most 10"},
		{"GET", "/pins?before=yesterday", "", 400, "BAD_REQUEST", "before"},
		{"GET", "/pins?after=2020-13-01T00:00:00Z", "", 400, "BAD_REQUEST", "after"},
		{"GET", "/pins?match=fuzzy&name=x", "", 400, "BAD_REQUEST", "match"},
		{"GET", "/pins?meta=map[k:v]", "", 400, "BAD_REQUEST", "meta"},
		{"GET", "/pins?meta=null", "", 400, "BAD_REQUEST", "meta"},
		{"GET", "/pins?name=" + strings.Repeat("n", 256), "", 400, "BAD_REQUEST", "name"},
		{"GET", "/pins/" + c, "", 404, "NOT_FOUND", "no pin request"},
		{"GET", "/pins/" + unknown, "", 404, "NOT_FOUND", "no pin request"},
		{"GET", "/pins/..%2F..%2Fpsa", "", 404, "NOT_FOUND", ""},
		{"DELETE", "/pins/" + unknown, "", 404, "NOT_FOUND", "no pin request"},
		{"POST", "/pins/" + unknown, `{"cid":"` + c + `"}`, 404, "NOT_FOUND", "no pin request"},
		{"POST", "/pins/" + existing, `{"cid":"nope"}`, 400, "BAD_REQUEST", "cid"},
		{"PUT", "/pins", "", 405, "METHOD_NOT_ALLOWED", "PUT"},
		{"PATCH", "/pins/" + existing, "", 405, "METHOD_NOT_ALLOWED", "PATCH"},
		{"GET", "/nothing", "", 404, "NOT_FOUND", ""},
	} {
		before := fc.snapshot()
		code, raw := a.do("", tc.method, tc.path, tc.body)
		var f wireFailure
		json.Unmarshal(raw, &f)
		short := tc.path[:min(len(tc.path), 80)]
		if code != tc.code || f.Error.Reason != tc.reason || !strings.Contains(f.Error.Details, tc.details) {
			t.Errorf("%s %s %.60s = %d %.200s, want %d %s mentioning %q", tc.method, short, tc.body, code, raw, tc.code, tc.reason, tc.details)
		}
		if after := fc.snapshot(); after != before {
			t.Errorf("%s %s %.60s changed the state:\nbefore %s\nafter  %s", tc.method, short, tc.body, before, after)
		}
	}
	if code, raw := a.do("", "PUT", "/pins/"+existing, ""); code != 405 || !strings.Contains(string(raw), "METHOD_NOT_ALLOWED") {
		t.Errorf("PUT /pins/{id} = %d %s, want 405", code, raw)
	}
}

// A pin the cluster cannot place leaves no request behind.
func TestPinFailureLeavesNothing(t *testing.T) {
	fc := newFake()
	a := newTestAPI(t, fc, t0)
	fc.failPin = fmt.Errorf("%w: 1 live peer, 2 needed", placement.ErrNotEnoughPeers)
	code, raw := a.do("", "POST", "/pins", `{"cid":"`+testCid(1).String()+`"}`)
	var f wireFailure
	mustDecode(t, raw, &f)
	if code != http.StatusServiceUnavailable || !strings.Contains(f.Error.Details, "2 needed") {
		t.Errorf("POST /pins with too few peers = %d %s, want 503 with the cause", code, raw)
	}
	for k := range fc.records {
		t.Errorf("record %q left behind", k)
	}
	if res := a.list("", "status=queued,pinning,pinned,failed"); res.Count != 0 {
		t.Errorf("the failed request is listed: %+v", res)
	}
}
