package ipfs

import (
	"context"
	"fmt"

	cid "github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
)

// RepoStat describes the local store.
type RepoStat struct {
	NumObjects uint64
	RepoSize   uint64 // bytes on disk, blocks and metadata
}

// Stat counts the blocks and measures the stores.
func (n *Node) Stat(ctx context.Context) (RepoStat, error) {
	var st RepoStat
	keys, err := n.Blocks.AllKeysChan(ctx)
	if err != nil {
		return st, err
	}
	for range keys {
		st.NumObjects++
	}
	for _, d := range []ds.Datastore{n.blocksDS, n.metaDS} {
		size, err := ds.DiskUsage(ctx, d)
		if err != nil {
			return st, err
		}
		st.RepoSize += size
	}
	return st, nil
}

// Verify rehashes every stored block. A block whose bytes no longer match
// its hash is reported, and deleted when drop is set.
func (n *Node) Verify(ctx context.Context, drop bool, emit func(c cid.Cid, err error) error) error {
	keys, err := n.Blocks.AllKeysChan(ctx)
	if err != nil {
		return err
	}
	for k := range keys {
		var bad error
		b, err := n.Blocks.Get(ctx, k)
		if err != nil {
			bad = err
		} else if sum, err := k.Prefix().Sum(b.RawData()); err != nil || !sum.Equals(k) {
			bad = fmt.Errorf("block %s is corrupt: its data does not match its hash", k)
		}
		if bad != nil && drop {
			if err := n.Blocks.DeleteBlock(ctx, k); err != nil {
				return err
			}
		}
		if err := emit(k, bad); err != nil {
			return err
		}
	}
	return ctx.Err()
}
