package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// follower returns a peer that does not lead.
func (tc *testCluster) follower() *testPeer {
	for _, tp := range tc.peers {
		if tp.peer != nil && !tp.peer.IsLeader() {
			return tp
		}
	}
	tc.t.Fatal("no follower")
	return nil
}

// wantUpdateOf checks that next is prev updated to c: prev's options and
// peers, with name and expireAt in place of prev's.
func wantUpdateOf(t *testing.T, what string, next, prev pin.Pin, c cid.Cid, name string, expireAt time.Time) {
	t.Helper()
	if !next.Cid.Equals(c) || !next.PinUpdate.Equals(prev.Cid) || next.Name != name || next.Mode != prev.Mode ||
		next.ReplicationMin != prev.ReplicationMin || next.ReplicationMax != prev.ReplicationMax ||
		!reflect.DeepEqual(next.Metadata, prev.Metadata) || !slices.Equal(next.Origins, prev.Origins) || !next.ExpireAt.Equal(expireAt) {
		t.Errorf("%s = %+v, want the options of %+v with name %q and expiry %s", what, next, prev, name, expireAt)
	}
	// As IPFS Cluster's: the new pin goes where the old one is.
	if !slices.Equal(next.UserAllocations, prev.Allocations) || len(next.Allocations) != len(prev.Allocations) ||
		!slices.ContainsFunc(next.Allocations, func(a string) bool { return slices.Contains(prev.Allocations, a) }) {
		t.Errorf("%s allocations = %v (user %v), want those of the old pin, %v", what, next.Allocations, next.UserAllocations, prev.Allocations)
	}
	for _, a := range next.Allocations {
		if !slices.Contains(prev.Allocations, a) {
			t.Errorf("%s allocated to %s, which the old pin is not", what, a)
		}
	}
}

// An update taken by a follower is forwarded as the API got it (the new
// CID, the CID it updates, a name or an expiry) and resolved by the leader
// in the pass that places and commits it: the one call returns the new pin
// with the old one's replication, metadata, origins, expiry and peers, and
// that is the pin every peer reads.
func TestPinUpdateThroughFollowerIsResolvedOnTheLeader(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	via := tc.follower()
	v1, v2, v3 := via.addContent("version 1"), via.addContent("version 2"), via.addContent("version 3")
	expire := time.Now().Add(time.Hour).UTC()
	origins := via.peer.deps.SwarmAddrs()
	if len(origins) == 0 {
		t.Fatal("the follower has no swarm address to give as an origin")
	}
	old, err := tc.peers[0].peer.Pin(ctx, pin.Pin{Cid: v1, Name: "v1", Mode: pin.Recursive, ReplicationMin: 1, ReplicationMax: 2,
		Metadata: map[string]string{"team": "storage"}, ExpireAt: expire, Origins: origins})
	if err != nil {
		t.Fatal(err)
	}
	if len(old.Allocations) != 2 {
		t.Fatalf("old pin allocated to %v, want 2 peers", old.Allocations)
	}

	// The REST API's update: a name, nothing else.
	next, err := via.peer.Pin(ctx, pin.Pin{Cid: v2, PinUpdate: v1, Name: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	wantUpdateOf(t, "update v1 → v2 through a follower", next, old, v2, "v2", expire)
	for _, tp := range tc.peers {
		got, err := tp.peer.Get(ctx, v2)
		if err != nil || !reflect.DeepEqual(got, next) {
			t.Errorf("%s Get(%s) = %+v, %v; want the pin the update answered, %+v", tp.cfg.PeerName, v2, got, err, next)
		}
	}
	if _, err := via.peer.Get(ctx, v1); err != nil {
		t.Errorf("the updated pin is gone: %v (an update keeps it)", err)
	}

	// A new expiry replaces the old one; the name stays the updated pin's.
	later := expire.Add(time.Hour)
	third, err := via.peer.Pin(ctx, pin.Pin{Cid: v3, PinUpdate: v2, ExpireAt: later})
	if err != nil {
		t.Fatal(err)
	}
	wantUpdateOf(t, "update v2 → v3 with an expiry", third, next, v3, "v2", later)

	// An update of what is not pinned is refused as such, and commits
	// nothing.
	absent := via.addContent("never pinned")
	target := via.addContent("never committed")
	if _, err := via.peer.Pin(ctx, pin.Pin{Cid: target, PinUpdate: absent}); !errors.Is(err, pin.ErrNotFound) {
		t.Errorf("update of an absent pin through a follower = %v, want pin.ErrNotFound", err)
	}
	if _, err := via.peer.Get(ctx, target); !errors.Is(err, pin.ErrNotFound) {
		t.Errorf("Get(%s) after a refused update = %v, want pin.ErrNotFound", target, err)
	}
}

// Kubo's pin update through the RPC API of a follower keeps what the REST
// API's keeps, the expiry and the origins included: both leave the update
// to the leader.
func TestKuboPinUpdateKeepsExpiryAndOrigins(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 2, "z1", "z2")
	via := tc.follower()
	srv := httptest.NewServer(kuborpc.NewHandler(kuborpc.Deps{Node: via.node, Cluster: via.peer,
		Logger: slog.New(slog.DiscardHandler), Config: func() any { return nil }}))
	t.Cleanup(srv.Close)
	from, to := via.addContent("kubo version 1"), via.addContent("kubo version 2")
	expire := time.Now().Add(time.Hour).UTC()
	old, err := tc.leader().peer.Pin(ctx, pin.Pin{Cid: from, Name: "site", ReplicationMin: 1, ReplicationMax: 1,
		Metadata: map[string]string{"k": "v"}, ExpireAt: expire, Origins: via.peer.deps.SwarmAddrs()})
	if err != nil {
		t.Fatal(err)
	}

	q := url.Values{"arg": {from.String(), to.String()}}
	resp, err := http.Post(srv.URL+"/api/v0/pin/update?"+q.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pin/update = %d %s", resp.StatusCode, body)
	}
	next, err := via.peer.Get(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	wantUpdateOf(t, "Kubo's pin update", next, old, to, "site", expire)
	if _, err := via.peer.Get(ctx, from); !errors.Is(err, pin.ErrNotFound) {
		t.Errorf("Get(%s) after pin update (unpin by default) = %v, want pin.ErrNotFound", from, err)
	}

	// What is not pinned cannot be updated, in Kubo's words.
	q = url.Values{"arg": {from.String(), to.String()}}
	resp, err = http.Post(srv.URL+"/api/v0/pin/update?"+q.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "not pinned") {
		t.Errorf("pin/update of an unpinned CID = %d %s, want 400 saying it is not pinned", resp.StatusCode, body)
	}
}
