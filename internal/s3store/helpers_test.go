package s3store

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/boxo/datastore/dshelp"
	ds "github.com/ipfs/go-datastore"
	mh "github.com/multiformats/go-multihash"

	"github.com/flotilla-ipfs/flotilla/internal/s3store/s3test"
)

// startS3 runs versitygw for the test and points the SDK's default chain
// at it through the environment, as production credentials arrive.
func startS3(t testing.TB) *s3test.Server {
	t.Helper()
	srv := s3test.Start(t)
	srv.SetEnv(t)
	return srv
}

// testConfig is small enough that a few MiB of blocks make several packs
// and several read ranges.
func testConfig(srv *s3test.Server) Config {
	cfg := DefaultConfig()
	cfg.Bucket = srv.Bucket
	cfg.Endpoint = srv.Endpoint
	cfg.PathStyle = true
	cfg.Prefix = "peer-a"
	cfg.PackSize = 4 << 20
	cfg.MultipartSize = 16 << 20
	cfg.PartSize = 5 << 20
	cfg.ReadSize = 1 << 20
	cfg.CacheSize = 64 << 20
	return cfg
}

func openStore(t testing.TB, dir string, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, cfg, Deps{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testBlock struct {
	key  ds.Key
	data []byte
}

// makeBlocks returns n blocks of the given size with random bytes, the
// same for a given seed.
func makeBlocks(seed uint64, n, size int) []testBlock {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]testBlock, n)
	for i := range out {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		out[i] = testBlock{key: keyOf(data), data: data}
	}
	return out
}

func keyOf(data []byte) ds.Key {
	sum := sha256.Sum256(data)
	h, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		panic(err)
	}
	return dshelp.MultihashToDsKey(h)
}

// putBatch writes blocks in one batch.
func putBatch(t *testing.T, s *Store, blocks []testBlock) {
	t.Helper()
	ctx := context.Background()
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, blk := range blocks {
		if err := b.Put(ctx, blk.key, blk.data); err != nil {
			t.Fatalf("batch Put: %v", err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// checkBlocks reads every block back and compares.
func checkBlocks(t *testing.T, s *Store, blocks []testBlock) {
	t.Helper()
	ctx := context.Background()
	for i, blk := range blocks {
		got, err := s.Get(ctx, blk.key)
		if err != nil {
			t.Fatalf("Get(block %d %s): %v", i, blk.key, err)
		}
		if string(got) != string(blk.data) {
			t.Fatalf("Get(block %d %s): %d bytes that differ from the %d put", i, blk.key, len(got), len(blk.data))
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}
