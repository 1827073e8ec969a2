package storage

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

func block(i int) []byte {
	return bytes.Repeat([]byte{byte(i), byte(i >> 8), 0x5a}, 100+i)
}

// TestBlocksRoundTrip writes through Put and a batch, the two paths the
// page dropping wraps, and reads everything back, before and after a
// reopen.
func TestBlocksRoundTrip(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(), {Shard: "next-to-last/2", CacheWrites: true}} {
		t.Run(fmt.Sprintf("CacheWrites=%v", cfg.CacheWrites), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			d, err := OpenBlocks(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			key := func(i int) ds.Key { return ds.NewKey(fmt.Sprintf("CIQBLOCK%04d", i)) }
			if err := d.Put(ctx, key(0), block(0)); err != nil {
				t.Fatal(err)
			}
			b, err := d.Batch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			const n = 50
			for i := 1; i < n; i++ {
				if err := b.Put(ctx, key(i), block(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			check := func(d ds.Batching) {
				t.Helper()
				for i := range n {
					got, err := d.Get(ctx, key(i))
					if err != nil {
						t.Fatalf("Get(%q): %v", key(i), err)
					}
					if !bytes.Equal(got, block(i)) {
						t.Fatalf("Get(%q) = %d bytes, want %d", key(i), len(got), len(block(i)))
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
			d, err = OpenBlocks(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			check(d)
		})
	}
}
