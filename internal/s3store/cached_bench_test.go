package s3store

import (
	"context"
	"testing"

	ds "github.com/ipfs/go-datastore"
	flatfs "github.com/ipfs/go-ds-flatfs"
)

// BenchmarkCachedGet reads 64 blocks of 256 KiB, already read once, from
// the S3 store's disk cache, against the same blocks read from flatfs (the
// local-disk anchor) in the same run:
//
//	go test -run '^$' -bench CachedGet -benchtime 20x ./internal/s3store
func BenchmarkCachedGet(b *testing.B) {
	srv := startS3(b)
	ctx := context.Background()
	blocks := makeBlocks(11, 64, 256<<10)
	st := openStore(b, b.TempDir(), testConfig(srv))
	local, err := flatfs.CreateOrOpen(b.TempDir(), flatfs.NextToLast(2), false)
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	batch, err := st.Batch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, bl := range blocks {
		if err := batch.Put(ctx, bl.key, bl.data); err != nil {
			b.Fatal(err)
		}
		if err := local.Put(ctx, bl.key, bl.data); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	readAll := func(b *testing.B, get func(context.Context, ds.Key) ([]byte, error)) {
		for _, bl := range blocks {
			if _, err := get(ctx, bl.key); err != nil {
				b.Fatal(err)
			}
		}
	}
	readAll(b, st.Get) // fills the cache
	b.Run("flatfs", func(b *testing.B) {
		b.SetBytes(int64(len(blocks)) << 18)
		for b.Loop() {
			readAll(b, local.Get)
		}
	})
	b.Run("s3-cached", func(b *testing.B) {
		b.SetBytes(int64(len(blocks)) << 18)
		for b.Loop() {
			readAll(b, st.Get)
		}
	})
}
