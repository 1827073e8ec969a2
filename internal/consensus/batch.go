package consensus

import (
	"context"
	"errors"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/batch"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// Group commit: writers hand their operations to a batcher, which packs
// whatever has queued up into a single log entry. Under load an entry
// carries thousands of operations for one fsync; alone, a write waits for
// nothing.
const (
	maxBatchOps  = 8192
	maxInFlight  = 4 // log entries appended but not yet committed
	applyTimeout = 30 * time.Second
)

type applyReq struct {
	ops  []state.Op
	done chan error
}

func (n *Node) newBatcher() *batch.Batcher[applyReq] {
	return batch.New(batch.Config[applyReq]{
		MaxWeight: maxBatchOps, InFlight: maxInFlight, Queue: 4096,
		Weight: func(r applyReq) int { return len(r.ops) },
		Flush:  n.commit,
		Drop:   func(r applyReq) { r.done <- ErrNotLeader },
	})
}

// Apply commits ops through the log and returns once they are applied on
// this server (the leader). Leader only.
func (n *Node) Apply(ctx context.Context, ops []state.Op) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	// Refused here, an op that lacks its subject never enters the log,
	// where it might not even decode and would stop every server.
	for _, op := range ops {
		if err := op.Check(); err != nil {
			return err
		}
	}
	req := applyReq{ops: ops, done: make(chan error, 1)}
	if err := n.batcher.Submit(ctx, req); errors.Is(err, batch.ErrStopped) {
		return ErrNotLeader
	} else if err != nil {
		return err
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commit writes one log entry for a group of requests and answers each
// with its own outcome.
func (n *Node) commit(group []applyReq) {
	var ops []state.Op
	for _, r := range group {
		ops = append(ops, r.ops...)
	}
	term, sent := n.raft.CurrentTerm(), time.Now()
	f := n.raft.Apply(encodeOps(ops), applyTimeout)
	err := leaderErr(f.Error())
	var rejected []error
	if err == nil {
		// Committed: a quorum acknowledged an entry sent after sent, and
		// as an entry of this term is applied, so is every earlier one.
		n.lease.renew(term, sent)
		if term == n.raft.CurrentTerm() {
			n.readyTerm.Store(term)
		}
		switch res := f.Response().(type) {
		case error:
			err = res
		case applyResult:
			rejected = res.rejected
		}
	}
	for _, r := range group {
		if err != nil || rejected == nil {
			r.done <- err
			continue
		}
		r.done <- errors.Join(rejected[:len(r.ops)]...)
		rejected = rejected[len(r.ops):]
	}
}
