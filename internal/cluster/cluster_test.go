package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
)

func TestThreePeersReplicateAcrossZones(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	c := tc.peers[0].addContent("replicate me across zones")

	// A follower accepts the write and forwards it.
	follower := tc.peers[1]
	if follower.peer.IsLeader() {
		follower = tc.peers[2]
	}
	p, err := follower.peer.Pin(ctx, pin.Pin{Cid: c, Name: "zones"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Allocations) != 3 {
		t.Fatalf("allocations = %v, want 3 peers (max 3, three zones)", p.Allocations)
	}
	// Reads through any other peer see the acknowledged write.
	for _, tp := range tc.peers {
		got, err := tp.peer.Get(ctx, c)
		if err != nil || got.Name != "zones" {
			t.Fatalf("%s Get after ack = %+v, %v", tp.cfg.PeerName, got, err)
		}
	}
	tc.waitPinned(tc.peers[2], c, 3, 20*time.Second)

	// Any peer reports the leader's live view of every member.
	eventually(t, 10*time.Second, "liveness through a follower", func() error {
		live, err := follower.peer.Liveness(ctx)
		if err != nil {
			return err
		}
		if len(live) != 3 {
			return fmt.Errorf("%d members", len(live))
		}
		for _, m := range live {
			if time.Since(m.LastSeen) > 5*time.Second || m.FreeSpace == 0 {
				return fmt.Errorf("member %s: last seen %s, free space %d", m.ID, m.LastSeen, m.FreeSpace)
			}
		}
		return nil
	})

	// Unpin removes it everywhere.
	if err := tc.peers[2].peer.Unpin(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.peers[1].peer.Get(ctx, c); !errors.Is(err, pin.ErrNotFound) {
		t.Fatalf("Get after unpin = %v, want pin.ErrNotFound", err)
	}
	eventually(t, 10*time.Second, "local unpins", func() error {
		for _, tp := range tc.peers {
			if ok, _ := tp.node.IsPinnedRecursively(ctx, c); ok {
				return fmt.Errorf("%s still pins %s", tp.cfg.PeerName, c)
			}
		}
		return nil
	})
}

func TestBadPinsAreRefused(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 1, "z1")
	c := tc.peers[0].addContent("x")
	cases := []pin.Pin{
		{Cid: c, ReplicationMin: 3, ReplicationMax: 2},
		{Cid: c, Mode: "sideways"},
		{Cid: c, ExpireAt: time.Now().Add(-time.Hour)},
	}
	for _, p := range cases {
		if _, err := tc.peers[0].peer.Pin(ctx, p); !errors.Is(err, pin.ErrInvalid) {
			t.Errorf("Pin(%+v) = %v, want ErrInvalid", p, err)
		}
	}
	if _, err := tc.peers[0].peer.Pin(ctx, pin.Pin{Cid: c, ReplicationMin: 2, ReplicationMax: 2}); !errors.Is(err, placement.ErrNotEnoughPeers) {
		t.Errorf("Pin needing 2 peers on a 1-peer cluster = %v, want ErrNotEnoughPeers", err)
	}
	if err := tc.peers[0].peer.Unpin(ctx, c); !errors.Is(err, pin.ErrNotFound) {
		t.Errorf("Unpin of an unknown pin = %v, want pin.ErrNotFound", err)
	}
	var n int
	tc.peers[0].peer.List(ctx, func(pin.Pin) error { n++; return nil })
	if n != 0 {
		t.Fatalf("refused pins left %d entries in the pinset", n)
	}
}

func TestLeaderLossAndRestart(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	old := tc.leader()
	c := old.addContent("survives the leader")
	if _, err := old.peer.Pin(ctx, pin.Pin{Cid: c}); err != nil {
		t.Fatal(err)
	}
	old.stop()
	var survivor *testPeer
	eventually(t, 10*time.Second, "a new leader", func() error {
		for _, tp := range tc.peers {
			if tp.peer != nil && tp.peer.IsLeader() {
				survivor = tp
				return nil
			}
		}
		return errors.New("no leader")
	})
	c2 := survivor.addContent("written under the new leader")
	if _, err := survivor.peer.Pin(ctx, pin.Pin{Cid: c2, ReplicationMin: 1, ReplicationMax: 2}); err != nil {
		t.Fatal(err)
	}
	// The old leader comes back with its old identity and state and sees
	// the write it missed.
	tc.start(old)
	eventually(t, 10*time.Second, "restarted peer catches up", func() error {
		_, err := old.peer.Get(ctx, c2)
		return err
	})
	ms, _ := old.peer.Members(ctx)
	if len(ms) != 3 {
		t.Fatalf("restarted peer sees %d members, want 3", len(ms))
	}
}

func TestPartitionedPeerIsRepairedAndSurplusReleased(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 4, "z1", "z2", "z3")
	leader := tc.leader()
	c := leader.addContent("repair me")
	p, err := leader.peer.Pin(ctx, pin.Pin{Cid: c, ReplicationMin: 2, ReplicationMax: 3})
	if err != nil {
		t.Fatal(err)
	}
	tc.waitPinned(leader, c, 3, 20*time.Second)
	// Cut off one allocated peer that is not the leader.
	victim := -1
	for i, tp := range tc.peers {
		if tp != leader && slices.Contains(p.Allocations, tp.peer.ID()) {
			victim = i
			break
		}
	}
	tc.partition(victim)
	victimID := tc.peers[victim].peer.ID()
	eventually(t, 20*time.Second, "repair allocates elsewhere", func() error {
		got, err := leader.peer.Get(ctx, c)
		if err != nil {
			return err
		}
		if len(got.Allocations) < 4 {
			return fmt.Errorf("allocations %v", got.Allocations)
		}
		return nil
	})
	tc.heal()
	eventually(t, 30*time.Second, "surplus released after the new replica is pinned", func() error {
		got, err := leader.peer.Get(ctx, c)
		if err != nil {
			return err
		}
		if len(got.Allocations) != 3 {
			return fmt.Errorf("allocations %v", got.Allocations)
		}
		return nil
	})
	info := tc.waitPinned(leader, c, 3, 20*time.Second)
	_ = victimID
	_ = info
	// Every peer's state machine counted both moves (the repair, the
	// release): a follower reports them as recent, with no leader asked.
	for _, tp := range tc.peers {
		if tp == leader || tp == tc.peers[victim] {
			continue
		}
		eventually(t, 10*time.Second, "a follower's count of recent moves", func() error {
			n, last := tp.peer.RecentMoves()
			if n < 2 || time.Since(last) > time.Minute || tp.peer.Counts().Moved < 2 {
				return fmt.Errorf("follower %s: RecentMoves() = %d, %v; Counts() = %+v; want 2 moves within the minute", tp.peer.ID(), n, last, tp.peer.Counts())
			}
			return nil
		})
	}
}

// A peer restarted with an empty blockstore (a lost disk, same identity)
// fetches its allocations again by itself.
func TestPeerThatLostItsDiskRefetches(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	src := tc.peers[0]
	c := src.addContent("lost and found")
	if _, err := src.peer.Pin(ctx, pin.Pin{Cid: c, ReplicationMin: 3, ReplicationMax: 3}); err != nil {
		t.Fatal(err)
	}
	tc.waitPinned(src, c, 3, 20*time.Second)
	victim := tc.peers[2]
	victim.stop()
	if err := os.RemoveAll(filepath.Join(victim.dir, "blocks")); err != nil {
		t.Fatal(err)
	}
	tc.start(victim)
	eventually(t, 20*time.Second, "re-fetched after the disk loss", func() error {
		has, err := victim.node.Blocks.Has(ctx, c)
		if err != nil || !has {
			return fmt.Errorf("root block present: %v, %v", has, err)
		}
		return nil
	})
}

// The cluster-wide status streams every pin with every peer's view.
func TestStatusAll(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	want := map[string]bool{}
	for i := range 5 {
		c := tc.peers[i%3].addContent(fmt.Sprintf("status %d", i))
		if _, err := tc.peers[i%3].peer.Pin(ctx, pin.Pin{Cid: c, ReplicationMin: 3, ReplicationMax: 3}); err != nil {
			t.Fatal(err)
		}
		want[c.String()] = true
	}
	eventually(t, 20*time.Second, "every pin pinned on every peer", func() error {
		seen := 0
		err := tc.peers[1].peer.StatusAll(ctx, func(info pin.Info) error {
			seen++
			if !want[info.Pin.Cid.String()] {
				return fmt.Errorf("unexpected pin %s", info.Pin.Cid)
			}
			if len(info.Peers) != 3 {
				return fmt.Errorf("%s: %d peer statuses", info.Pin.Cid, len(info.Peers))
			}
			for _, s := range info.Peers {
				if s.Status != pin.StatusPinned {
					return fmt.Errorf("%s on %s: %s", info.Pin.Cid, s.Peer, s.Status)
				}
			}
			return nil
		})
		if err == nil && seen != len(want) {
			err = fmt.Errorf("streamed %d pins, want %d", seen, len(want))
		}
		return err
	})
}
