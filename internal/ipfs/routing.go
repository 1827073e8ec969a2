package ipfs

import (
	"context"
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNoDHT is returned by operations that need the DHT when it is off.
var ErrNoDHT = fmt.Errorf("%w: the DHT is off", ErrOffline)

// FindProviders asks the DHT for up to count peers that provide c.
func (n *Node) FindProviders(ctx context.Context, c cid.Cid, count int, emit func(peer.AddrInfo) error) error {
	if !n.Online() {
		return ErrOffline
	}
	if n.Network.DHT == nil {
		return ErrNoDHT
	}
	if count < 1 {
		return fmt.Errorf("%w: number of providers must be greater than 0", ErrBadPath)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for p := range n.Network.DHT.FindProvidersAsync(ctx, c, count) {
		if err := emit(p); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Provide announces local blocks to the DHT now, and with recursive every
// block below them; each must be in the local store.
func (n *Node) Provide(ctx context.Context, cids []cid.Cid, recursive bool) error {
	if !n.Online() {
		return ErrOffline
	}
	if n.Network.DHT == nil {
		return ErrNoDHT
	}
	for _, c := range cids {
		has, err := n.Blocks.Has(ctx, c)
		if err != nil {
			return err
		}
		if !has {
			return fmt.Errorf("%w: block %s not found locally, cannot provide", ErrNotFound, c)
		}
	}
	if len(n.Network.Host.Network().Conns()) == 0 {
		return fmt.Errorf("%w: cannot provide, no connected peers", ErrOffline)
	}
	todo := cids
	if recursive {
		set := cid.NewSet()
		for _, c := range cids {
			if err := merkledag.Walk(ctx, merkledag.GetLinksWithDAG(n.LocalDAG), c, set.Visit); err != nil {
				return notFound(err)
			}
		}
		todo = set.Keys()
	}
	for _, c := range todo {
		if err := n.Network.DHT.Provide(ctx, c, true); err != nil {
			return fmt.Errorf("error providing cid: %w", err)
		}
	}
	return nil
}
