package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// TestHistoryUnderFaults is a Jepsen-style check: clients pin and unpin
// through random peers while one peer at a time is partitioned away and
// healed. Afterwards every pin's presence must be explained by its last
// acknowledged operation or by an unacknowledged one (which may take effect
// at any time after it was sent), and every pin must reach its replication
// minimum on distinct zones.
func TestHistoryUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection history check; skipped in -short mode")
	}
	checkHistoryUnderFaults(t, newCluster(t, 3, "z1", "z2", "z3"))
}

// The same history check with the peers' blocks in one shared S3 bucket
// (--blockstore s3 --s3-shared).
func TestHistoryUnderFaultsOnSharedS3(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection history check; skipped in -short mode")
	}
	tc, _ := newSharedS3Cluster(t, 3, "z1", "z2", "z3")
	checkHistoryUnderFaults(t, tc)
}

func checkHistoryUnderFaults(t *testing.T, tc *testCluster) {
	const clients, opsPerClient, cidsPerClient = 4, 60, 5

	// Content exists on the peers (unpinned) so that pins can complete.
	type target struct {
		c     cid.Cid
		owner *testPeer
	}
	var targets [clients][]target
	for cl := range clients {
		for i := range cidsPerClient {
			owner := tc.peers[(cl+i)%len(tc.peers)]
			targets[cl] = append(targets[cl], target{owner.addContent(fmt.Sprintf("history %d/%d", cl, i)), owner})
		}
	}

	type outcome struct {
		pinned bool // the operation was a pin
		acked  bool
	}
	var mu sync.Mutex
	history := map[cid.Cid][]outcome{}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stopFaults := make(chan struct{})
	faultsDone := make(chan struct{})
	go func() { // the nemesis: partition one peer, heal, repeat
		defer close(faultsDone)
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stopFaults:
				tc.heal()
				return
			case <-time.After(500 * time.Millisecond):
			}
			tc.partition(rng.IntN(len(tc.peers)))
			select {
			case <-stopFaults:
				tc.heal()
				return
			case <-time.After(1500 * time.Millisecond):
			}
			tc.heal()
		}
	}()

	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), 7))
			for range opsPerClient {
				tg := targets[cl][rng.IntN(len(targets[cl]))]
				via := tc.peers[rng.IntN(len(tc.peers))].peer
				opCtx, opCancel := context.WithTimeout(ctx, 3*time.Second)
				doPin := rng.IntN(3) != 0
				var err error
				if doPin {
					_, err = via.Pin(opCtx, pin.Pin{Cid: tg.c, ReplicationMin: 2, ReplicationMax: 3, Origins: tg.owner.peer.deps.SwarmAddrs()})
				} else {
					err = via.Unpin(opCtx, tg.c)
					if errors.Is(err, pin.ErrNotFound) {
						err = nil // acknowledged: it is not pinned
					}
				}
				opCancel()
				// Think time spreads the operations over several fault
				// cycles (load shaping, not synchronisation).
				time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
				mu.Lock()
				history[tg.c] = append(history[tg.c], outcome{pinned: doPin, acked: err == nil})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stopFaults)
	<-faultsDone

	acked, failed := 0, 0
	for _, ops := range history {
		for _, o := range ops {
			if !o.acked {
				failed++
			}
		}
	}
	for c, ops := range history {
		// Linearizability allows an unacknowledged operation to take
		// effect at any point after it was invoked, even after later
		// acknowledged ones (its client stopped waiting). So the final
		// state must be that of the last acknowledged operation, or that
		// of some unacknowledged one.
		var lastAcked *outcome
		possible := map[bool]bool{}
		for i := range ops {
			if ops[i].acked {
				lastAcked = &ops[i]
			} else {
				possible[ops[i].pinned] = true
			}
		}
		if lastAcked != nil {
			possible[lastAcked.pinned] = true
		}
		last := ops[len(ops)-1]
		if last.acked {
			acked++
		}
		var got pin.Pin
		var err error
		eventually(t, 20*time.Second, "a read after healing", func() error {
			got, err = tc.peers[0].peer.Get(context.Background(), c)
			if err != nil && !errors.Is(err, pin.ErrNotFound) {
				return err
			}
			return nil
		})
		present := err == nil
		if lastAcked != nil && !possible[present] {
			t.Errorf("%s: present=%v, but the last acknowledged op pinned=%v and no unacknowledged op could explain it (history %+v)", c, present, lastAcked.pinned, ops)
			continue
		}
		if !present {
			continue
		}
		// Every present pin reaches its minimum on distinct zones.
		eventually(t, 30*time.Second, fmt.Sprintf("%s on %d zones", c, got.ReplicationMin), func() error {
			info, err := tc.peers[0].peer.Status(context.Background(), c)
			if err != nil {
				return err
			}
			zones := map[string]bool{}
			for _, s := range info.Peers {
				if s.Status == pin.StatusPinned {
					for _, tp := range tc.peers {
						if tp.peer != nil && tp.peer.ID() == s.Peer {
							zones[tp.zone] = true
						}
					}
				}
			}
			if len(zones) < info.Pin.ReplicationMin {
				return fmt.Errorf("pinned on zones %v, want %d", zones, info.Pin.ReplicationMin)
			}
			return nil
		})
	}
	if acked < clients {
		t.Fatalf("only %d acknowledged final operations: the faults starved the clients, the check proves little", acked)
	}
	t.Logf("%d CIDs, %d with an acknowledged last operation, %d operations failed or timed out under faults", len(history), acked, failed)
}
