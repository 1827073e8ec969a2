package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	cid "github.com/ipfs/go-cid"
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

// Compaction of a store with a prefix of its own: packs whose live bytes
// fell under compactThreshold are rewritten, and the old objects deleted
// once compactGrace has passed, which no read in flight outlasts (reads
// give up after minutes).
const (
	compactThreshold = 0.5
	compactGrace     = time.Hour
)

// compactPacks compacts the S3 store every CompactEvery until ctx ends. A
// shared bucket is left to the cluster's collection, which alone knows
// what every peer needs.
func compactPacks(ctx context.Context, st *s3store.Store, log *slog.Logger) {
	if st == nil {
		return
	}
	cfg := st.Config()
	if cfg.Shared || cfg.CompactEvery <= 0 {
		return
	}
	t := time.NewTicker(cfg.CompactEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := st.Compact(ctx, compactThreshold, compactGrace); err != nil && ctx.Err() == nil {
			log.Warn("compacting the S3 packs failed; the next round tries again", "err", err)
		}
	}
}

// sharedGC is the RPC's repo/gc on a shared bucket: the cluster's
// collection, since no peer may delete a block alone there; nil otherwise,
// for the node's own.
func sharedGC(peer *cluster.Peer) func(context.Context, func(cid.Cid) error) error {
	if !peer.SharedStorage() {
		return nil
	}
	return func(ctx context.Context, removed func(cid.Cid) error) error {
		r := peer.LocalGC(ctx)
		for _, c := range r.Removed {
			if err := removed(c); err != nil {
				return err
			}
		}
		if r.Err != "" {
			return errors.New(r.Err)
		}
		return nil
	}
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
