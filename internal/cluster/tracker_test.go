package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// fakeNode is a LocalPinner in memory: it holds the roots listed in has,
// and fails PinMany for the others.
type fakeNode struct {
	mu      sync.Mutex
	has     map[cid.Cid]bool
	pinned  map[cid.Cid]bool
	batches int
	onPin   func() // called on every PinMany, if set
}

func (f *fakeNode) PinMany(ctx context.Context, ts []ipfs.PinTarget, done func(int, error)) {
	f.mu.Lock()
	f.batches++
	onPin := f.onPin
	f.mu.Unlock()
	if onPin != nil {
		onPin()
	}
	for i, t := range ts {
		f.mu.Lock()
		ok := f.has[t.Cid]
		if ok {
			f.pinned[t.Cid] = true
		}
		f.mu.Unlock()
		if ok {
			done(i, nil)
		} else {
			done(i, ipfs.ErrNotFound)
		}
	}
}
func (f *fakeNode) PinAdd(context.Context, []cid.Cid, bool, string) error {
	return errors.New("unused")
}
func (f *fakeNode) PinRm(_ context.Context, cs []cid.Cid, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.pinned, c)
	}
	return nil
}
func (f *fakeNode) PinUpdate(context.Context, cid.Cid, cid.Cid, bool) error {
	return errors.New("unused")
}
func (f *fakeNode) PinReceived(context.Context, cid.Cid, string) (bool, error) {
	return false, nil
}
func (f *fakeNode) Received(cid.Cid) bool { return false }
func (f *fakeNode) IsPinnedRecursively(_ context.Context, c cid.Cid) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pinned[c], nil
}
func (f *fakeNode) HasBlock(_ context.Context, c cid.Cid) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.has[c], nil
}
func (f *fakeNode) Online() bool                      { return true }
func (f *fakeNode) Connect(context.Context, []string) {}

// newTestTracker returns a tracker of the peer "self" over a fresh state
// and held index and a node in memory, not started.
func newTestTracker(t *testing.T) (*state.Store, *heldIndex, *fakeNode, *tracker) {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	index, err := openHeldIndex(filepath.Join(t.TempDir(), "held"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { index.Close() })
	node := &fakeNode{has: map[cid.Cid]bool{}, pinned: map[cid.Cid]bool{}}
	tr := newTracker(trackerDeps{self: "self", node: node, state: st, index: index, workers: 2, timeout: time.Minute,
		swarmAddrs: func(member.Member) []string { return nil },
		fetch:      func(context.Context, pin.Pin) error { return errors.New("unused") },
		log:        slog.New(slog.DiscardHandler)})
	return st, index, node, tr
}

// startTracker runs tr until the test ends.
func startTracker(t *testing.T, tr *tracker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// The tracker pins what the state allocates to its peer, in batches, and
// unpins what leaves; a pin it cannot get is retried, then reported as
// pin_error; status listings read the held index it keeps.
func TestTrackerFollowsTheState(t *testing.T) {
	ctx := context.Background()
	st, index, node, tr := newTestTracker(t)
	const mine, others = 300, 20
	var ops []state.Op
	for i := range mine + others {
		alloc := "self"
		if i >= mine {
			alloc = "other"
		} else {
			node.has[fakeCid(i)] = true
		}
		ops = append(ops, state.Op{Kind: state.OpPutPin, Pin: pin.Pin{Cid: fakeCid(i), Mode: pin.Recursive, Allocations: []string{alloc}}})
	}
	missing := fakeCid(10_000) // allocated here, held by nobody
	ops = append(ops, state.Op{Kind: state.OpPutPin, Pin: pin.Pin{Cid: missing, Mode: pin.Recursive, Allocations: []string{"self"}}})
	if _, err := st.Apply(1, ops); err != nil {
		t.Fatal(err)
	}
	startTracker(t, tr)

	eventually(t, 10*time.Second, "allocated pins pinned", func() error {
		for i := range mine {
			if s := tr.status(ctx, pin.Pin{Cid: fakeCid(i), Allocations: []string{"self"}}); s.Status != pin.StatusPinned {
				return errors.New(string(s.Status))
			}
		}
		return nil
	})
	node.mu.Lock()
	batches, pinned := node.batches, len(node.pinned)
	node.mu.Unlock()
	if pinned != mine {
		t.Fatalf("%d pinned on the node, want the %d allocated here", pinned, mine)
	}
	if batches >= mine/2 {
		t.Fatalf("%d PinMany calls for %d pins, want batches", batches, mine)
	}
	if s := tr.status(ctx, pin.Pin{Cid: fakeCid(mine), Allocations: []string{"other"}}); s.Status != pin.StatusRemote {
		t.Fatalf("status of a pin allocated elsewhere = %s, want remote", s.Status)
	}
	s := tr.status(ctx, pin.Pin{Cid: missing, Allocations: []string{"self"}})
	if s.Status != pin.StatusPinQueued && s.Status != pin.StatusPinning && s.Status != pin.StatusPinError {
		t.Fatalf("status of an unreachable pin = %s", s.Status)
	}

	// Deallocated: unpinned, and the index says so.
	if _, err := st.Apply(2, []state.Op{{Kind: state.OpPutPin, Pin: pin.Pin{Cid: fakeCid(0), Mode: pin.Recursive, Allocations: []string{"other"}}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "deallocated pin unpinned", func() error {
		if ok, _ := node.IsPinnedRecursively(ctx, fakeCid(0)); ok || index.has(fakeCid(0)) {
			return errors.New("still pinned")
		}
		return nil
	})
}

// A tracker remembers at most maxOps pin operations: the rest of a bulk
// import waits, shown as queued, and is scheduled as the queue drains,
// until every pin is held.
func TestTrackerBoundsItsQueue(t *testing.T) {
	st, _, node, tr := newTestTracker(t)
	tr.maxOps = 16
	var peak int
	node.onPin = func() {
		tr.mu.Lock()
		peak = max(peak, len(tr.ops))
		tr.mu.Unlock()
	}
	startTracker(t, tr)

	// Applied while the tracker runs: they arrive by the change feed,
	// several entries of many pins each.
	const n = 1000
	for e := range 10 {
		var ops []state.Op
		for i := e * n / 10; i < (e+1)*n/10; i++ {
			node.mu.Lock()
			node.has[fakeCid(i)] = true
			node.mu.Unlock()
			ops = append(ops, state.Op{Kind: state.OpPutPin, Pin: pin.Pin{Cid: fakeCid(i), Mode: pin.Recursive, Allocations: []string{"self"}}})
		}
		if _, err := st.Apply(uint64(e+1), ops); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "every allocated pin pinned", func() error {
		node.mu.Lock()
		pinned := len(node.pinned)
		node.mu.Unlock()
		if pinned != n {
			return fmt.Errorf("%d of %d pinned", pinned, n)
		}
		return nil
	})
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if peak > tr.maxOps {
		t.Fatalf("the tracker held %d ops at once, more than its bound of %d", peak, tr.maxOps)
	}
}

// An operation that failed its last attempt counts in errors (which the
// heartbeat reports) and not in the queue; a recover takes it out again.
func TestTrackerCountsErrors(t *testing.T) {
	ctx := context.Background()
	st, _, _, tr := newTestTracker(t)
	c := fakeCid(1) // the fake node does not have it
	if _, err := st.Apply(1, []state.Op{{Kind: state.OpPutPin, Pin: pin.Pin{Cid: c, Mode: pin.Recursive, Allocations: []string{"self"}}}}); err != nil {
		t.Fatal(err)
	}
	tr.schedule(c, false)
	op, ok := tr.claim(c)
	if !ok {
		t.Fatal("the scheduled pin could not be claimed")
	}
	tr.finish(ctx, c, ipfs.ErrNotFound, maxAttempts)
	if got, q := tr.errors(), tr.queueLen(); got != 1 || q != 0 {
		t.Fatalf("after the last attempt of %v failed: errors() = %d, queueLen() = %d, want 1, 0", op.c, got, q)
	}
	tr.recover(ctx, c)
	if got, q := tr.errors(), tr.queueLen(); got != 0 || q != 1 {
		t.Fatalf("after a recover: errors() = %d, queueLen() = %d, want 0, 1", got, q)
	}
}
