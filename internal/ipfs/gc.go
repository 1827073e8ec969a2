package ipfs

import (
	"context"
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// GC deletes every local block that no pin keeps. It holds the GC lock, so
// it waits for running adds and pins to finish and holds new ones back while
// it marks and sweeps: nothing an add is about to pin can be collected.
//
// A recursive pin whose DAG is incomplete aborts the collection before any
// deletion: without the missing block its children cannot be told apart
// from garbage.
func (n *Node) GC(ctx context.Context, emit func(cid.Cid) error) error {
	unlock := n.Blocks.GCLock(ctx)
	defer unlock.Unlock(ctx)

	live, err := n.liveSet(ctx)
	if err != nil {
		return err
	}
	keys, err := n.Blocks.AllKeysChan(ctx)
	if err != nil {
		return err
	}
	for k := range keys {
		if live.Has(k) {
			continue
		}
		if err := n.Blocks.DeleteBlock(ctx, k); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
		if err := emit(k); err != nil {
			return err
		}
	}
	return n.blocksDS.Sync(ctx, rootKey)
}

// liveSet marks every block reachable from a pin. Blockstore keys are
// multihashes (CIDv1 raw), so the set holds CIDs normalised the same way.
func (n *Node) liveSet(ctx context.Context) (*cid.Set, error) {
	live := cid.NewSet()
	add := func(c cid.Cid) bool { return live.Visit(cid.NewCidV1(cid.Raw, c.Hash())) }
	getLinks := func(ctx context.Context, c cid.Cid) ([]*ipld.Link, error) {
		links, err := merkledag.GetLinksWithDAG(n.LocalDAG)(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("gc: cannot read links of pinned block %s (DAG incomplete; nothing was deleted): %w", c, err)
		}
		return links, nil
	}
	for sp := range n.Pins.RecursiveKeys(ctx, false) {
		if sp.Err != nil {
			return nil, sp.Err
		}
		if err := merkledag.Walk(ctx, getLinks, sp.Pin.Key, add); err != nil {
			return nil, err
		}
	}
	// DAGs received whole for a pin that has not arrived yet are kept
	// as if pinned (see MarkReceived).
	for _, c := range n.received.list() {
		if err := merkledag.Walk(ctx, getLinks, c, add); err != nil {
			return nil, err
		}
	}
	for sp := range n.Pins.DirectKeys(ctx, false) {
		if sp.Err != nil {
			return nil, sp.Err
		}
		add(sp.Pin.Key)
	}
	return live, nil
}
