package placement

import (
	"errors"
	"slices"
	"testing"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

func TestAllocate(t *testing.T) {
	m := func(id, zone string, free uint64, queue int) member.Member {
		return member.Member{ID: id, Zone: zone, FreeSpace: free, QueueLen: queue}
	}
	three := []member.Member{m("a", "z1", 100, 0), m("b", "z1", 500, 0), m("c", "z2", 50, 0), m("d", "z3", 10, 0)}
	cases := []struct {
		name       string
		min, max   int
		user, keep []string
		cands      []member.Member
		want       []string
		err        error
	}{
		{"zones before free space", 2, 3, nil, nil, three, []string{"b", "c", "d"}, nil},
		{"capped by peers", 2, 9, nil, nil, three[:2], []string{"b", "a"}, nil},
		{"too few peers", 3, 3, nil, nil, three[:2], nil, ErrNotEnoughPeers},
		{"everywhere", -1, -1, nil, nil, three, []string{"b", "a", "c", "d"}, nil},
		{"keep counts and its zone is taken", 2, 2, nil, []string{"a"}, three, []string{"a", "c"}, nil},
		{"user allocations first", 1, 2, []string{"d", "zzz"}, nil, three, []string{"d", "b"}, nil},
		{"queue length breaks free-space ties", 1, 1, nil, nil, []member.Member{m("x", "z", 5, 9), m("y", "z", 5, 1)}, []string{"y"}, nil},
		{"repair adds a zone that lacks a replica", 2, 3, nil, []string{"b", "c"}, []member.Member{three[0], three[3]}, []string{"b", "c", "d"}, nil},
	}
	for _, tc := range cases {
		p := pin.Pin{ReplicationMin: tc.min, ReplicationMax: tc.max, UserAllocations: tc.user}
		cands := slices.Clone(tc.cands)
		for _, k := range tc.keep { // kept peers are also healthy candidates
			for _, c := range three {
				if c.ID == k && !slices.ContainsFunc(cands, func(x member.Member) bool { return x.ID == k }) {
					cands = append(cands, c)
				}
			}
		}
		got, err := Allocate(p, tc.keep, cands)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: Allocate error = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Allocate = %v, want %v", tc.name, got, tc.want)
		}
	}
}
