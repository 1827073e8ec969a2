package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// newLeader waits until a peer other than old leads.
func (tc *testCluster) newLeader(old *testPeer) *testPeer {
	tc.t.Helper()
	var lead *testPeer
	eventually(tc.t, 15*time.Second, "a new leader", func() error {
		for _, tp := range tc.peers {
			if tp != old && tp.peer != nil && tp.peer.IsLeader() {
				lead = tp
				return nil
			}
		}
		var views []string // what each peer thinks, for a failure to explain itself
		for _, tp := range tc.peers {
			if tp != old && tp.peer != nil {
				st := tp.peer.raft.Stats()
				views = append(views, fmt.Sprintf("%s: %s term %s, config %s", tp.cfg.PeerName, st["state"], st["term"], st["latest_configuration"]))
			}
		}
		return fmt.Errorf("no new leader: %s", strings.Join(views, "; "))
	})
	return lead
}

// unpinUnderLoad unpins fakeCid(0..n-1) from workers goroutines, worker w
// through via(w), calls disrupt once a third of them are done, and returns
// the unpins that failed.
func unpinUnderLoad(ctx context.Context, n, workers int, via func(w int) *Peer, disrupt func()) []error {
	jobs := make(chan int)
	var done atomic.Int64
	var mu sync.Mutex
	var failures []error
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := via(w).Unpin(ctx, fakeCid(i)); err != nil {
					mu.Lock()
					failures = append(failures, fmt.Errorf("unpin %d: %w", i, err))
					mu.Unlock()
				}
				done.Add(1)
			}
		})
	}
	disrupted := false
	for i := range n {
		if !disrupted && done.Load() >= int64(n/3) {
			disrupt()
			disrupted = true
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return failures
}

// The old leader applies a forwarded unpin and dies before answering; the
// follower repeats the call, which reaches the new leader: the answer must
// be the first attempt's (done), not "no such pin". Another request to
// unpin the same CID is told it is not there.
func TestRepeatedUnpinAnswersAsTheFirstAttempt(t *testing.T) {
	tc := newCluster(t, 3, "z1", "z2", "z3")
	tc.waitMembers(3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old := tc.leader()
	follower := tc.peers[slices.IndexFunc(tc.peers, func(tp *testPeer) bool { return tp != old })]
	c := fakeCid(0)
	if _, err := follower.peer.Pin(ctx, pin.Pin{Cid: c}); err != nil {
		t.Fatal(err)
	}

	attempt := withRequestID(ctx, "unpin-after-a-lost-answer")
	if _, err := toLeader(attempt, follower.peer, unpinCall, cidReq{Cid: c.String()}); err != nil {
		t.Fatal(err)
	}
	tc.partition(slices.Index(tc.peers, old))
	lead := tc.newLeader(old)
	eventually(t, 10*time.Second, "the follower knows the new leader", func() error {
		if follower.peer.Leader() != lead.peer.deps.ID {
			return errors.New("not yet")
		}
		return nil
	})
	if _, err := toLeader(attempt, follower.peer, unpinCall, cidReq{Cid: c.String()}); err != nil {
		t.Fatalf("repeated unpin at the new leader: %v, want the first attempt's success", err)
	}
	if err := follower.peer.Unpin(ctx, c); !errors.Is(err, pin.ErrNotFound) {
		t.Fatalf("a new unpin of the absent pin = %v, want pin.ErrNotFound", err)
	}
}

// Clients unpin through the followers while the leader is cut off mid-way:
// every unpin succeeds exactly as if nothing happened, and none of the pins
// is left.
func TestUnpinsThroughFollowersWhileTheLeaderDies(t *testing.T) {
	tc := newCluster(t, 3, "z1", "z2", "z3")
	tc.waitMembers(3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old := tc.leader()
	var followers []*testPeer
	for _, tp := range tc.peers {
		if tp != old {
			followers = append(followers, tp)
		}
	}
	const n, workers = 600, 16
	for i := range n {
		if _, err := followers[i%2].peer.Pin(ctx, pin.Pin{Cid: fakeCid(i), ReplicationMin: 1, ReplicationMax: 1}); err != nil {
			t.Fatal(err)
		}
	}

	failures := unpinUnderLoad(ctx, n, workers, func(w int) *Peer { return followers[w%2].peer }, func() {
		tc.partition(slices.Index(tc.peers, old))
	})
	if len(failures) > 0 {
		t.Fatalf("%d of %d unpins failed, first: %v", len(failures), n, failures[0])
	}
	lead := tc.newLeader(old)
	left := 0
	err := lead.peer.List(ctx, func(pin.Pin) error { left++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d pins left after every unpin succeeded", left)
	}
}

// A peer cut off from the quorum answers writes, and an add's allocation,
// with pin.ErrUnavailable once it has looked for a leader for noLeaderWait,
// instead of holding the client until the client gives up.
func TestWritesWithoutALeaderFailPromptly(t *testing.T) {
	defer func(old time.Duration) { noLeaderWait = old }(noLeaderWait)
	noLeaderWait = time.Second
	tc := newCluster(t, 3, "z1", "z2", "z3")
	var cut *testPeer
	for i, tp := range tc.peers {
		if !tp.peer.IsLeader() {
			cut = tp
			tc.partition(i)
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for what, write := range map[string]func() error{
		"pin": func() error {
			_, err := cut.peer.Pin(ctx, pin.Pin{Cid: fakeCid(1), Mode: pin.Recursive})
			return err
		},
		"allocate": func() error {
			_, err := cut.peer.Allocate(ctx, pin.Pin{Cid: fakeCid(2), Mode: pin.Recursive})
			return err
		},
	} {
		start := time.Now()
		err := write()
		if !errors.Is(err, pin.ErrUnavailable) {
			t.Fatalf("%s through a peer without a leader: %v, want ErrUnavailable", what, err)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Fatalf("%s failed only after %s", what, took)
		}
	}
}

// Unpins sent to the leader itself while it hands leadership over: those
// whose entry was under way when it stopped leading are answered by the
// new leader, as the first attempt would have been (success, not an error
// and not 404).
func TestUnpinsThroughTheLeaderDuringATransfer(t *testing.T) {
	tc := newCluster(t, 3, "z1", "z2", "z3")
	tc.waitMembers(3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old := tc.leader()
	const n, workers = 600, 16
	for i := range n {
		if _, err := old.peer.Pin(ctx, pin.Pin{Cid: fakeCid(i), ReplicationMin: 1, ReplicationMax: 1}); err != nil {
			t.Fatal(err)
		}
	}
	failures := unpinUnderLoad(ctx, n, workers, func(int) *Peer { return old.peer }, func() {
		if err := old.peer.raft.LeadershipTransfer(); err != nil {
			t.Error(err)
		}
	})
	if len(failures) > 0 {
		t.Fatalf("%d of %d unpins failed, first: %v", len(failures), n, failures[0])
	}
	left := 0
	if err := tc.newLeader(old).peer.List(ctx, func(pin.Pin) error { left++; return nil }); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d pins left after every unpin succeeded", left)
	}
}
