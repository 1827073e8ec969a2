package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
)

func block(i int) []byte {
	return bytes.Repeat([]byte{byte(i), byte(i >> 8), 0x5a}, 100+i)
}

func blockKey(i int) ds.Key { return ds.NewKey(fmt.Sprintf("CIQBLOCK%04d", i)) }

// TestBlocksRoundTrip writes through Put and a batch in every durability
// and caching mode and reads everything back, before and after a reopen.
func TestBlocksRoundTrip(t *testing.T) {
	for _, cfg := range []Config{
		DefaultConfig(),
		{Shard: "next-to-last/2", FsyncEachBlock: true},
		{Shard: "next-to-last/2", CacheWrites: true},
		{Shard: "next-to-last/2", FsyncEachBlock: true, CacheWrites: true},
	} {
		t.Run(fmt.Sprintf("FsyncEachBlock=%v,CacheWrites=%v", cfg.FsyncEachBlock, cfg.CacheWrites), func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "blocks")
			d, err := OpenBlocks(context.Background(), dir, cfg, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Put(ctx, blockKey(0), block(0)); err != nil {
				t.Fatal(err)
			}
			b, err := d.Batch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			const n = 50
			for i := 1; i < n; i++ {
				if err := b.Put(ctx, blockKey(i), block(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := d.Sync(ctx, ds.NewKey("/")); err != nil {
				t.Fatal(err)
			}
			check := func(d ds.Batching) {
				t.Helper()
				for i := range n {
					got, err := d.Get(ctx, blockKey(i))
					if err != nil {
						t.Fatalf("Get(%q): %v", blockKey(i), err)
					}
					if !bytes.Equal(got, block(i)) {
						t.Fatalf("Get(%q) = %d bytes, want %d", blockKey(i), len(got), len(block(i)))
					}
				}
			}
			check(d)
			if used, err := ds.DiskUsage(ctx, d); err != nil || used == 0 {
				t.Errorf("DiskUsage = %d, %v; want > 0", used, err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			d, err = OpenBlocks(context.Background(), dir, cfg, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			check(d)
		})
	}
}

// TestDefaultSyncsTheFileSystem checks that the default store makes blocks
// durable with syncfs where syncfs reports errors, so that the tests above
// exercise it.
func TestDefaultSyncsTheFileSystem(t *testing.T) {
	d, err := OpenBlocks(context.Background(), t.TempDir(), DefaultConfig(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, ok := d.(*blockStore)
	usesSyncfs := ok && s.syncfs != nil
	if usesSyncfs != syncFSReportsErrors() {
		t.Errorf("store uses syncfs: %v, want %v", usesSyncfs, syncFSReportsErrors())
	}
}

// TestBatchWaitsForWrites holds flatfs to what the syncfs commit relies
// on: a read from a batch returns only once the batch's blocks are written
// to their temp files, complete. Without it, syncfs could run before a
// block's bytes were written, and the block be renamed into place unsynced.
func TestBatchWaitsForWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := openFlatfs(dir, "next-to-last/2", false)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	b, err := fs.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 32, 1 << 20
	for i := range n {
		if err := b.Put(ctx, blockKey(i), bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			t.Fatal(err)
		}
	}
	r, ok := b.(batchReader)
	if !ok {
		t.Fatalf("flatfs batch %T has no Has", b)
	}
	if _, err := r.Has(ctx, waitKey); err != nil {
		t.Fatal(err)
	}
	temps, err := filepath.Glob(filepath.Join(dir, ".temp", "*", "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(temps) != n {
		t.Fatalf("%d temp files after Has, want %d", len(temps), n)
	}
	for _, p := range temps {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != size {
			t.Fatalf("%s: %d bytes after Has, want %d", p, st.Size(), size)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSyncFailureIsFinal checks that once a sync fails, no later write is
// acknowledged: the kernel reports a writeback error once, and the lost
// writes may belong to any commit.
func TestSyncFailureIsFinal(t *testing.T) {
	if !syncFSReportsErrors() {
		t.Skip("no syncfs here")
	}
	ctx := context.Background()
	d, err := OpenBlocks(context.Background(), t.TempDir(), DefaultConfig(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := d.(*blockStore)
	if err := d.Put(ctx, blockKey(1), block(1)); err != nil {
		t.Fatal(err)
	}
	// A closed descriptor makes syncfs fail (EBADF) as an I/O error would.
	s.syncfs.Close()
	if err := d.Put(ctx, blockKey(2), block(2)); err == nil {
		t.Fatal("Put succeeded with a failing sync")
	}
	// Reopen the descriptor: the store must stay failed all the same.
	if s.syncfs, err = os.Open(s.dir); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, blockKey(3), block(3)); err == nil {
		t.Fatal("Put succeeded after a failed sync")
	}
	if err := d.Sync(ctx, ds.NewKey("/")); err == nil {
		t.Fatal("Sync succeeded after a failed sync")
	}
}

// Concurrent writers share syncfs calls: one runs at a time, and every
// caller that arrives meanwhile rides on the next, so many callers cost a
// few calls. Each caller still gets a sync that started after it called.
func TestSyncsAreGroupCommitted(t *testing.T) {
	if !syncFSReportsErrors() {
		t.Skip("syncfs is not used on this system")
	}
	d, err := OpenBlocks(context.Background(), t.TempDir(), DefaultConfig(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := d.(*blockStore)
	var mu sync.Mutex
	var calls int
	var last time.Time // when the latest sync started
	s.syncFn = func(*os.File) error {
		mu.Lock()
		calls++
		last = time.Now()
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // a slow disk, so that callers pile up
		return nil
	}
	const callers = 50
	var wg sync.WaitGroup
	late := make(chan string, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			called := time.Now()
			if err := s.syncAll(); err != nil {
				late <- err.Error()
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if last.Before(called) {
				late <- "a caller returned without a sync started after its call"
			}
		}()
	}
	wg.Wait()
	close(late)
	for msg := range late {
		t.Fatal(msg)
	}
	if calls > callers/5 {
		t.Fatalf("%d syncfs calls for %d concurrent callers, want a few", calls, callers)
	}
}
