package daemon

import (
	"context"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/names"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
)

// startNames serves the cluster's IPNS keys and names from this peer: the
// node resolves the cluster's records, and the peer renews every name while
// it leads, until ctx ends.
func startNames(ctx context.Context, peer *cluster.Peer, node *ipfs.Node, nw *p2p.Network, self crypto.PrivKey, secret []byte, log *slog.Logger) (*names.Service, error) {
	cfg := names.Config{
		Records:  peer,
		Secret:   secret,
		Self:     self,
		IsLeader: peer.IsLeader,
		Known: func(ctx context.Context, key string) []byte {
			rec, _ := node.Records.GetValue(ctx, key, routing.Offline)
			return rec
		},
		Logger: log,
	}
	if nw != nil && nw.DHT != nil {
		cfg.Announce = func(ctx context.Context, key string, rec []byte) error {
			return node.Records.PutValue(ctx, key, rec)
		}
	}
	svc, err := names.New(cfg)
	if err != nil {
		return nil, err
	}
	node.ShareRecords(svc.Record)
	go svc.Run(ctx)
	return svc, nil
}
