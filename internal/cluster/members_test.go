package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// An operator removes a live follower through another follower: its pins
// move to the remaining peers at once and it leaves the members and raft.
// Removing the leader hands leadership over first; the last peer and
// unknown peers are refused.
func TestRemoveMember(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	leader := tc.leader()
	var followers []*testPeer
	for _, tp := range tc.peers {
		if tp != leader {
			followers = append(followers, tp)
		}
	}
	victim, via := followers[0], followers[1]
	gone := victim.peer.ID()

	// One pin held only by the victim, one on two peers including it.
	only := tc.peers[0].addContent("held by the victim alone")
	pair := tc.peers[0].addContent("held by the victim and one more")
	// The origins tell whoever is allocated where to fetch from.
	var origins []string
	for _, a := range tc.peers[0].net.Host.Addrs() {
		origins = append(origins, a.String()+"/p2p/"+tc.peers[0].peer.ID())
	}
	if _, err := via.peer.Pin(ctx, pin.Pin{Cid: only, ReplicationMin: 1, ReplicationMax: 1, UserAllocations: []string{gone}, Origins: origins}); err != nil {
		t.Fatal(err)
	}
	if _, err := via.peer.Pin(ctx, pin.Pin{Cid: pair, ReplicationMin: 2, ReplicationMax: 2, UserAllocations: []string{gone}, Origins: origins}); err != nil {
		t.Fatal(err)
	}
	tc.waitPinned(via, only, 1, time.Minute)
	tc.waitPinned(via, pair, 2, time.Minute)

	if err := via.peer.RemoveMember(ctx, "12D3KooWNotAMemberNotAMemberNotAMemberNotAMember"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("RemoveMember(unknown) = %v, want ErrNotMember", err)
	}

	if err := via.peer.RemoveMember(ctx, gone); err != nil {
		t.Fatalf("RemoveMember(%s): %v", gone, err)
	}
	// Acknowledged: the leader's members and raft no longer have it, nor
	// do the allocations (reads through any peer); the other follower's
	// member list follows (Members reads local state).
	notGone := func(tp *testPeer) error {
		ms, err := tp.peer.Members(ctx)
		if err != nil {
			return err
		}
		if len(ms) != 2 || slices.ContainsFunc(ms, func(m member.Member) bool { return m.ID == gone }) {
			return fmt.Errorf("%s: members after removal = %v", tp.cfg.PeerName, ms)
		}
		return nil
	}
	if err := notGone(leader); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the removal reaches the other follower", func() error { return notGone(via) })
	servers, err := leader.peer.raft.Servers()
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == gone }) {
		t.Fatalf("raft servers after removal = %v", servers)
	}
	for c, want := range map[cid.Cid]int{only: 1, pair: 2} {
		p, err := via.peer.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if p.AllocatedTo(gone) || len(p.Allocations) != want {
			t.Errorf("%s allocations after removal = %v, want %d without %s", c, p.Allocations, want, gone)
		}
	}
	tc.waitPinned(via, only, 1, time.Minute)
	tc.waitPinned(via, pair, 2, time.Minute)

	// Removing the leader: another voter takes over and removes it.
	old := leader.peer.ID()
	if err := via.peer.RemoveMember(ctx, old); err != nil {
		t.Fatalf("RemoveMember(leader): %v", err)
	}
	eventually(t, 20*time.Second, "the remaining peer leads alone", func() error {
		if !via.peer.IsLeader() {
			return errors.New("not leading")
		}
		ms, err := via.peer.Members(ctx)
		if err != nil {
			return err
		}
		if len(ms) != 1 || ms[0].ID != via.peer.ID() {
			return fmt.Errorf("members = %v", ms)
		}
		return nil
	})
	for _, c := range []cid.Cid{only, pair} {
		p, err := via.peer.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Allocations, []string{via.peer.ID()}) {
			t.Errorf("%s allocations = %v, want only %s", c, p.Allocations, via.peer.ID())
		}
	}

	// The last peer stays.
	if err := via.peer.RemoveMember(ctx, via.peer.ID()); !errors.Is(err, ErrRemoveRefused) {
		t.Fatalf("RemoveMember(last peer) = %v, want ErrRemoveRefused", err)
	}
}
