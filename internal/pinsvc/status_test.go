package pinsvc

import (
	"slices"
	"testing"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

func TestDeriveStatus(t *testing.T) {
	const peerC = "12D3KooWC"
	info := func(min int, allocs []string, sts ...pin.Status) *pin.Info {
		i := &pin.Info{Pin: pin.Pin{Cid: testCid(1), ReplicationMin: min, ReplicationMax: 3, Allocations: allocs}}
		for n, s := range sts {
			i.Peers = append(i.Peers, pin.PeerStatus{Peer: []string{peerA, peerB, peerC}[n], Status: s, Error: "boom"})
		}
		return i
	}
	ab := []string{peerA, peerB}
	abc := []string{peerA, peerB, peerC}
	for _, tc := range []struct {
		name string
		info *pin.Info
		want string
	}{
		{"not in the pinset", nil, statusFailed},
		{"no allocations", info(2, nil, pin.StatusRemote, pin.StatusRemote), statusQueued},
		{"queued everywhere", info(2, ab, pin.StatusPinQueued, pin.StatusPinQueued), statusQueued},
		{"one fetching", info(2, ab, pin.StatusPinning, pin.StatusPinQueued), statusPinning},
		{"one of two needed", info(2, ab, pin.StatusPinned, pin.StatusPinQueued), statusPinning},
		{"min reached, third still queued", info(2, abc, pin.StatusPinned, pin.StatusPinned, pin.StatusPinQueued), statusPinned},
		{"min 1", info(1, ab, pin.StatusPinQueued, pin.StatusPinned), statusPinned},
		{"everywhere needs all", info(pin.Everywhere, abc, pin.StatusPinned, pin.StatusPinned, pin.StatusPinning), statusPinning},
		{"everywhere, all", info(pin.Everywhere, abc, pin.StatusPinned, pin.StatusPinned, pin.StatusPinned), statusPinned},
		{"min above allocations", info(3, ab, pin.StatusPinned, pin.StatusPinned), statusPinned},
		{"error, nothing fetching", info(2, ab, pin.StatusPinError, pin.StatusPinQueued), statusFailed},
		{"error, other fetching", info(2, ab, pin.StatusPinError, pin.StatusPinning), statusPinning},
		{"error, other pinned", info(2, ab, pin.StatusPinned, pin.StatusPinError), statusFailed},
		{"unreachable peer", info(2, ab, pin.StatusPinned, pin.StatusClusterErr), statusPinning},
		{"unreachable only", info(2, ab, pin.StatusClusterErr, pin.StatusClusterErr), statusQueued},
		{"not allocated peers ignored", info(1, []string{peerC}, pin.StatusPinError, pin.StatusPinError, pin.StatusPinned), statusPinned},
	} {
		if got, details := deriveStatus(tc.info); got != tc.want || details == "" {
			t.Errorf("deriveStatus(%s) = %s (%q), want %s", tc.name, got, details, tc.want)
		}
	}
}

func TestDelegates(t *testing.T) {
	var members []member.Member
	for _, id := range []string{peerA, peerB} {
		m := member.Member{ID: id}
		for i := range 15 {
			m.SwarmAddrs = append(m.SwarmAddrs, "/ip4/127.0.0.1/tcp/"+string(rune('a'+i))+"/p2p/"+id, "/ip4/127.0.0.1/tcp/1")
		}
		members = append(members, m)
	}
	got := delegates(nil, members)
	if len(got) != maxDelegates || got[0] != members[0].SwarmAddrs[0] || got[1] != members[1].SwarmAddrs[0] {
		t.Errorf("delegates of every member = %d %q, want %d taken in turn from each", len(got), got[:2], maxDelegates)
	}
	only := delegates(&pin.Info{Pin: pin.Pin{Allocations: []string{peerB}}}, members)
	if len(only) != 15 || slices.ContainsFunc(only, func(a string) bool { return !slices.Contains(members[1].SwarmAddrs, a) }) {
		t.Errorf("delegates of a pin on %s = %q, want its 15 /p2p/ addresses only", peerB, only)
	}
	if got := delegates(nil, []member.Member{{ID: peerA}}); got == nil || len(got) != 0 {
		t.Errorf("delegates without addresses = %#v, want an empty list", got)
	}
}
