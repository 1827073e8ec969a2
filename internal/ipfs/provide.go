package ipfs

import (
	"context"

	bsfetcher "github.com/ipfs/boxo/fetcher/impl/blockservice"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	"github.com/ipfs/boxo/provider"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/flotilla-ipfs/flotilla/internal/p2p"
)

// contentDiscovery is where bitswap looks for providers: the DHT, or
// nothing (connected peers only) when the DHT is off. A nil *IpfsDHT must
// not leak into the interface: bitswap would call it.
func contentDiscovery(nw *p2p.Network) routing.ContentDiscovery {
	if nw.DHT == nil {
		return nil
	}
	return nw.DHT
}

// newProvider builds the reprovider for the configured strategy; offline,
// without a DHT or with strategy none it is a no-op.
func (n *Node) newProvider(d Deps) (provider.System, error) {
	if d.Network == nil || d.Network.DHT == nil || n.cfg.Provide == ProvideNone {
		return provider.NewNoopProvider(), nil
	}
	fetch := bsfetcher.NewFetcherConfig(n.Service)
	var keys provider.KeyChanFunc
	switch n.cfg.Provide {
	case ProvideRoots:
		keys = dspinner.NewPinnedProvider(true, n.Pins, fetch)
	case ProvidePinned:
		keys = dspinner.NewPinnedProvider(false, n.Pins, fetch)
	case ProvideAll:
		keys = func(ctx context.Context) (<-chan cid.Cid, error) { return n.Blocks.AllKeysChan(ctx) }
	}
	// The provider keeps its state under its own /provider prefix.
	return provider.New(d.Meta,
		provider.Online(d.Network.DHT),
		provider.KeyProvider(keys),
		provider.ReproviderInterval(n.cfg.ReprovideInterval),
	)
}

// announce queues a newly pinned root for providing. The full set of the
// strategy is announced again on every reprovide interval.
func (n *Node) announce(ctx context.Context, root cid.Cid) {
	if err := n.provider.Provide(ctx, root, true); err != nil {
		n.log.Debug("provide failed", "cid", root, "err", err)
	}
}
