package ipfs

import (
	"context"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"

	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
)

// ErrBadCAR marks a CAR stream that cannot be imported.
var ErrBadCAR = errors.New("invalid CAR")

// importBatch is how many blocks a CAR import writes per datastore batch.
const importBatch = 256

// ImportResult summarises a CAR import.
type ImportResult struct {
	Roots  []cid.Cid
	Blocks int
	Bytes  int64
}

// DagImport reads a CARv1 or CARv2 stream, verifies every block against its
// CID and stores it. With pinRoots, every root is pinned recursively, which
// requires its whole DAG to be present: either all roots are pinned or none.
func (n *Node) DagImport(ctx context.Context, r io.Reader, pinRoots bool) (ImportResult, error) {
	var res ImportResult
	br, err := car.NewBlockReader(r, car.MaxAllowedSectionSize(block.MaxSize+1024))
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrBadCAR, err)
	}
	res.Roots = br.Roots

	unlock := n.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	batch := make([]blocks.Block, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := n.Blocks.PutMany(ctx, batch)
		batch = batch[:0]
		return err
	}
	for {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("%w: block %d: %v", ErrBadCAR, res.Blocks+1, err)
		}
		if len(b.RawData()) > block.MaxSize {
			return res, fmt.Errorf("%w: block %s is %d bytes: %w", ErrBadCAR, b.Cid(), len(b.RawData()), block.ErrTooBig)
		}
		batch = append(batch, b)
		res.Blocks++
		res.Bytes += int64(len(b.RawData()))
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	if err := n.blocksDS.Sync(ctx, rootKey); err != nil {
		return res, err
	}
	if !pinRoots {
		return res, nil
	}
	// Check every root's DAG locally before pinning any of them.
	for _, root := range res.Roots {
		if err := merkledag.FetchGraph(ctx, root, n.LocalDAG); err != nil {
			return res, fmt.Errorf("%w: root %s: DAG is not complete in the CAR or the local store: %v", ErrBadCAR, root, err)
		}
	}
	for _, root := range res.Roots {
		if err := n.Pins.PinWithMode(ctx, root, pinModeRecursive, ""); err != nil {
			return res, err
		}
	}
	if err := n.syncPins(ctx); err != nil {
		return res, err
	}
	for _, root := range res.Roots {
		n.announce(ctx, root)
	}
	return res, nil
}

// DagExport writes the DAG under root as a CARv1 stream, depth first, each
// block once, fetching missing blocks when online.
func (n *Node) DagExport(ctx context.Context, root cid.Cid, w io.Writer) error {
	out, err := carstorage.NewWritable(w, []cid.Cid{root}, car.WriteAsCarV1(true), car.AllowDuplicatePuts(false))
	if err != nil {
		return err
	}
	seen := cid.NewSet()
	var walk func(c cid.Cid) error
	walk = func(c cid.Cid) error {
		if !seen.Visit(c) {
			return nil
		}
		nd, err := n.DAG.Get(ctx, c)
		if err != nil {
			return notFound(err)
		}
		if err := out.Put(ctx, c.KeyString(), nd.RawData()); err != nil {
			return err
		}
		for _, l := range nd.Links() {
			if err := walk(l.Cid); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return err
	}
	return out.Finalize()
}
