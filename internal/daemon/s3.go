package daemon

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
	"github.com/flotilla-ipfs/flotilla/internal/s3store"
	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

// storageDeps are what the block store is opened with. On a shared bucket
// (--s3-shared) the store reports the packs it writes to the cluster and
// catches up on the others' before it answers that it lacks a block:
// packs is that link (cluster.SharedPacks), run by sharePacks once the
// cluster peer has started; nil otherwise.
func storageDeps(cfg Config, log *slog.Logger, reg prometheus.Registerer) (deps storage.Deps, packs *cluster.SharedPacks) {
	deps.S3 = s3store.Deps{Logger: log, Metrics: reg}
	if cfg.Storage.Backend == storage.S3 && cfg.Storage.S3.Shared {
		packs = cluster.NewSharedPacks(log.With("component", "cluster"))
		deps.S3.OnPack, deps.S3.OnMiss = packs.Written, packs.CatchUp
	}
	return deps, packs
}

// sharePacks runs packs for the peer until the returned stop is called,
// which the caller does before it stops the peer.
func sharePacks(ctx context.Context, packs *cluster.SharedPacks, peer *cluster.Peer, index cluster.PackIndex) (stop func()) {
	if packs == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		packs.Run(ctx, peer, index)
	}()
	return func() { cancel(); <-done }
}

// S3Stat returns the S3 block store's figures for repo/stat, nil on
// flatfs.
func (s *Stores) S3Stat() *kuborpc.S3Stat {
	if s.S3 == nil {
		return nil
	}
	st, cfg := s.S3.Stats(), s.S3.Config()
	return &kuborpc.S3Stat{
		Bucket: cfg.Bucket, Prefix: cfg.Prefix, Shared: cfg.Shared,
		Packs: st.Packs, PacksDeleting: st.Deleting, PackBytes: st.PackBytes,
		LiveBlocks: st.LiveBlocks, LiveBytes: st.LiveBytes, LiveFraction: st.LiveFraction(),
		CacheBytes: st.CacheBytes, CacheHits: st.CacheHits, CacheMisses: st.CacheMisses, CacheHitRatio: st.CacheHitRatio(),
		Requests: st.Requests, FailedRequests: st.FailedRequests, SentBytes: st.SentBytes, ReceivedBytes: st.ReceivedBytes,
	}
}
