// Package placement decides which peers hold a pin: distinct zones first,
// then the most free space, then the shortest pin queue. It is pure: the
// leader calls it with live metrics and records the result in the log.
package placement

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// ErrNotEnoughPeers means fewer healthy candidates than the pin's minimum.
var ErrNotEnoughPeers = errors.New("not enough peers to allocate")

// Allocate returns the allocations for p. keep are current allocations to
// retain (they count towards the target and their zones are taken);
// candidates are the healthy peers that may be added. The target is the
// pin's maximum capped by the number of usable peers; fewer than the
// minimum is an error.
func Allocate(p pin.Pin, keep []string, candidates []member.Member) ([]string, error) {
	byID := map[string]member.Member{}
	for _, c := range candidates {
		byID[c.ID] = c
	}
	chosen := slices.Clone(keep)
	has := func(id string) bool { return slices.Contains(chosen, id) }

	if p.ReplicationMax == pin.Everywhere {
		for _, c := range sorted(candidates) {
			if !has(c.ID) {
				chosen = append(chosen, c.ID)
			}
		}
		if len(chosen) == 0 {
			return nil, fmt.Errorf("%w: no healthy peer", ErrNotEnoughPeers)
		}
		return chosen, nil
	}

	usable := len(keep)
	for _, c := range candidates {
		if !slices.Contains(keep, c.ID) {
			usable++
		}
	}
	target := min(p.ReplicationMax, usable)
	if target < p.ReplicationMin {
		return nil, fmt.Errorf("%w: pin needs at least %d, %d healthy peers available", ErrNotEnoughPeers, p.ReplicationMin, usable)
	}

	zones := map[string]bool{}
	for _, id := range chosen {
		if m, ok := byID[id]; ok {
			zones[m.Zone] = true
		}
	}
	// The user's choices come first, if they are usable.
	for _, id := range p.UserAllocations {
		if len(chosen) >= target {
			break
		}
		if m, ok := byID[id]; ok && !has(id) {
			chosen = append(chosen, id)
			zones[m.Zone] = true
		}
	}
	rest := sorted(candidates)
	// First pass: one peer per zone not yet holding the pin.
	for _, c := range rest {
		if len(chosen) >= target {
			break
		}
		if !has(c.ID) && !zones[c.Zone] {
			chosen = append(chosen, c.ID)
			zones[c.Zone] = true
		}
	}
	// Second pass: fill up regardless of zone.
	for _, c := range rest {
		if len(chosen) >= target {
			break
		}
		if !has(c.ID) {
			chosen = append(chosen, c.ID)
		}
	}
	return chosen, nil
}

// sorted orders candidates by free space (most first), then queue length
// (shortest first), then ID for determinism.
func sorted(cs []member.Member) []member.Member {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b member.Member) int {
		switch {
		case a.FreeSpace != b.FreeSpace:
			if a.FreeSpace > b.FreeSpace {
				return -1
			}
			return 1
		case a.QueueLen != b.QueueLen:
			return a.QueueLen - b.QueueLen
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
