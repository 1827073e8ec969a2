package s3store

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reachable answers from what the store learned lately, asks S3 with one
// HeadBucket when that is old, and reports a bucket that answers 5xx.
func TestReachable(t *testing.T) {
	srv := startS3(t)
	s := openStore(t, t.TempDir(), testConfig(srv))
	ctx := context.Background()
	srv.Reset()
	for range 10 {
		if err := s.Reachable(ctx); err != nil {
			t.Fatalf("Reachable after open = %v", err)
		}
	}
	if n := srv.Count("HeadBucket"); n != 0 {
		t.Fatalf("Reachable right after open made %d HeadBucket requests, want 0 (the open's answer is fresh)", n)
	}

	later := time.Now()
	s.now = func() time.Time { return later }
	srv.Intercept(func(op string, _ *http.Request) int { return http.StatusInternalServerError })
	later = later.Add(reachableFor)
	if err := s.Reachable(ctx); err == nil || !strings.Contains(err.Error(), `bucket "`+srv.Bucket+`" unreachable`) {
		t.Fatalf("Reachable while S3 answers 500 = %v, want the bucket unreachable", err)
	}
	if n := srv.Count("HeadBucket"); n != 1 {
		t.Fatalf("a probe made %d HeadBucket requests, want 1 (no retries)", n)
	}
	// The failure is remembered: no request until it is old.
	if err := s.Reachable(ctx); err == nil {
		t.Fatal("Reachable forgot the failure at once")
	}
	if n := srv.Count("HeadBucket"); n != 1 {
		t.Fatalf("%d HeadBucket requests, want still 1", n)
	}

	srv.Intercept(nil)
	later = later.Add(reachableFor)
	if err := s.Reachable(ctx); err != nil {
		t.Fatalf("Reachable once S3 answers again = %v", err)
	}
}

// A miss asks OnMiss to catch up and looks again: a block another writer
// put in a shared bucket is found once OnMiss entered its pack, and Stats
// count the requests, bytes and cache reads.
func TestOnMissCatchesUp(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	cfg.Shared = true
	var mu sync.Mutex
	var written []string // packs writer wrote, not yet entered into reader
	writer, err := Open(context.Background(), t.TempDir(), cfg, Deps{OnPack: func(id string) {
		mu.Lock()
		written = append(written, id)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Close() })
	var reader *Store
	misses := 0
	reader, err = Open(context.Background(), t.TempDir(), cfg, Deps{OnMiss: func(ctx context.Context) {
		mu.Lock()
		ids := written
		written = nil
		misses++
		mu.Unlock()
		for _, id := range ids {
			if err := reader.AddPack(ctx, id); err != nil {
				t.Errorf("AddPack(%s): %v", id, err)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })

	blocks := makeBlocks(7, 8, 10_000)
	putBatch(t, writer, blocks)
	ctx := context.Background()
	if ok, err := reader.Has(ctx, blocks[0].key); err != nil || !ok {
		t.Fatalf("reader.Has(a block the writer put) = %v, %v; want true after OnMiss", ok, err)
	}
	checkBlocks(t, reader, blocks)
	if misses != 1 {
		t.Fatalf("OnMiss was called %d times, want 1", misses)
	}
	if ok, _ := reader.Has(ctx, keyOf([]byte("nobody wrote this"))); ok || misses != 2 {
		t.Fatalf("Has(an unknown block) = %v after %d calls of OnMiss; want false after 2", ok, misses)
	}

	st := reader.Stats()
	if st.Requests["GetObject"] == 0 || st.ReceivedBytes < 10_000 || st.CacheMisses == 0 || st.LiveBlocks != int64(len(blocks)) {
		t.Fatalf("reader's Stats = %+v", st)
	}
	if f := st.LiveFraction(); f <= 0.9 || f > 1 {
		t.Fatalf("LiveFraction = %v, want the packs nearly all live", f)
	}
	checkBlocks(t, reader, blocks)
	if st := reader.Stats(); st.CacheHits == 0 || st.CacheHitRatio() <= 0 {
		t.Fatalf("reading again hit no cache: %+v", st)
	}
	if st := writer.Stats(); st.Requests["PutObject"] == 0 || st.SentBytes < int64(len(blocks)*10_000) {
		t.Fatalf("writer's Stats = %+v", st)
	}
}
