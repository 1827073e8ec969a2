package s3store

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPutGetHasSizeDelete(t *testing.T) {
	srv := startS3(t)
	s := openStore(t, t.TempDir(), testConfig(srv))
	ctx := context.Background()
	blocks := makeBlocks(1, 3, 1000)

	for _, b := range blocks {
		if err := s.Put(ctx, b.key, b.data); err != nil {
			t.Fatalf("Put(%s): %v", b.key, err)
		}
	}
	checkBlocks(t, s, blocks)
	for _, b := range blocks {
		if ok, err := s.Has(ctx, b.key); err != nil || !ok {
			t.Errorf("Has(%s) = %v, %v, want true", b.key, ok, err)
		}
		if n, err := s.GetSize(ctx, b.key); err != nil || n != len(b.data) {
			t.Errorf("GetSize(%s) = %d, %v, want %d", b.key, n, err, len(b.data))
		}
	}

	// A block held already is not uploaded again.
	srv.Reset()
	if err := s.Put(ctx, blocks[0].key, blocks[0].data); err != nil {
		t.Fatal(err)
	}
	if n := srv.Count("PutObject"); n != 0 {
		t.Errorf("putting a block held already made %d PUTs, want 0", n)
	}

	if err := s.Delete(ctx, blocks[1].key); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, blocks[1].key); ok {
		t.Errorf("Has(deleted block) = true")
	}
	if _, err := s.Get(ctx, blocks[1].key); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("Get(deleted block) error = %v, want ds.ErrNotFound", err)
	}
	if _, err := s.GetSize(ctx, blocks[1].key); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("GetSize(deleted block) error = %v, want ds.ErrNotFound", err)
	}
	if err := s.Delete(ctx, blocks[1].key); err != nil {
		t.Errorf("deleting a block twice: %v", err)
	}

	// The query lists what is left, sizes and values included.
	res, err := s.Query(ctx, query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{blocks[0].key.String(): string(blocks[0].data), blocks[2].key.String(): string(blocks[2].data)}
	if len(entries) != len(want) {
		t.Fatalf("Query returned %d entries, want %d", len(entries), len(want))
	}
	for _, e := range entries {
		if v, ok := want[e.Key]; !ok || string(e.Value) != v || e.Size != len(v) {
			t.Errorf("Query entry %s (%d bytes, size %d) is not one of the blocks left", e.Key, len(e.Value), e.Size)
		}
	}

	if err := s.Put(ctx, ds.NewKey("/not/a/block"), []byte("x")); err == nil {
		t.Errorf("Put of a key that is no multihash succeeded")
	}
}

func TestBatchPutsAndDeletes(t *testing.T) {
	srv := startS3(t)
	s := openStore(t, t.TempDir(), testConfig(srv))
	ctx := context.Background()
	blocks := makeBlocks(2, 4, 500)
	putBatch(t, s, blocks[:2])

	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Put(ctx, blocks[2].key, blocks[2].data)
	b.Put(ctx, blocks[3].key, blocks[3].data)
	b.Delete(ctx, blocks[3].key) // put, then deleted: not stored
	b.Delete(ctx, blocks[0].key) // stored before: deleted at commit
	if ok, _ := s.Has(ctx, blocks[0].key); !ok {
		t.Errorf("a batch's delete took effect before its commit")
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true, true, false} {
		if ok, _ := s.Has(ctx, blocks[i].key); ok != want {
			t.Errorf("after the batch, Has(block %d) = %v, want %v", i, ok, want)
		}
	}
}

// A committed batch is in S3: a store with an empty directory on the same
// bucket rebuilds its index from the packs and serves every block, with
// one GET per pack (each index fits in the first read of its tail).
func TestCommittedBatchRebuildsOnAFreshStore(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	cfg.PackSize = 1 << 20
	s := openStore(t, t.TempDir(), cfg)
	blocks := makeBlocks(3, 100, 40_000) // 4 MB: the batch seals several packs as it goes
	putBatch(t, s, blocks)
	packs := s.Stats().Packs
	if packs < 3 {
		t.Fatalf("%d packs for 4 MB with a 1 MiB pack size, want at least 3", packs)
	}

	srv.Reset()
	fresh := openStore(t, t.TempDir(), cfg)
	if n := srv.Count("GetObject"); int64(n) != packs {
		t.Errorf("the rebuild made %d GETs for %d packs, want one per pack", n, packs)
	}
	if got := fresh.Stats(); got.LiveBlocks != int64(len(blocks)) || got.Packs != packs {
		t.Errorf("rebuilt index: %d blocks in %d packs, want %d in %d", got.LiveBlocks, got.Packs, len(blocks), packs)
	}
	checkBlocks(t, fresh, blocks)
}

// A pack whose index is longer than the first read of its tail takes a
// second ranged GET to rebuild.
func TestRebuildReadsALongIndex(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	s := openStore(t, t.TempDir(), cfg)
	blocks := makeBlocks(4, 3000, 10) // ~37 bytes of index each: more than tailGuess
	putBatch(t, s, blocks)
	if got := s.Stats().Packs; got != 1 {
		t.Fatalf("%d packs, want 1", got)
	}
	srv.Reset()
	fresh := openStore(t, t.TempDir(), cfg)
	if n := srv.Count("GetObject"); n != 2 {
		t.Errorf("the rebuild of a pack with a long index made %d GETs, want 2", n)
	}
	checkBlocks(t, fresh, blocks)
}

// Small commits that arrive while uploads are in flight share a pack. The
// first uploads are held until every commit is queued, so the count does
// not depend on scheduling.
func TestConcurrentCommitsAreGrouped(t *testing.T) {
	srv := startS3(t)
	s := openStore(t, t.TempDir(), testConfig(srv))
	const commits = 64
	blocks := makeBlocks(5, commits, 2000)
	release := make(chan struct{})
	srv.Intercept(func(op string, r *http.Request) int {
		if op == "PutObject" {
			<-release
		}
		return 0
	})
	srv.Reset()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, commits)
	for i, b := range blocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				errs <- s.Put(ctx, b.key, b.data)
				return
			}
			bt, _ := s.Batch(ctx)
			bt.Put(ctx, b.key, b.data)
			errs <- bt.Commit(ctx)
		}()
	}
	waitFor(t, "every commit to be queued", func() bool { return testutil.ToFloat64(s.metrics.commits) == commits })
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	puts := srv.Count("PutObject")
	if puts < 1 || puts > uploadsInFlight+2 {
		t.Errorf("%d concurrent commits made %d PUTs, want at most %d", commits, puts, uploadsInFlight+2)
	}
	checkBlocks(t, s, blocks)
}

// A commit fails, and acknowledges nothing, when its pack cannot be
// written; the store still works afterwards.
func TestFailedUploadIsNotAcknowledged(t *testing.T) {
	srv := startS3(t)
	s := openStore(t, t.TempDir(), testConfig(srv))
	blocks := makeBlocks(6, 2, 100)
	srv.Intercept(func(op string, r *http.Request) int {
		if op == "PutObject" {
			return http.StatusForbidden // not retried by the SDK
		}
		return 0
	})
	ctx := context.Background()
	err := s.Put(ctx, blocks[0].key, blocks[0].data)
	if err == nil || !strings.Contains(err.Error(), "writing pack") {
		t.Fatalf("Put with S3 refusing the upload: error = %v, want one about writing the pack", err)
	}
	if ok, _ := s.Has(ctx, blocks[0].key); ok {
		t.Errorf("Has(block whose upload failed) = true")
	}
	srv.Intercept(nil)
	if err := s.Put(ctx, blocks[1].key, blocks[1].data); err != nil {
		t.Fatalf("Put after S3 recovered: %v", err)
	}
	checkBlocks(t, s, blocks[1:])
}

// Has and GetSize of blocks the store lacks, bitswap's "have?" from the
// whole network, cost no request.
func TestUnknownBlocksCostNoRequest(t *testing.T) {
	srv := startS3(t)
	s := openStore(t, t.TempDir(), testConfig(srv))
	putBatch(t, s, makeBlocks(7, 10, 100))
	ctx := context.Background()
	srv.Reset()
	for _, b := range makeBlocks(8, 1000, 1) {
		if ok, err := s.Has(ctx, b.key); err != nil || ok {
			t.Fatalf("Has(unknown) = %v, %v", ok, err)
		}
		if _, err := s.GetSize(ctx, b.key); !errors.Is(err, ds.ErrNotFound) {
			t.Fatalf("GetSize(unknown) error = %v, want ds.ErrNotFound", err)
		}
		if _, err := s.Get(ctx, b.key); !errors.Is(err, ds.ErrNotFound) {
			t.Fatalf("Get(unknown) error = %v, want ds.ErrNotFound", err)
		}
	}
	if n := srv.Total(); n != 0 {
		t.Errorf("3000 lookups of unknown blocks made %d requests (%v), want 0", n, srv.Counts())
	}
}

// Blocks read in the order they were written take one GET per ReadSize,
// and are then served from the cache, across a restart too.
func TestReadsInOrderAreCoalescedAndCached(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	blocks := makeBlocks(9, 64, 64<<10) // 4 MiB in one pack: 4 read ranges
	putBatch(t, openStore(t, t.TempDir(), cfg), blocks)

	dir := t.TempDir()
	s := openStore(t, dir, cfg)
	srv.Reset()
	checkBlocks(t, s, blocks)
	if n := srv.Count("GetObject"); n != 4 {
		t.Errorf("reading 4 MiB in order with a 1 MiB read size made %d GETs, want 4", n)
	}
	// Read-ahead may fetch a range before its first block is asked for,
	// which then counts as a hit: the split varies, the sum does not.
	if hits, misses := testutil.ToFloat64(s.metrics.cacheHits), testutil.ToFloat64(s.metrics.cacheMisses); misses > 4 || hits+misses != 64 {
		t.Errorf("cache hits, misses = %v, %v, want 64 lookups with at most 4 misses", hits, misses)
	}

	srv.Reset()
	checkBlocks(t, s, blocks)
	s.Close()
	s = openStore(t, dir, cfg)
	checkBlocks(t, s, blocks)
	if n := srv.Count("GetObject"); n != 0 {
		t.Errorf("reading cached blocks, before and after a restart, made %d GETs, want 0", n)
	}
}

// Concurrent reads of blocks in one range share its GET.
func TestConcurrentReadsShareAGet(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	blocks := makeBlocks(10, 16, 32<<10) // 512 KiB: one range
	putBatch(t, openStore(t, t.TempDir(), cfg), blocks)
	s := openStore(t, t.TempDir(), cfg)
	release := make(chan struct{})
	srv.Intercept(func(op string, r *http.Request) int {
		if op == "GetObject" {
			<-release
		}
		return 0
	})
	srv.Reset()
	var wg sync.WaitGroup
	for _, b := range blocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Get(context.Background(), b.key)
			if err != nil || string(got) != string(b.data) {
				t.Errorf("Get(%s): %d bytes, %v", b.key, len(got), err)
			}
		}()
	}
	waitFor(t, "the first GET", func() bool { return srv.Count("GetObject") == 1 })
	close(release)
	wg.Wait()
	if n := srv.Count("GetObject"); n != 1 {
		t.Errorf("16 concurrent reads of one range made %d GETs, want 1", n)
	}
}

// The cache stays within its size, evicting the least recently used.
func TestCacheIsBounded(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	cfg.CacheSize = 4 * cfg.ReadSize
	blocks := makeBlocks(11, 40, 256<<10) // 10 MiB
	putBatch(t, openStore(t, t.TempDir(), cfg), blocks)
	dir := t.TempDir()
	s := openStore(t, dir, cfg)
	checkBlocks(t, s, blocks)
	if got := s.Stats().CacheBytes; got > cfg.CacheSize || got < cfg.ReadSize {
		t.Errorf("cache holds %d bytes after reading 10 MiB, want between %d and %d", got, cfg.ReadSize, cfg.CacheSize)
	}
	// The last blocks read are the ones kept. Read-ahead still in flight
	// would count its GETs after the reset: let it end first.
	s.ahead.Wait()
	srv.Reset()
	checkBlocks(t, s, blocks[len(blocks)-4:])
	if n := srv.Count("GetObject"); n != 0 {
		t.Errorf("re-reading the last MiB read made %d GETs, want 0", n)
	}
	s.Close()
	if c, err := openCache(dir+"/cache", cfg.CacheSize); err != nil || c.bytes() > cfg.CacheSize {
		t.Errorf("reopened cache: %v, %d bytes", err, c.bytes())
	}
}

// S3 errors at Open say what to check.
func TestOpenErrorsNameTheProblem(t *testing.T) {
	srv := startS3(t)
	ctx := context.Background()

	cfg := testConfig(srv)
	cfg.Bucket = "no-such-bucket"
	_, err := Open(ctx, t.TempDir(), cfg, Deps{})
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Errorf("Open of a missing bucket: error = %v", err)
	}

	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	_, err = Open(ctx, t.TempDir(), testConfig(srv), Deps{})
	if err == nil || !strings.Contains(err.Error(), "denied: check the credentials") {
		t.Errorf("Open with a wrong secret: error = %v", err)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err = Open(ctx, t.TempDir(), testConfig(srv), Deps{})
	if err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Errorf("Open without credentials: error = %v", err)
	}
}

// The prefix is the store's own: other objects in it stop Open.
func TestForeignObjectsInThePrefixAreAnError(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	_, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("peer-a/notes.txt"), Body: strings.NewReader("hello"),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), t.TempDir(), cfg, Deps{})
	if err == nil || !strings.Contains(err.Error(), "peer-a/notes.txt") || !strings.Contains(err.Error(), "not flotilla packs") {
		t.Errorf("Open over a prefix holding notes.txt: error = %v", err)
	}
	// Another prefix of the same bucket is fine.
	cfg.Prefix = "peer-b"
	openStore(t, t.TempDir(), cfg)
}

// The series count each request by operation and outcome, the bytes
// sent, and the packs' figures.
func TestMetricsCountRequests(t *testing.T) {
	srv := startS3(t)
	s := openStore(t, t.TempDir(), testConfig(srv))
	ctx := context.Background()
	b := makeBlocks(12, 1, 5000)[0]
	if err := s.Put(ctx, b.key, b.data); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues("PutObject", "ok")); got != 1 {
		t.Errorf("PutObject ok = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.metrics.sent); got < 5000 {
		t.Errorf("bytes sent = %v, want at least 5000", got)
	}
	if st := s.Stats(); st.Packs != 1 || st.LiveBytes != 5000 || st.PackBytes <= 5000 {
		t.Errorf("Stats = %+v, want 1 pack, 5000 live bytes", st)
	}
}

// Reads that step from one range of a pack to the next fetch the range
// after in the background; reads that jump about do not.
func TestSequentialReadsReadAhead(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	blocks := makeBlocks(13, 64, 64<<10) // 4 MiB in one pack: 16 blocks per range
	putBatch(t, openStore(t, t.TempDir(), cfg), blocks)
	ctx := context.Background()

	s := openStore(t, t.TempDir(), cfg)
	id, _ := onlyPack(t, s)
	for _, i := range []int{0, 16} { // a block of range 0, then of range 1
		if _, err := s.Get(ctx, blocks[i].key); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "range 2 to be read ahead", func() bool { return s.cache.has(cacheName(id, 2*cfg.ReadSize)) })
	srv.Reset()
	checkBlocks(t, s, blocks[32:48])
	if n := srv.Count("GetObject"); n > 1 {
		t.Errorf("reading range 2 after it was read ahead made %d GETs, want at most 1 (range 3, read ahead)", n)
	}

	s = openStore(t, t.TempDir(), cfg)
	srv.Reset()
	for _, i := range []int{32, 0, 48} { // ranges 2, 0, 3: no step forward
		if _, err := s.Get(ctx, blocks[i].key); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // waits for reads ahead
	if n := srv.Count("GetObject"); n != 3 {
		t.Errorf("reading ranges 2, 0, 3 made %d GETs, want 3 (nothing read ahead)", n)
	}
}
