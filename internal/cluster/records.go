package cluster

import (
	"context"
	"fmt"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// Records are small values the APIs keep in the replicated state beside the
// pinset: issued tokens, pinning-service requests. They share the pinset's
// guarantees (committed through raft, in every snapshot) and its read
// index: a record written through one peer is seen through any other.

// maxRecordSize keeps records small: they travel in the raft log.
const maxRecordSize = 64 << 10

type recordReq struct {
	Key    string `json:"key"`
	Value  []byte `json:"value,omitempty"`
	Delete bool   `json:"delete,omitempty"`
}

// PutRecord stores value under key, cluster-wide.
func (p *Peer) PutRecord(ctx context.Context, key string, value []byte) error {
	return p.writeRecord(ctx, recordReq{Key: key, Value: value})
}

// DeleteRecord removes the record key, cluster-wide (no error if absent).
func (p *Peer) DeleteRecord(ctx context.Context, key string) error {
	return p.writeRecord(ctx, recordReq{Key: key, Delete: true})
}

func (p *Peer) writeRecord(ctx context.Context, r recordReq) error {
	if r.Key == "" || len(r.Key)+len(r.Value) > maxRecordSize {
		return fmt.Errorf("%w: record key empty or record over %d bytes", pin.ErrInvalid, maxRecordSize)
	}
	_, err := call(ctx, p, recordCall, r)
	return err
}

func (p *Peer) leaderWriteRecord(ctx context.Context, r recordReq) (struct{}, error) {
	op := state.Op{Kind: state.OpPutRecord, Key: r.Key, Value: r.Value}
	if r.Delete {
		op = state.Op{Kind: state.OpDeleteRecord, Key: r.Key}
	}
	return struct{}{}, p.apply(ctx, []state.Op{op})
}

// Record returns the record key as of every acknowledged write.
func (p *Peer) Record(ctx context.Context, key string) ([]byte, bool, error) {
	if err := p.sync(ctx); err != nil {
		return nil, false, err
	}
	return p.st.Record(key)
}

// LocalRecord returns the record key as this peer has applied it, without
// asking the leader: for hot paths that may accept a lag of a few
// milliseconds behind the leader.
func (p *Peer) LocalRecord(key string) ([]byte, bool, error) { return p.st.Record(key) }

// Records streams the records whose keys start with prefix in key order,
// after the key after ("" from the first), as of every acknowledged write.
func (p *Peer) Records(ctx context.Context, prefix, after string, fn func(key string, value []byte) error) error {
	if err := p.sync(ctx); err != nil {
		return err
	}
	return p.st.Records(ctx, prefix, after, fn)
}

// LocalRecords streams records as LocalRecord reads them: as this peer has
// applied them, without asking the leader.
func (p *Peer) LocalRecords(ctx context.Context, prefix, after string, fn func(key string, value []byte) error) error {
	return p.st.Records(ctx, prefix, after, fn)
}
