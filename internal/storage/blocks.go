package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ds "github.com/ipfs/go-datastore"
	flatfs "github.com/ipfs/go-ds-flatfs"
)

// blockStore is flatfs with two changes to how writes reach the disk.
//
// Durability (unless Config.FsyncEachBlock): flatfs in sync mode fsyncs
// every block file and then every shard directory a batch touches, and on
// ext4 without a journal each of those is a cache flush of the device; a
// 1 GiB add is some 8,000 of them. Here flatfs runs unsynced and a batch's
// Commit does what its fsyncs did, for all its blocks at once: wait until
// flatfs has written them to temp files, syncfs(2) (their bytes are on
// disk), let flatfs rename them into place, syncfs again (their names are
// on disk). As with flatfs's fsyncs, a block under its final name is
// always complete, and Commit returns once every block is durable.
//
// Page cache (unless Config.CacheWrites): once durable, a block's pages are
// dropped.
type blockStore struct {
	*flatfs.Datastore
	dir    string
	shard  flatfs.ShardFunc
	syncfs *os.File             // the store's directory, for syncfs; nil when flatfs fsyncs
	drop   bool                 // evict written blocks from the page cache
	syncFn func(*os.File) error // syncFS; a test counts the calls
	// Group commit of syncfs calls (see syncAll), guarded by syncMu.
	syncMu      sync.Mutex
	syncCond    *sync.Cond // signalled when a sync ends
	syncing     bool       // a syncfs runs
	syncStarted uint64     // syncs started
	syncDone    uint64     // the number of the last sync that ended
	syncErr     error      // the first failed syncfs
}

var (
	_ ds.Batching            = (*blockStore)(nil)
	_ ds.PersistentDatastore = (*blockStore)(nil)
)

// batchReader is what flatfs's batch offers beyond ds.Batch: reads that see
// the batch's own writes, and so wait until flatfs has written them.
type batchReader interface {
	Has(ctx context.Context, key ds.Key) (bool, error)
}

// waitKey is looked up to wait for a batch's writes; it names no block.
var waitKey = ds.NewKey("/FLOTILLA-WAIT-FOR-WRITES")

// syncAll makes everything written so far on the store's file system
// durable. Calls are group-committed: one syncfs runs at a time, and every
// call that arrives while it runs waits for the next one, which covers
// them all (a syncfs started after a write returned covers that write).
// Under many concurrent small writes (bitswap storing blocks as they
// arrive, one batch per message) that is a few syncfs instead of one per
// call, each of which flushes the whole file system.
//
// The kernel reports a writeback error to one syncfs call on a
// descriptor, and the writes it concerns may belong to any commit since the
// last success. So a failure is final: no later commit can be
// acknowledged, and the store has to be reopened (the lost writes redone)
// to recover.
func (s *blockStore) syncAll() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	need := s.syncStarted + 1 // the first sync to start after this call
	for s.syncDone < need && s.syncErr == nil {
		if s.syncing {
			s.syncCond.Wait()
			continue
		}
		s.syncing = true
		s.syncStarted++
		n := s.syncStarted
		s.syncMu.Unlock()
		err := s.syncFn(s.syncfs)
		s.syncMu.Lock()
		s.syncing = false
		s.syncDone = n
		if err != nil {
			s.syncErr = fmt.Errorf("storage: syncing the block store failed, writes since the last sync may be lost (reopen the store): %w", err)
		}
		s.syncCond.Broadcast()
	}
	return s.syncErr
}

// Put writes one block, durably, as a batch of one.
func (s *blockStore) Put(ctx context.Context, key ds.Key, value []byte) error {
	if s.syncfs == nil {
		if err := s.Datastore.Put(ctx, key, value); err != nil {
			return err
		}
		s.dropPages(key)
		return nil
	}
	b, err := s.Batch(ctx)
	if err != nil {
		return err
	}
	if err := b.Put(ctx, key, value); err != nil {
		return err
	}
	return b.Commit(ctx)
}

// Sync makes every write so far durable. flatfs's own Sync does nothing:
// in sync mode each write already is.
func (s *blockStore) Sync(ctx context.Context, prefix ds.Key) error {
	if s.syncfs == nil {
		return s.Datastore.Sync(ctx, prefix)
	}
	return s.syncAll()
}

// Batch returns a batch whose Commit makes its blocks durable.
func (s *blockStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := s.Datastore.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &blockBatch{Batch: b, store: s}, nil
}

// Close closes flatfs, then the directory kept for syncfs.
func (s *blockStore) Close() error {
	err := s.Datastore.Close()
	if s.syncfs != nil {
		s.syncfs.Close()
	}
	return err
}

// dropPages evicts a block's pages from the page cache. It is best effort:
// a block deleted meanwhile is left alone. The path is flatfs's on-disk
// layout, <dir>/<shard>/<key>.data, which cannot change without migrating
// every existing store.
func (s *blockStore) dropPages(key ds.Key) {
	if !s.drop {
		return
	}
	name := key.String()[1:]
	dropPages(filepath.Join(s.dir, s.shard(name), name+".data"))
}

// blockBatch is a flatfs batch that commits durably (see blockStore) and
// drops the pages it wrote. Like flatfs's batch, it takes concurrent Puts.
type blockBatch struct {
	ds.Batch
	store *blockStore
	mu    sync.Mutex
	keys  []ds.Key // guarded by mu
}

func (b *blockBatch) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := b.Batch.Put(ctx, key, value); err != nil {
		return err
	}
	if b.store.drop {
		b.mu.Lock()
		b.keys = append(b.keys, key)
		b.mu.Unlock()
	}
	return nil
}

func (b *blockBatch) Commit(ctx context.Context) error {
	s := b.store
	if s.syncfs != nil {
		// The blocks' bytes reach the disk before any of them takes its
		// final name.
		r, ok := b.Batch.(batchReader)
		if !ok {
			return errors.New("storage: this flatfs batch cannot be waited for; set FsyncEachBlock")
		}
		if _, err := r.Has(ctx, waitKey); err != nil {
			return err
		}
		if err := s.syncAll(); err != nil {
			return err
		}
	}
	if err := b.Batch.Commit(ctx); err != nil {
		return err
	}
	if s.syncfs != nil {
		if err := s.syncAll(); err != nil {
			return err
		}
	}
	b.mu.Lock()
	keys := b.keys
	b.keys = nil
	b.mu.Unlock()
	for _, k := range keys {
		s.dropPages(k)
	}
	return nil
}
