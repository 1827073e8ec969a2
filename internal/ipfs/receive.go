package ipfs

import (
	"context"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	format "github.com/ipfs/go-ipld-format"
)

// PinLock holds garbage collection off until unlock is called: what adds,
// pins and received streams hold while they write blocks that nothing
// references yet (Blocks.PinLock).
func (n *Node) PinLock(ctx context.Context) (unlock func()) {
	u := n.Blocks.PinLock(ctx)
	return func() { u.Unlock(ctx) }
}

// PutBlocks writes blocks to the blockstore as they are, in one batch:
// blocks built here, or verified (block.Verify) when they came from
// elsewhere. They are durable once SyncBlocks returns.
func (n *Node) PutBlocks(ctx context.Context, bs []blocks.Block) error {
	return n.Blocks.PutMany(ctx, bs)
}

// SyncBlocks makes every block stored so far durable: what an add does
// before it is acknowledged. Blocks written through Blocks.PutMany are
// durable batch by batch already (see internal/storage); this is the add's
// final word, so that a writer of batches gives the same guarantee.
func (n *Node) SyncBlocks(ctx context.Context) error {
	return n.blocksDS.Sync(ctx, rootKey)
}

// receivedSet holds the roots of DAGs this node holds whole and verified,
// without a pin yet, each until it is pinned or its mark expires. The
// zero value is ready.
type receivedSet struct {
	mu    sync.Mutex
	roots map[cid.Cid]*time.Timer // guarded by mu
}

func (s *receivedSet) mark(c cid.Cid, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roots == nil {
		s.roots = map[cid.Cid]*time.Timer{}
	}
	if t, ok := s.roots[c]; ok {
		t.Reset(ttl)
		return
	}
	var t *time.Timer
	t = time.AfterFunc(ttl, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.roots[c] == t {
			delete(s.roots, c)
		}
	})
	s.roots[c] = t
}

// take removes c's mark and reports whether there was one.
func (s *receivedSet) take(c cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.roots[c]
	if ok {
		t.Stop()
		delete(s.roots, c)
	}
	return ok
}

func (s *receivedSet) has(c cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.roots[c]
	return ok
}

func (s *receivedSet) list() []cid.Cid {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]cid.Cid, 0, len(s.roots))
	for c := range s.roots {
		out = append(out, c)
	}
	return out
}

// MarkReceived records that this node holds the whole DAG of each root,
// every block verified and durable, and that a pin of it is on its way:
// the blocks an add on another peer streamed here before pinning. Until
// PinReceived takes the mark, or ttl passes, garbage collection keeps
// those DAGs as if they were pinned. The caller must hold the pin lock
// (Blocks.PinLock) from before the first block was written until the
// roots are marked, so that no collection runs in between.
func (n *Node) MarkReceived(roots []cid.Cid, ttl time.Duration) {
	for _, c := range roots {
		n.received.mark(c, ttl)
	}
}

// Received reports whether c is marked received (see PinReceived).
func (n *Node) Received(c cid.Cid) bool { return n.received.has(c) }

// PinReceived pins c recursively, with no walk of its DAG, when c is
// marked received; ok is false (and nothing done) otherwise, and the
// caller pins the usual way. As Add pins what it imported without reading
// it back, a DAG received whole needs no reading back either: each block
// was verified when it arrived, and the mark kept them from collection.
func (n *Node) PinReceived(ctx context.Context, c cid.Cid, name string) (ok bool, err error) {
	// The mark is taken under the pin lock: a collection ran either
	// before (and kept the marked DAG) or runs after the pin.
	unlock := n.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	if !n.received.take(c) {
		return false, nil
	}
	if err := n.Pins.PinWithMode(ctx, c, pinModeRecursive, name); err != nil {
		return true, err
	}
	if err := n.syncPins(ctx); err != nil {
		return true, err
	}
	n.announce(ctx, c)
	return true, nil
}

// WalkLocal calls emit with every block of the DAG under root, each once,
// reading this node's blockstore only: it fails on the first block this
// node does not hold rather than asking the network.
func (n *Node) WalkLocal(ctx context.Context, root cid.Cid, emit func(blocks.Block) error) error {
	return walk(ctx, n.LocalDAG, root, func(nd format.Node) error { return emit(nd) })
}
