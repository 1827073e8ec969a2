package state

import (
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Apply counts the pins it put, deleted and moved (not a move of a pin
// already gone, not a rejected op, not a replayed entry), and the moves of
// the last minute read from a ring that forgets older seconds.
func TestApplyCountsPinOperations(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ops := []Op{
		{Kind: OpPutPin, Pin: pin.Pin{Cid: testCid(1), Mode: pin.Recursive, Allocations: []string{"a"}}},
		{Kind: OpPutPin, Pin: pin.Pin{Cid: testCid(2), Mode: pin.Recursive, Allocations: []string{"a"}}},
		{Kind: OpPutPin}, // rejected
	}
	if _, err := s.Apply(1, ops); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(1, ops); err != nil { // a replay: skipped
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := s.Apply(2, []Op{
		{Kind: OpSetAllocations, Pin: pin.Pin{Cid: testCid(1), Allocations: []string{"b"}}},
		{Kind: OpSetAllocations, Pin: pin.Pin{Cid: testCid(9), Allocations: []string{"b"}}}, // no such pin
		{Kind: OpDeletePin, Cid: testCid(2)},
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Counts(), (Counts{Pinned: 2, Unpinned: 1, Moved: 1}); got != want {
		t.Fatalf("Counts() = %+v, want %+v", got, want)
	}
	n, last := s.RecentMoves(time.Now())
	if n != 1 || last.Before(before) {
		t.Fatalf("RecentMoves(now) = %d, %v, want 1 at or after %v", n, last, before)
	}
	if n, _ := s.RecentMoves(time.Now().Add(MoveWindow + time.Second)); n != 0 {
		t.Fatalf("RecentMoves(a minute later) = %d, want 0", n)
	}
}
