package state

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

func testCid(i int) cid.Cid {
	h, _ := mh.Sum([]byte(fmt.Sprint(i)), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

func TestPinCodecRoundTrip(t *testing.T) {
	p := pin.Pin{
		Cid: testCid(1), Name: "n", Mode: pin.Recursive, ReplicationMin: -1, ReplicationMax: -1,
		Allocations: []string{"a", "b"}, UserAllocations: []string{"b"}, Metadata: map[string]string{"k": "v"},
		ExpireAt: time.Unix(1700000000, 5).UTC(), Origins: []string{"/ip4/1.2.3.4/tcp/4001"},
		PinUpdate: testCid(2), Timestamp: time.Unix(1600000000, 0).UTC(),
	}
	got, err := DecodePin(EncodePin(nil, p))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("DecodePin(EncodePin(p)) = %+v, want %+v", got, p)
	}
	if _, err := DecodePin([]byte{0x0a, 0xff}); err == nil {
		t.Fatal("DecodePin of a truncated record = nil error")
	}
}

func TestApplyListAllocationsSnapshot(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ops []Op
	for i := range 100 {
		ops = append(ops, Op{Kind: OpPutPin, Pin: pin.Pin{Cid: testCid(i), Mode: pin.Recursive, Allocations: []string{"a", fmt.Sprint("p", i%2)}}})
	}
	ops = append(ops, Op{Kind: OpPutMember, Member: member.Member{ID: "a", Zone: "z1"}})
	if _, err := s.Apply(1, ops); err != nil {
		t.Fatal(err)
	}
	// Reallocating a pin moves it in the allocation index.
	moved := pin.Pin{Cid: testCid(0), Mode: pin.Recursive, Allocations: []string{"b"}}
	if _, err := s.Apply(2, []Op{{Kind: OpPutPin, Pin: moved}, {Kind: OpDeletePin, Cid: testCid(1)}}); err != nil {
		t.Fatal(err)
	}
	// A replayed entry is skipped.
	if _, err := s.Apply(2, []Op{{Kind: OpDeletePin, Cid: testCid(2)}}); err != nil {
		t.Fatal(err)
	}
	count := func(peer string) int {
		n := 0
		s.ListAllocated(ctx, peer, cid.Undef, func(cid.Cid) error { n++; return nil })
		return n
	}
	if a, b, p0 := count("a"), count("b"), count("p0"); a != 98 || b != 1 || p0 != 49 {
		t.Fatalf("allocations a=%d b=%d p0=%d, want 98, 1, 49", a, b, p0)
	}
	var listed []cid.Cid
	s.List(ctx, cid.Undef, func(p pin.Pin) error { listed = append(listed, p.Cid); return nil })
	if len(listed) != 99 {
		t.Fatalf("List gave %d pins, want 99", len(listed))
	}
	for i := 1; i < len(listed); i++ {
		if bytes.Compare(listed[i-1].Bytes(), listed[i].Bytes()) >= 0 {
			t.Fatal("List is not in CID-byte order")
		}
	}
	var after []cid.Cid
	s.List(ctx, listed[9], func(p pin.Pin) error { after = append(after, p.Cid); return nil })
	if len(after) != 89 || !after[0].Equals(listed[10]) {
		t.Fatalf("List after the 10th pin gave %d pins starting %v", len(after), after[0])
	}

	var buf bytes.Buffer
	snap := s.Snapshot()
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	other, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.Apply(1, []Op{{Kind: OpPutPin, Pin: pin.Pin{Cid: testCid(999)}}})
	if err := other.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if other.Applied() != 2 {
		t.Fatalf("restored applied index = %d, want 2", other.Applied())
	}
	if _, ok, _ := other.Get(testCid(999)); ok {
		t.Fatal("Restore kept a pin that is not in the snapshot")
	}
	if got, ok, _ := other.Get(testCid(0)); !ok || !reflect.DeepEqual(got.Allocations, []string{"b"}) {
		t.Fatalf("restored pin = %+v, %v", got, ok)
	}
	if _, full := other.DrainChanges(); !full {
		t.Fatal("Restore did not ask watchers for a full resync")
	}
}

// Records are applied with the entry, listed by prefix in key order from
// any point, deleted, and carried by snapshots like pins.
func TestRecords(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ops := []Op{
		{Kind: OpPutRecord, Key: "tok/b", Value: []byte("2")},
		{Kind: OpPutRecord, Key: "tok/a", Value: []byte("1")},
		{Kind: OpPutRecord, Key: "tok/c", Value: []byte("3")},
		{Kind: OpPutRecord, Key: "tol", Value: []byte("not a token")},
	}
	if _, err := s.Apply(1, ops); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(2, []Op{{Kind: OpDeleteRecord, Key: "tok/c"}, {Kind: OpPutRecord, Key: "tok/b", Value: []byte("2'")}}); err != nil {
		t.Fatal(err)
	}
	list := func(s *Store, after string) string {
		var out []string
		if err := s.Records(context.Background(), "tok/", after, func(k string, v []byte) error {
			out = append(out, k+"="+string(v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(out)
	}
	if got := list(s, ""); got != "[tok/a=1 tok/b=2']" {
		t.Fatalf("records = %s", got)
	}
	if got := list(s, "tok/a"); got != "[tok/b=2']" {
		t.Fatalf("records after tok/a = %s", got)
	}
	if v, ok, err := s.Record("tok/c"); ok || err != nil {
		t.Fatalf("deleted record = %q %v %v", v, ok, err)
	}
	snap := s.Snapshot()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	other, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got := list(other, ""); got != "[tok/a=1 tok/b=2']" {
		t.Fatalf("restored records = %s", got)
	}
}

// Ops of one entry see the ops before them: a pin put twice, or put and
// deleted, in the same entry leaves the allocation index as the last op
// says.
func TestOneEntryChangesAPinSeveralTimes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(i int, allocs ...string) Op {
		return Op{Kind: OpPutPin, Pin: pin.Pin{Cid: testCid(i), Mode: pin.Recursive, Allocations: allocs}}
	}
	if _, err := s.Apply(1, []Op{put(1, "a"), put(2, "a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(2, []Op{
		put(1, "b"), put(1, "c"), // moved twice
		{Kind: OpDeletePin, Cid: testCid(2)}, put(2, "d"), // deleted, then put again
		put(3, "e"), {Kind: OpDeletePin, Cid: testCid(3)}, // put, then deleted
	}); err != nil {
		t.Fatal(err)
	}
	allocated := func(peer string) []cid.Cid {
		var cs []cid.Cid
		if err := s.ListAllocated(ctx, peer, cid.Undef, func(c cid.Cid) error { cs = append(cs, c); return nil }); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	for peer, want := range map[string][]cid.Cid{
		"a": nil, "b": nil, "c": {testCid(1)}, "d": {testCid(2)}, "e": nil,
	} {
		if got := allocated(peer); !reflect.DeepEqual(got, want) {
			t.Errorf("allocated to %s: %v, want %v", peer, got, want)
		}
	}
	if _, ok, _ := s.Get(testCid(3)); ok {
		t.Error("a pin put then deleted in one entry is stored")
	}
}

// Moving a pin's allocations changes nothing else of it, and does nothing
// to a pin unpinned before the move commits: repair decides allocations
// from a read, and must not bring back a pin unpinned since.
func TestSetAllocationsMovesOnlyExistingPins(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	move := func(i int, allocs ...string) Op {
		return Op{Kind: OpSetAllocations, Pin: pin.Pin{Cid: testCid(i), Allocations: allocs}}
	}
	named := pin.Pin{Cid: testCid(1), Name: "kept", Mode: pin.Recursive, Allocations: []string{"a"}, Metadata: map[string]string{"k": "v"}}
	if _, err := s.Apply(1, []Op{{Kind: OpPutPin, Pin: named}, {Kind: OpPutPin, Pin: pin.Pin{Cid: testCid(2), Allocations: []string{"a"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(2, []Op{
		move(1, "b", "c"),
		{Kind: OpDeletePin, Cid: testCid(2)}, move(2, "b"), // unpinned before the move
		move(3, "b"), // never pinned
		{Kind: OpPutPin, Pin: pin.Pin{Cid: testCid(4), Name: "new", Allocations: []string{"a"}}}, move(4, "d"),
	}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(testCid(1))
	want := named
	want.Allocations = []string{"b", "c"}
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("moved pin = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	for _, i := range []int{2, 3} {
		if _, ok, _ := s.Get(testCid(i)); ok {
			t.Errorf("pin %d exists after a move of a pin that did not", i)
		}
	}
	if got, ok, _ := s.Get(testCid(4)); !ok || got.Name != "new" || !reflect.DeepEqual(got.Allocations, []string{"d"}) {
		t.Errorf("pin put then moved in one entry = %+v, %v", got, ok)
	}
	allocated := func(peer string) (n int) {
		s.ListAllocated(ctx, peer, cid.Undef, func(cid.Cid) error { n++; return nil })
		return n
	}
	if a, b, c, d := allocated("a"), allocated("b"), allocated("c"), allocated("d"); a != 0 || b != 1 || c != 1 || d != 1 {
		t.Errorf("allocation index a=%d b=%d c=%d d=%d, want 0 1 1 1", a, b, c, d)
	}
}
