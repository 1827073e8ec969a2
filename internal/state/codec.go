package state

import (
	"errors"
	"fmt"
	"time"

	cid "github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// The stored forms of pins and members are protobuf messages written by
// hand with protowire: compact, fast, and open to new fields (unknown ones
// are skipped), so the state can evolve without a migration. Field numbers
// are append-only.

// Pin fields.
const (
	pinCid             = 1
	pinName            = 2
	pinMode            = 3
	pinReplicationMin  = 4
	pinReplicationMax  = 5
	pinAllocations     = 6
	pinUserAllocations = 7
	pinMetadata        = 8 // nested: 1 key, 2 value
	pinExpireAt        = 9 // unix nanoseconds
	pinOrigins         = 10
	pinPinUpdate       = 11
	pinTimestamp       = 12 // unix nanoseconds
)

// Member fields.
const (
	memberID          = 1
	memberName        = 2
	memberZone        = 3
	memberClusterAddr = 4
	memberSwarmAddrs  = 5
)

var errCorrupt = errors.New("state: corrupt record")

// EncodePin appends the stored form of p to b.
func EncodePin(b []byte, p pin.Pin) []byte {
	b = appendBytes(b, pinCid, p.Cid.Bytes())
	b = appendString(b, pinName, p.Name)
	b = appendString(b, pinMode, string(p.Mode))
	b = appendSint(b, pinReplicationMin, int64(p.ReplicationMin))
	b = appendSint(b, pinReplicationMax, int64(p.ReplicationMax))
	for _, a := range p.Allocations {
		b = protowire.AppendTag(b, pinAllocations, protowire.BytesType)
		b = protowire.AppendString(b, a)
	}
	for _, a := range p.UserAllocations {
		b = protowire.AppendTag(b, pinUserAllocations, protowire.BytesType)
		b = protowire.AppendString(b, a)
	}
	for k, v := range p.Metadata {
		var kv []byte
		kv = appendString(kv, 1, k)
		kv = appendString(kv, 2, v)
		b = protowire.AppendTag(b, pinMetadata, protowire.BytesType)
		b = protowire.AppendBytes(b, kv)
	}
	if !p.ExpireAt.IsZero() {
		b = appendSint(b, pinExpireAt, p.ExpireAt.UnixNano())
	}
	for _, o := range p.Origins {
		b = protowire.AppendTag(b, pinOrigins, protowire.BytesType)
		b = protowire.AppendString(b, o)
	}
	if p.PinUpdate.Defined() {
		b = appendBytes(b, pinPinUpdate, p.PinUpdate.Bytes())
	}
	if !p.Timestamp.IsZero() {
		b = appendSint(b, pinTimestamp, p.Timestamp.UnixNano())
	}
	return b
}

// DecodePin reads a pin written by EncodePin.
func DecodePin(b []byte) (pin.Pin, error) {
	var p pin.Pin
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		var err error
		switch num {
		case pinCid:
			p.Cid, err = cid.Cast(v)
		case pinName:
			p.Name = string(v)
		case pinMode:
			p.Mode = pin.Mode(v)
		case pinReplicationMin:
			p.ReplicationMin = int(protowire.DecodeZigZag(n))
		case pinReplicationMax:
			p.ReplicationMax = int(protowire.DecodeZigZag(n))
		case pinAllocations:
			p.Allocations = append(p.Allocations, string(v))
		case pinUserAllocations:
			p.UserAllocations = append(p.UserAllocations, string(v))
		case pinMetadata:
			var k, val string
			err = walk(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				if num == 1 {
					k = string(v)
				} else if num == 2 {
					val = string(v)
				}
				return nil
			})
			if p.Metadata == nil {
				p.Metadata = map[string]string{}
			}
			p.Metadata[k] = val
		case pinExpireAt:
			p.ExpireAt = time.Unix(0, protowire.DecodeZigZag(n)).UTC()
		case pinOrigins:
			p.Origins = append(p.Origins, string(v))
		case pinPinUpdate:
			p.PinUpdate, err = cid.Cast(v)
		case pinTimestamp:
			p.Timestamp = time.Unix(0, protowire.DecodeZigZag(n)).UTC()
		}
		return err
	})
	return p, err
}

// EncodeMember appends the stored form of the static part of m.
func EncodeMember(b []byte, m member.Member) []byte {
	b = appendString(b, memberID, m.ID)
	b = appendString(b, memberName, m.Name)
	b = appendString(b, memberZone, m.Zone)
	b = appendString(b, memberClusterAddr, m.ClusterAddr)
	for _, a := range m.SwarmAddrs {
		b = protowire.AppendTag(b, memberSwarmAddrs, protowire.BytesType)
		b = protowire.AppendString(b, a)
	}
	return b
}

// DecodeMember reads a member written by EncodeMember.
func DecodeMember(b []byte) (member.Member, error) {
	var m member.Member
	err := walk(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case memberID:
			m.ID = string(v)
		case memberName:
			m.Name = string(v)
		case memberZone:
			m.Zone = string(v)
		case memberClusterAddr:
			m.ClusterAddr = string(v)
		case memberSwarmAddrs:
			m.SwarmAddrs = append(m.SwarmAddrs, string(v))
		}
		return nil
	})
	return m, err
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendSint(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeZigZag(v))
}

// walk calls fn for every field of a message: v for length-delimited
// fields, n for varints. Unknown wire types are skipped.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return fmt.Errorf("%w: %v", errCorrupt, protowire.ParseError(l))
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return fmt.Errorf("%w: %v", errCorrupt, protowire.ParseError(l))
		}
		b = b[l:]
		if typ == protowire.BytesType || typ == protowire.VarintType {
			if err := fn(num, typ, v, n); err != nil {
				return err
			}
		}
	}
	return nil
}
