package ipfs

import (
	"context"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	mc "github.com/multiformats/go-multicodec"
	mh "github.com/multiformats/go-multihash"
)

// ErrPinned marks a removal refused because the block is pinned.
var ErrPinned = errors.New("pinned")

// pinnedError says how a block is pinned; it is an ErrPinned.
type pinnedError string

func (e pinnedError) Error() string        { return string(e) }
func (e pinnedError) Is(target error) bool { return target == ErrPinned }

// rootKey is the datastore prefix that covers every block.
var rootKey = ds.NewKey("/")

// BlockGet returns a block, fetching it from the network when online.
func (n *Node) BlockGet(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := n.Service.GetBlock(ctx, c)
	if err != nil {
		return nil, notFound(err)
	}
	return b, nil
}

// BlockPutOptions say how to name new block data. Empty fields take Kubo's
// defaults: codec raw, sha2-256, CIDv1.
type BlockPutOptions struct {
	Codec    string // multicodec name, e.g. "raw", "dag-pb", "dag-cbor"
	Hash     string // multihash name
	Pin      bool
	AllowBig bool
}

// BlockPut stores data as a block and returns its CID.
func (n *Node) BlockPut(ctx context.Context, data []byte, o BlockPutOptions) (cid.Cid, error) {
	if len(data) > block.MaxSize && !o.AllowBig {
		return cid.Undef, block.ErrTooBig
	}
	codecName, hashName := o.Codec, o.Hash
	if codecName == "" {
		codecName = "raw"
	}
	if hashName == "" {
		hashName = "sha2-256"
	}
	var codec mc.Code
	if err := codec.Set(codecName); err != nil {
		return cid.Undef, fmt.Errorf("%w: unknown codec %q", ErrBadPath, codecName)
	}
	hash, ok := mh.Names[hashName]
	if !ok {
		return cid.Undef, fmt.Errorf("%w: unknown hash function %q", ErrBadPath, hashName)
	}
	prefix := cid.Prefix{Version: 1, Codec: uint64(codec), MhType: hash, MhLength: -1}
	if codec == mc.DagPb && hash == mh.SHA2_256 {
		prefix.Version = 0 // Kubo keeps CIDv0 for sha2-256 dag-pb blocks
	}
	c, err := prefix.Sum(data)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %v", ErrBadPath, err)
	}
	b, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		return cid.Undef, err
	}
	unlock := n.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	if err := n.Service.AddBlock(ctx, b); err != nil {
		return cid.Undef, err
	}
	if err := n.blocksDS.Sync(ctx, rootKey); err != nil {
		return cid.Undef, err
	}
	if o.Pin {
		if err := n.Pins.PinWithMode(ctx, c, pinModeRecursive, ""); err != nil {
			return cid.Undef, err
		}
		if err := n.syncPins(ctx); err != nil {
			return cid.Undef, err
		}
	}
	return c, nil
}

// BlockStat returns the size of a block, fetching it when online.
func (n *Node) BlockStat(ctx context.Context, c cid.Cid) (int, error) {
	if size, err := n.Blocks.GetSize(ctx, c); err == nil {
		return size, nil
	}
	b, err := n.BlockGet(ctx, c)
	if err != nil {
		return 0, err
	}
	return len(b.RawData()), nil
}

// BlockRm deletes local blocks. Pinned blocks are refused, each with its own
// error, and the others still removed, as Kubo does.
func (n *Node) BlockRm(ctx context.Context, cids []cid.Cid, force bool, emit func(cid.Cid, error) error) error {
	unlock := n.Blocks.GCLock(ctx)
	defer unlock.Unlock(ctx)
	pinned, err := n.Pins.CheckIfPinned(ctx, cids...)
	if err != nil {
		return err
	}
	for _, p := range pinned {
		var err error
		switch {
		case p.Pinned():
			err = pinnedError(p.String()) // "pinned via …", Kubo's words
		default:
			has, herr := n.Blocks.Has(ctx, p.Key)
			switch {
			case herr != nil:
				err = herr
			case !has && !force:
				err = fmt.Errorf("%w: block %s is not in the local blockstore", ErrNotFound, p.Key)
			case has:
				err = n.Blocks.DeleteBlock(ctx, p.Key)
			}
		}
		if eerr := emit(p.Key, err); eerr != nil {
			return eerr
		}
	}
	return nil
}
