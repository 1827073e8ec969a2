package consensus

import (
	"context"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// Group commit: writers hand their operations to one loop, which packs
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

// Apply commits ops through the log and returns once they are applied on
// this server (the leader). Leader only.
func (n *Node) Apply(ctx context.Context, ops []state.Op) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	req := applyReq{ops: ops, done: make(chan error, 1)}
	select {
	case n.applyCh <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stop:
		return ErrNotLeader
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Node) batchLoop() {
	defer close(n.done)
	slots := make(chan struct{}, maxInFlight)
	for {
		var batch []applyReq
		select {
		case r := <-n.applyCh:
			batch = append(batch, r)
		case <-n.stop:
			return
		}
		// Wait for a free slot before packing: while the log is busy,
		// more writes queue up and ride in the same entry.
		select {
		case slots <- struct{}{}:
		case <-n.stop:
			batch[0].done <- ErrNotLeader
			return
		}
		count := len(batch[0].ops)
	fill:
		for count < maxBatchOps {
			select {
			case r := <-n.applyCh:
				batch = append(batch, r)
				count += len(r.ops)
			default:
				break fill
			}
		}
		var ops []state.Op
		for _, r := range batch {
			ops = append(ops, r.ops...)
		}
		f := n.raft.Apply(encodeOps(ops), applyTimeout)
		go func() {
			defer func() { <-slots }()
			err := leaderErr(f.Error())
			if err == nil {
				if res, ok := f.Response().(error); ok {
					err = res
				}
			}
			for _, r := range batch {
				r.done <- err
			}
		}()
	}
}
