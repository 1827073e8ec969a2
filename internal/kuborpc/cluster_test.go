package kuborpc_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	cid "github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// fakeCluster keeps the pinset in memory and records the pin requests it
// gets; it resolves nothing (the leader does, see internal/cluster).
type fakeCluster struct {
	mu       sync.Mutex
	pins     map[cid.Cid]pin.Pin
	requests []pin.Pin
}

func (f *fakeCluster) ID() string { return "12D3KooWCwWzQLXNptWMq6DAGe4nCQbMiwW2aBV2NtyiztvCAHBc" }

func (f *fakeCluster) Pin(ctx context.Context, p pin.Pin) (pin.Pin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, p)
	if _, ok := f.pins[p.PinUpdate]; p.IsUpdate() && !ok {
		return pin.Pin{}, fmt.Errorf("%w: %s", pin.ErrNotFound, p.PinUpdate)
	}
	f.pins[p.Cid] = p
	return p, nil
}

func (f *fakeCluster) Unpin(ctx context.Context, c cid.Cid) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pins[c]; !ok {
		return fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	delete(f.pins, c)
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

func (f *fakeCluster) List(ctx context.Context, fn func(pin.Pin) error) error { return nil }

func (f *fakeCluster) PinnedOn(ctx context.Context, c cid.Cid) (int, error) { return 1, nil }

// Kubo's pin update sends the cluster the update as asked, the new CID and
// the one it updates, and nothing it would have to fill in (and could
// drop): the leader gives the new pin the old one's options, expiry and
// origins included.
func TestClusterPinUpdateLeavesTheUpdateToTheCluster(t *testing.T) {
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{
		Blocks: dssync.MutexWrap(ds.NewMapDatastore()), Meta: dssync.MutexWrap(ds.NewMapDatastore()),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); n.Pins.Close() })
	from := cid.MustParse("QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN")
	to := cid.MustParse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
	fc := &fakeCluster{pins: map[cid.Cid]pin.Pin{from: {Cid: from, Name: "site"}}}
	srv := httptest.NewServer(kuborpc.NewHandler(kuborpc.Deps{Node: n, Cluster: fc, Logger: slog.New(slog.DiscardHandler), Config: func() any { return nil }}))
	t.Cleanup(srv.Close)
	update := func(a, b cid.Cid, unpin string) (int, string) {
		resp, out := call(t, srv, "pin/update", url.Values{"arg": {a.String(), b.String()}, "unpin": {unpin}}, nil)
		return resp.StatusCode, out
	}

	// A CID updated to itself stays as it is: nothing is sent, nothing
	// unpinned (as Kubo).
	if code, out := update(from, from, "true"); code != 200 || len(fc.requests) != 0 {
		t.Fatalf("pin/update of a CID to itself = %d %q, requests %+v; want 200 and none", code, out, fc.requests)
	}
	if _, err := fc.Get(context.Background(), from); err != nil {
		t.Fatalf("pin/update of a CID to itself unpinned it: %v", err)
	}

	if code, out := update(from, to, "true"); code != 200 {
		t.Fatalf("pin/update = %d %q", code, out)
	}
	if want := []pin.Pin{{Cid: to, PinUpdate: from}}; !reflect.DeepEqual(fc.requests, want) {
		t.Errorf("pin/update sent %+v, want %+v", fc.requests, want)
	}
	if _, err := fc.Get(context.Background(), from); err == nil {
		t.Errorf("pin/update with unpin=true left %s pinned", from)
	}

	// The pin to update is not there: Kubo's client error.
	if code, out := update(from, to, "false"); code != 400 || !strings.Contains(out, "not pinned") || !strings.Contains(out, from.String()) {
		t.Errorf("pin/update of an unpinned CID = %d %q, want 400 saying %s is not pinned", code, out, from)
	}
}
