// Package storage opens the datastores a node keeps its bytes in: blocks in
// flatfs (one file per block, fsynced), metadata in pebble.
//
// Blocks sit behind go-datastore's Batching interface, the narrow contract
// boxo's blockstore is built on, so that another backend (S3) can replace
// flatfs without the node noticing.
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
)

// Config selects and tunes the block backend.
type Config struct {
	// Shard is the flatfs sharding function used when the block store is
	// created: "next-to-last/2" (Kubo's default) or "next-to-last/3" for
	// stores beyond a few hundred million blocks. An existing store keeps
	// the function it was created with.
	Shard string
	// NoSync skips fsync on block writes. Only for throwaway test data:
	// acknowledged writes may be lost on power failure.
	NoSync bool
	// CacheWrites keeps written blocks in the page cache. By default (on
	// Linux) a block's pages are dropped once it is durable: a peer writes
	// far more than it reads back soon (an add, a pin fetched from the
	// network; the gateway keeps its own block cache), and the pages of a
	// 1 GiB add would otherwise push out the cache that serves reads.
	// Dropping them also lets the next writes reuse memory the kernel has
	// just freed; fresh memory is slow to fill on VMs whose host reclaims
	// freed guest pages (a 2-core Firecracker VM spent half as much kernel
	// time on a 1 GiB add: 2.2 s instead of 4.5 s).
	CacheWrites bool
}

// DefaultConfig returns the settings of a fresh data directory.
func DefaultConfig() Config { return Config{Shard: "next-to-last/2"} }

// Validate checks the shard function.
func (c Config) Validate() error {
	if _, err := parseShard(c.Shard); err != nil {
		return fmt.Errorf("storage: invalid shard %q: %w", c.Shard, err)
	}
	return nil
}

// OpenBlocks opens (creating if needed) the flatfs block store in dir.
// flatfs clears its temp directory on open, so writes interrupted by a crash
// leave nothing behind. A Put, or a batch's Commit, returns once its blocks
// are on disk (unless cfg.NoSync).
func OpenBlocks(dir string, cfg Config) (ds.Batching, error) {
	fs, err := openFlatfs(dir, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.NoSync || cfg.CacheWrites || !canDropPages {
		// Unsynced pages are dirty, and dirty pages cannot be dropped.
		return fs, nil
	}
	shard, err := flatfs.ParseShardFunc(fs.ShardStr())
	if err != nil {
		fs.Close()
		return nil, err
	}
	return &uncachedBlocks{Datastore: fs, dir: dir, shard: shard.Func()}, nil
}

func openFlatfs(dir string, cfg Config) (*flatfs.Datastore, error) {
	if _, err := os.Stat(filepath.Join(dir, "SHARDING")); err == nil {
		return flatfs.Open(dir, !cfg.NoSync)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	shard, err := parseShard(cfg.Shard)
	if err != nil {
		return nil, fmt.Errorf("storage: invalid shard %q: %w", cfg.Shard, err)
	}
	return flatfs.CreateOrOpen(dir, shard, !cfg.NoSync)
}

// uncachedBlocks is a synced flatfs store that drops the pages of the blocks
// it writes once they are durable (see Config.CacheWrites).
type uncachedBlocks struct {
	*flatfs.Datastore
	dir   string
	shard flatfs.ShardFunc
}

var (
	_ ds.Batching            = (*uncachedBlocks)(nil)
	_ ds.PersistentDatastore = (*uncachedBlocks)(nil)
)

// Put writes and fsyncs the block, then drops its pages.
func (s *uncachedBlocks) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := s.Datastore.Put(ctx, key, value); err != nil {
		return err
	}
	s.drop(key)
	return nil
}

// Batch returns a flatfs batch whose Commit drops the pages it wrote.
func (s *uncachedBlocks) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := s.Datastore.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &uncachedBatch{Batch: b, store: s}, nil
}

// drop evicts a block's pages from the page cache. It is best effort: a
// block deleted meanwhile is left alone. The path is flatfs's on-disk
// layout, <dir>/<shard>/<key>.data, which cannot change without migrating
// every existing store.
func (s *uncachedBlocks) drop(key ds.Key) {
	name := key.String()[1:]
	dropPages(filepath.Join(s.dir, s.shard(name), name+".data"))
}

// uncachedBatch records the keys put, to drop their pages after Commit,
// when flatfs has fsynced them. Like flatfs's batch, it takes concurrent
// Puts.
type uncachedBatch struct {
	ds.Batch
	store *uncachedBlocks
	mu    sync.Mutex
	keys  []ds.Key // guarded by mu
}

func (b *uncachedBatch) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := b.Batch.Put(ctx, key, value); err != nil {
		return err
	}
	b.mu.Lock()
	b.keys = append(b.keys, key)
	b.mu.Unlock()
	return nil
}

func (b *uncachedBatch) Commit(ctx context.Context) error {
	if err := b.Batch.Commit(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	keys := b.keys
	b.keys = nil
	b.mu.Unlock()
	for _, k := range keys {
		b.store.drop(k)
	}
	return nil
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
