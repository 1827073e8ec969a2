package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	cid "github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// commandType is the first byte of every raft log entry flotilla writes.
// The numbers are persisted: append only, never reuse one.
type commandType byte

const (
	// cmdOps carries a batch of state operations (group commit).
	cmdOps commandType = 1
)

// Op fields inside a cmdOps entry (protobuf wire format, field numbers
// append-only).
const (
	opKind   = 1
	opPin    = 2 // state.EncodePin
	opCid    = 3
	opMember = 4 // state.EncodeMember
	opID     = 5
	opKey    = 6
	opValue  = 7
	opAt     = 8 // unix nanoseconds
	opsOp    = 1 // repeated op in the entry body
)

var errBadCommand = errors.New("consensus: malformed log entry")

// encodeOps builds a cmdOps log entry.
func encodeOps(ops []state.Op) []byte {
	b := []byte{byte(cmdOps)}
	var op []byte
	for _, o := range ops {
		op = op[:0]
		op = protowire.AppendTag(op, opKind, protowire.VarintType)
		op = protowire.AppendVarint(op, uint64(o.Kind))
		switch o.Kind {
		case state.OpPutPin, state.OpSetAllocations:
			op = protowire.AppendTag(op, opPin, protowire.BytesType)
			op = protowire.AppendBytes(op, state.EncodePin(nil, o.Pin))
		case state.OpDeletePin:
			op = protowire.AppendTag(op, opCid, protowire.BytesType)
			op = protowire.AppendBytes(op, o.Cid.Bytes())
		case state.OpPutMember:
			op = protowire.AppendTag(op, opMember, protowire.BytesType)
			op = protowire.AppendBytes(op, state.EncodeMember(nil, o.Member))
		case state.OpDeleteMember:
			op = protowire.AppendTag(op, opID, protowire.BytesType)
			op = protowire.AppendString(op, o.ID)
		case state.OpPutRecord:
			op = protowire.AppendTag(op, opKey, protowire.BytesType)
			op = protowire.AppendString(op, o.Key)
			op = protowire.AppendTag(op, opValue, protowire.BytesType)
			op = protowire.AppendBytes(op, o.Value)
		case state.OpDeleteRecord:
			op = protowire.AppendTag(op, opKey, protowire.BytesType)
			op = protowire.AppendString(op, o.Key)
		case state.OpRequest:
			op = protowire.AppendTag(op, opID, protowire.BytesType)
			op = protowire.AppendString(op, o.ID)
			op = protowire.AppendTag(op, opAt, protowire.VarintType)
			op = protowire.AppendVarint(op, uint64(o.At.UnixNano()))
		}
		b = protowire.AppendTag(b, opsOp, protowire.BytesType)
		b = protowire.AppendBytes(b, op)
	}
	return b
}

// decodeOps reads a cmdOps entry.
func decodeOps(data []byte) ([]state.Op, error) {
	if len(data) == 0 || commandType(data[0]) != cmdOps {
		return nil, fmt.Errorf("%w: unknown command type", errBadCommand)
	}
	var ops []state.Op
	b := data[1:]
	for len(b) > 0 {
		_, _, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errBadCommand
		}
		b = b[n:]
		raw, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, errBadCommand
		}
		b = b[n:]
		op, err := decodeOp(raw)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func decodeOp(b []byte) (state.Op, error) {
	var o state.Op
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return o, errBadCommand
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return o, errBadCommand
		}
		b = b[n:]
		var err error
		switch num {
		case opKind:
			o.Kind = state.OpKind(x)
		case opPin:
			o.Pin, err = state.DecodePin(v)
			o.PinRecord = v
		case opCid:
			o.Cid, err = cid.Cast(v)
		case opMember:
			o.Member, err = state.DecodeMember(v)
		case opID:
			o.ID = string(v)
		case opKey:
			o.Key = string(v)
		case opValue:
			o.Value = bytes.Clone(v)
		case opAt:
			o.At = time.Unix(0, int64(x)).UTC()
		}
		if err != nil {
			return o, fmt.Errorf("%w: %v", errBadCommand, err)
		}
	}
	return o, nil
}
