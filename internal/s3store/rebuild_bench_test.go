package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/cockroachdb/pebble/v2"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-ipfs/flotilla/internal/s3store/s3test"
)

var benchRebuildBlocks = flag.Int("rebuild-blocks", 1_000_000, "blocks that BenchmarkRebuild indexes")

// BenchmarkRebuild times a fresh store indexing a bucket of many small
// blocks: 256-byte blocks in packs of 256, as 256 KiB blocks fill 64 MiB
// packs (the rebuild workload of bench/s3bench). The packs are uploaded
// once, directly; each iteration opens a store on an empty directory.
// It takes a while to set up, so run it alone:
//
//	go test -run '^$' -bench BenchmarkRebuild -benchtime 1x ./internal/s3store [-args -rebuild-blocks 100000]
func BenchmarkRebuild(b *testing.B) {
	srv := s3test.Start(b)
	srv.SetEnv(b)
	cfg := testConfig(srv)
	n := *benchRebuildBlocks
	packs := uploadSmallPacks(b, srv, cfg, n, 256, 256)
	b.Logf("%d blocks in %d packs", n, packs)

	ctx := context.Background()
	var cpu time.Duration
	for b.Loop() {
		dir := b.TempDir()
		cpu0 := cpuTime()
		s, err := Open(ctx, dir, cfg, Deps{Logger: slog.New(slog.NewTextHandler(b.Output(), nil))})
		cpu += cpuTime() - cpu0
		if err != nil {
			b.Fatal(err)
		}
		if got := s.Stats().LiveBlocks; got != int64(n) {
			b.Fatalf("a fresh store indexed %d blocks, want %d", got, n)
		}
		s.Close()
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

// uploadSmallPacks puts n distinct blocks of size bytes in packs of
// perPack blocks straight into the bucket, 16 PUTs at a time, and returns
// the number of packs.
func uploadSmallPacks(tb testing.TB, srv *s3test.Server, cfg Config, n, size, perPack int) int {
	tb.Helper()
	client := srv.Client()
	keys := &Store{prefix: cfg.keyPrefix()}
	var writer writerID
	copy(writer[:], "benchwrt")
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	packs := 0
	for first := 0; first < n; first += perPack {
		packs++
		g.Go(func() error {
			p := newPackBuilder()
			data := make([]byte, size)
			for i := first; i < min(first+perPack, n); i++ {
				binary.BigEndian.PutUint64(data, uint64(i))
				copy(data[8:], "s3store small block")
				sum := sha256.Sum256(data)
				h, _ := mh.Encode(sum[:], mh.SHA2_256)
				p.add(string(h), data)
			}
			id := newPackID(writer)
			obj, _ := p.finish(id, nil)
			_, err := client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(cfg.Bucket), Key: aws.String(keys.packKey(id)),
				Body: bytes.NewReader(obj), ContentLength: aws.Int64(int64(len(obj))),
				Metadata: map[string]string{prevMetadata: newPackID(writer).String()}, // as a store's packs have
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatal(err)
	}
	return packs
}

// cpuTime is the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIndexLoad times entering packs in the index without S3: a
// million blocks in packs of 256, one pack at a time (apply, as every
// rebuild did before bulk loads), and in a bulk load into an empty and
// into a non-empty index. Then it times lookups in the loaded index,
// of blocks held and not, with pebble's Get and with lookup.
//
//	go test -run '^$' -bench BenchmarkIndexLoad -benchtime 1x ./internal/s3store
func BenchmarkIndexLoad(b *testing.B) {
	n := *benchRebuildBlocks
	var writer writerID
	copy(writer[:], "benchidx")
	var packs []*packIndex
	for first := 0; first < n; first += 256 {
		p := &packIndex{id: newPackID(writer)}
		for i := first; i < min(first+256, n); i++ {
			e := packEntry{hash: string(benchHash(i)), offset: p.dataLen, size: 256}
			p.blocks = append(p.blocks, e)
			p.dataLen += e.size
		}
		p.size = p.dataLen + 10_000
		packs = append(packs, p)
	}
	open := func(b *testing.B) *index {
		x, err := openIndex(b.TempDir() + "/index")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { x.close() })
		return x
	}
	check := func(b *testing.B, x *index, want int64) {
		var got int64
		for _, info := range x.packList() {
			got += info.liveBlocks
		}
		if got != want {
			b.Fatalf("%d blocks indexed, want %d", got, want)
		}
	}
	bulk := func(b *testing.B, x *index, packs []*packIndex) {
		l, err := x.startLoad(len(packs) * 256)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range packs {
			if err := l.add(p); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.finish(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("apply", func(b *testing.B) {
		for b.Loop() {
			x := open(b)
			for _, p := range packs {
				if err := x.apply(p, applyOpts{}); err != nil {
					b.Fatal(err)
				}
			}
			check(b, x, int64(n))
		}
	})
	b.Run("bulk-empty", func(b *testing.B) {
		for b.Loop() {
			x := open(b)
			bulk(b, x, packs)
			check(b, x, int64(n))
		}
	})
	b.Run("bulk-nonempty", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			x := open(b)
			other := &packIndex{id: newPackID(writer), blocks: []packEntry{{hash: string(benchHash(-1)), size: 1}}, dataLen: 1, size: 100}
			if err := x.apply(other, applyOpts{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			bulk(b, x, packs)
			check(b, x, int64(n)+1)
		}
	})
	// An eighth of the packs into an index of the rest: looked up, in
	// batches.
	b.Run("bulk-eighth-into-large", func(b *testing.B) {
		cut := len(packs) * 7 / 8
		for b.Loop() {
			b.StopTimer()
			x := open(b)
			bulk(b, x, packs[:cut])
			b.StartTimer()
			bulk(b, x, packs[cut:])
			check(b, x, int64(n))
		}
	})
	x := open(b)
	bulk(b, x, packs)
	const lookups = 100_000
	for _, held := range []bool{false, true} {
		name := "miss"
		if held {
			name = "hit"
		}
		hash := func(i int) string {
			if held {
				return string(benchHash(i * (n / lookups)))
			}
			return string(benchHash(n + i))
		}
		b.Run("get-"+name, func(b *testing.B) {
			for b.Loop() {
				for i := range lookups {
					v, closer, err := x.db.Get(blockKey(hash(i)))
					if err == nil {
						_, derr := decodeLocation(v)
						closer.Close()
						if derr != nil {
							b.Fatal(derr)
						}
					} else if errors.Is(err, pebble.ErrNotFound) == held {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lookups), "ns/lookup")
		})
		b.Run("lookup-"+name, func(b *testing.B) {
			for b.Loop() {
				for i := range lookups {
					if _, found, err := x.lookup(hash(i)); err != nil || found != held {
						b.Fatalf("lookup = %v, %v; want %v", found, err, held)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lookups), "ns/lookup")
		})
	}
}

// benchHash is the multihash of the benchmark's block i.
func benchHash(i int) mh.Multihash {
	var data [8]byte
	binary.BigEndian.PutUint64(data[:], uint64(i))
	sum := sha256.Sum256(data[:])
	h, _ := mh.Encode(sum[:], mh.SHA2_256)
	return h
}
