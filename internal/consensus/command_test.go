package consensus

import (
	"bytes"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// Log entries come from other peers' disks and networks: decoding any
// bytes fails cleanly or gives ops whose encoding is stable (fields an op
// of its kind does not carry are dropped once, then nothing changes).
func FuzzDecodeOps(f *testing.F) {
	f.Add(encodeOps([]state.Op{
		{Kind: state.OpPutPin, Pin: pin.Pin{Cid: testCid(1), Name: "n", Mode: pin.Recursive, Allocations: []string{"a", "b"}}},
		{Kind: state.OpDeletePin, Cid: testCid(2)},
		{Kind: state.OpPutMember, Member: member.Member{ID: "m", Zone: "z"}},
		{Kind: state.OpDeleteMember, ID: "m"},
		{Kind: state.OpPutRecord, Key: "k", Value: []byte("v")},
		{Kind: state.OpDeleteRecord, Key: "k"},
		{Kind: state.OpRequest, ID: "r", At: time.Unix(1700000000, 0).UTC()},
	}))
	f.Add([]byte{byte(cmdOps)})
	f.Add([]byte{0xff, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := decodeOps(data)
		if err != nil {
			return
		}
		once := encodeOps(ops)
		again, err := decodeOps(once)
		if err != nil {
			t.Fatalf("re-encoded ops do not decode: %v", err)
		}
		if twice := encodeOps(again); !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable:\n%x\n%x", once, twice)
		}
		if len(again) != len(ops) {
			t.Fatalf("%d ops decoded again from %d", len(again), len(ops))
		}
	})
}
