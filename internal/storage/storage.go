// Package storage opens the datastores a node keeps its bytes in: blocks in
// flatfs (one file per block, on disk before a write returns) or in S3
// (packs in a bucket, internal/s3store), metadata in pebble.
//
// Blocks sit behind go-datastore's Batching interface, the narrow contract
// boxo's blockstore is built on, so that either backend serves the node
// without the node noticing. OpenBlocks is the one place that picks it.
package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	ds "github.com/ipfs/go-datastore"
	flatfs "github.com/ipfs/go-ds-flatfs"
	pebbleds "github.com/ipfs/go-ds-pebble"

	"github.com/flotilla-ipfs/flotilla/internal/s3store"
)

// Block backends (Config.Backend).
const (
	Flatfs = "flatfs"
	S3     = "s3"
)

// Config selects and tunes the block backend.
type Config struct {
	// Backend is where blocks live: Flatfs (also when empty), one file
	// per block in the data directory, or S3, packs in a bucket with
	// their index and a read cache in the data directory. The fields
	// below up to S3 are flatfs's.
	Backend string
	// Shard is the flatfs sharding function used when the block store is
	// created: "next-to-last/2" (Kubo's default) or "next-to-last/3" for
	// stores beyond a few hundred million blocks. An existing store keeps
	// the function it was created with.
	Shard string
	// NoSync skips fsync on block writes. Only for throwaway test data:
	// acknowledged writes may be lost on power failure.
	NoSync bool
	// FsyncEachBlock makes blocks durable the way flatfs does on its own:
	// an fsync per block file and per shard directory. By default a
	// batch's blocks are written unsynced and the file system is synced
	// twice per batch instead (syncfs: before the blocks are renamed into
	// place, and after), with the same guarantees; see blockStore. syncfs
	// also flushes whatever else is dirty on the file system, so a store
	// sharing its file system with heavy writers may do better with this
	// set. It is always set where syncfs cannot report write errors
	// (other systems than Linux, Linux before 5.8).
	FsyncEachBlock bool
	// CacheWrites keeps written blocks in the page cache. By default (on
	// Linux) a block's pages are dropped once it is durable: a peer writes
	// far more than it reads back soon (an add, a pin fetched from the
	// network; the gateway keeps its own block cache), and the pages of a
	// 1 GiB add would otherwise push out the cache that serves reads.
	// Dropping them also lets the next writes reuse memory the kernel has
	// just freed; fresh memory is slow to fill on VMs whose host reclaims
	// freed guest pages (a 2-core Firecracker VM, fsyncing each block, spent
	// half as much kernel time on a 1 GiB add: 2.2 s instead of 4.5 s).
	CacheWrites bool
	// S3 is the bucket and the local sizes of the S3 backend. Credentials
	// are not settings: they come from the AWS SDK's default chain.
	S3 s3store.Config
}

// DefaultConfig returns the settings of a fresh data directory: flatfs.
func DefaultConfig() Config {
	return Config{Backend: Flatfs, Shard: "next-to-last/2", S3: s3store.DefaultConfig()}
}

// Validate checks the settings of the chosen backend, and refuses S3
// settings given to flatfs: a --s3-bucket without --blockstore s3 is a
// mistake that would otherwise keep the blocks on local disk unnoticed.
func (c Config) Validate() error {
	switch c.Backend {
	case Flatfs, "":
		if _, err := parseShard(c.Shard); err != nil {
			return fmt.Errorf("storage: invalid shard %q: %w", c.Shard, err)
		}
		if c.S3 != s3store.DefaultConfig() && c.S3 != (s3store.Config{}) {
			return errors.New("storage: --s3-* settings are given but --blockstore is flatfs: add --blockstore s3 (FLOTILLA_BLOCKSTORE=s3), or drop them")
		}
		return nil
	case S3:
		return c.S3.Validate()
	}
	return fmt.Errorf("storage: --blockstore %q: want flatfs or s3", c.Backend)
}

// Deps are what the S3 backend is given besides its settings (flatfs
// needs nothing).
type Deps struct {
	S3 s3store.Deps
}

// BlocksDir returns the directory of the block store in the data directory
// data: blocks/ for flatfs, blocks-s3/ for the S3 store's index and cache.
// Two names, so that one backend never opens the other's files. A data
// directory whose blocks are in S3 and not on disk is refused for flatfs,
// which would otherwise start an empty store beside them.
func BlocksDir(data string, cfg Config) (string, error) {
	flat, packs := filepath.Join(data, "blocks"), filepath.Join(data, "blocks-s3")
	if cfg.Backend == S3 {
		return packs, nil
	}
	if _, err := os.Stat(flat); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(packs); err == nil {
			return "", fmt.Errorf("storage: the blocks of %s are in S3 (%s exists, %s does not): pass --blockstore s3 and its --s3-* settings (or FLOTILLA_BLOCKSTORE=s3 …); to start an empty flatfs store instead, remove %s",
				data, packs, flat, packs)
		}
	}
	return flat, nil
}

// OpenBlocks opens (creating if needed) the block store of cfg.Backend
// whose local files live in dir (see BlocksDir).
//
// flatfs clears its temp directory on open, so writes interrupted by a
// crash leave nothing behind. A Put, or a batch's Commit, returns once its
// blocks are on disk (unless cfg.NoSync); see blockStore for how.
//
// The S3 store checks the bucket and brings its index up to the bucket's
// packs before it returns (s3store.Open); a Put or Commit returns once its
// blocks are in S3.
func OpenBlocks(ctx context.Context, dir string, cfg Config, deps Deps) (ds.Batching, error) {
	if cfg.Backend == S3 {
		return s3store.Open(ctx, dir, cfg.S3, deps.S3)
	}
	if cfg.NoSync {
		return openFlatfs(dir, cfg.Shard, false)
	}
	useSyncfs := !cfg.FsyncEachBlock && syncFSReportsErrors()
	fs, err := openFlatfs(dir, cfg.Shard, !useSyncfs)
	if err != nil {
		return nil, err
	}
	drop := !cfg.CacheWrites && canDropPages
	if !useSyncfs && !drop {
		return fs, nil
	}
	shard, err := flatfs.ParseShardFunc(fs.ShardStr())
	if err != nil {
		fs.Close()
		return nil, err
	}
	s := &blockStore{Datastore: fs, dir: dir, shard: shard.Func(), drop: drop}
	s.syncCond, s.syncFn = sync.NewCond(&s.syncMu), syncFS
	if useSyncfs {
		if s.syncfs, err = os.Open(dir); err != nil {
			fs.Close()
			return nil, err
		}
	}
	return s, nil
}

func openFlatfs(dir, shardName string, sync bool) (*flatfs.Datastore, error) {
	if _, err := os.Stat(filepath.Join(dir, "SHARDING")); err == nil {
		return flatfs.Open(dir, sync)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	shard, err := parseShard(shardName)
	if err != nil {
		return nil, fmt.Errorf("storage: invalid shard %q: %w", shardName, err)
	}
	return flatfs.CreateOrOpen(dir, shard, sync)
}

// OpenMeta opens the pebble metadata store in dir. Writes are not synced
// one by one: the writers that acknowledge something (the pinner, after
// every pin change) call Sync, which fsyncs pebble's WAL once for all the
// writes before it, so concurrent pin operations share their fsyncs.
func OpenMeta(dir string) (ds.Batching, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	opts := &pebble.Options{}
	// Bloom filters: pin checks (is this CID pinned?) mostly miss.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return pebbleds.NewDatastore(dir, pebbleds.WithPebbleOpts(opts),
		pebbleds.WithPebbleWriteOptions(pebble.NoSync), pebbleds.WithCacheSize(64<<20))
}

// parseShard reads the short form of a flatfs shard function
// ("next-to-last/2") that users write in flags.
func parseShard(short string) (*flatfs.ShardIdV1, error) {
	return flatfs.ParseShardFunc(flatfs.PREFIX + "v1/" + short)
}
