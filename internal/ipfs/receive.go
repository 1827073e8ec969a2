package ipfs

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/boxo/verifcid"
	blocks "github.com/ipfs/go-block-format"
)

// ErrBadBlock marks a block whose bytes do not match its CID, or whose CID
// uses a hash function the node does not accept.
var ErrBadBlock = errors.New("invalid block")

// VerifyBlock checks a block that came from elsewhere before it is stored:
// at most MaxBlockSize, a hash function of boxo's default allowlist (as
// bitswap accepts), and bytes that hash to the CID. Blocks built by this
// node's own importer need no check.
func VerifyBlock(b blocks.Block) error {
	c := b.Cid()
	if len(b.RawData()) > MaxBlockSize {
		return fmt.Errorf("%w: block %s is %d bytes: %w", ErrBadBlock, c, len(b.RawData()), ErrBlockTooBig)
	}
	if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, c); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBlock, c, err)
	}
	sum, err := c.Prefix().Sum(b.RawData())
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBlock, c, err)
	}
	if !sum.Equals(c) {
		return fmt.Errorf("%w: the data of %s hashes to %s", ErrBadBlock, c, sum)
	}
	return nil
}

// SyncBlocks makes every block stored so far durable: what an add does
// before it is acknowledged. Blocks written through Blocks.PutMany are
// durable batch by batch already (see internal/storage); this is the add's
// final word, so that a writer of batches gives the same guarantee.
func (n *Node) SyncBlocks(ctx context.Context) error {
	return n.blocksDS.Sync(ctx, rootKey)
}
