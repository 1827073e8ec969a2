// Package block says what a block from elsewhere must be before a peer
// stores it: at most MaxSize, a hash function of boxo's default allowlist,
// and bytes that hash to its CID. The node, the block stream and the APIs
// that take blocks all check with it, and it needs nothing of theirs.
package block

import (
	"errors"
	"fmt"

	"github.com/ipfs/boxo/verifcid"
	blocks "github.com/ipfs/go-block-format"
)

// MaxSize is the largest block a peer accepts: the bitswap specification's
// limit, beyond which peers cannot exchange a block.
const MaxSize = 2 << 20

// ErrTooBig marks a block over MaxSize.
var ErrTooBig = errors.New("block is over 2MiB: big blocks can't be exchanged with other peers")

// ErrBad marks a block whose bytes do not match its CID, or whose CID uses
// a hash function the node does not accept.
var ErrBad = errors.New("invalid block")

// Verify checks a block that came from elsewhere before it is stored.
// Blocks built by this node's own importer need no check.
func Verify(b blocks.Block) error {
	c := b.Cid()
	if len(b.RawData()) > MaxSize {
		return fmt.Errorf("%w: block %s is %d bytes: %w", ErrBad, c, len(b.RawData()), ErrTooBig)
	}
	if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, c); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBad, c, err)
	}
	sum, err := c.Prefix().Sum(b.RawData())
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBad, c, err)
	}
	if !sum.Equals(c) {
		return fmt.Errorf("%w: the data of %s hashes to %s", ErrBad, c, sum)
	}
	return nil
}
