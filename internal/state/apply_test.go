package state

import (
	"errors"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// An op refused for its content is reported in its slot and the rest of the
// entry applies; an op this version cannot apply fails the whole entry and
// leaves the applied index where it was.
func TestApplyRejectsOpsAndFailsEntries(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rejected, err := s.Apply(1, []Op{
		{Kind: OpPutPin, Pin: pin.Pin{Cid: testCid(1), Mode: pin.Recursive}},
		{Kind: OpPutPin}, // no CID
		{Kind: OpPutRecord, Key: "k", Value: []byte("v")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 3 || rejected[0] != nil || !errors.Is(rejected[1], ErrRejected) || rejected[2] != nil {
		t.Fatalf("rejected = %v, want only op 1 rejected", rejected)
	}
	if _, ok, _ := s.Get(testCid(1)); !ok {
		t.Fatal("the valid pin of an entry with a rejected op was not applied")
	}
	if s.Applied() != 1 {
		t.Fatalf("applied = %d, want 1", s.Applied())
	}

	if _, err := s.Apply(2, []Op{{Kind: OpDeletePin, Cid: testCid(1)}, {Kind: 200}}); err == nil {
		t.Fatal("an unknown op kind applied without error")
	}
	if s.Applied() != 1 {
		t.Fatalf("applied = %d after a failed entry, want 1", s.Applied())
	}
	if _, ok, _ := s.Get(testCid(1)); !ok {
		t.Fatal("a failed entry applied part of its ops")
	}
}

func TestRequestsAreRememberedThenForgotten(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.Apply(1, []Op{{Kind: OpRequest, ID: "a", At: t0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(2, []Op{{Kind: OpRequest, ID: "b", At: t0.Add(RequestMemory / 2)}}); err != nil {
		t.Fatal(err)
	}
	seen := func(id string) bool {
		ok, err := s.SeenRequest(id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !seen("a") || !seen("b") || seen("c") {
		t.Fatalf("seen a, b, c = %v, %v, %v; want true, true, false", seen("a"), seen("b"), seen("c"))
	}
	// A request older than RequestMemory by the clock of the latest entry
	// is forgotten; a younger one is kept.
	if _, err := s.Apply(3, []Op{{Kind: OpRequest, ID: "c", At: t0.Add(RequestMemory + time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if seen("a") || !seen("b") || !seen("c") {
		t.Fatalf("after expiry seen a, b, c = %v, %v, %v; want false, true, true", seen("a"), seen("b"), seen("c"))
	}
}
