package s3bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/bench/internal/payload"
	"github.com/flotilla-ipfs/flotilla/internal/s3store/s3test"
)

// The benchmark is a test so that it can run the S3 server of the
// store's own tests (s3test, versitygw behind a counting proxy). `make
// bench-s3` runs it:
//
//	cd bench/s3bench && go test -run '^TestS3Bench$' -v -timeout 60m . -args -s3bench [-quick] [-size 1GiB] [-get-delay 20ms] [-out FILE]
var (
	runBench    = flag.Bool("s3bench", false, "run the benchmark (without it, TestS3Bench is skipped)")
	quick       = flag.Bool("quick", false, "a smoke run of the whole benchmark: 64 MiB, 10,000 wants, 100,000 blocks for the index rebuild")
	sizeFlag    = flag.String("size", "1GiB", "bytes added, as two files of half the size (KiB/MiB/GiB suffixes)")
	wantsFlag   = flag.Int("wants", 100_000, `"have it?" calls for blocks not stored`)
	rebuildFlag = flag.Int("rebuild-blocks", 1_000_000, "blocks a fresh peer indexes in the large rebuild (0: skip it)")
	outFlag     = flag.String("out", "", "also write the tables to this file")
	getDelay    = flag.Duration("get-delay", 0, "added to every GetObject at the server, as S3's latency to first byte (0: loopback's)")
)

// perBlockBucket holds go-ds-s3's objects; flotilla's packs are in the
// server's own bucket.
const perBlockBucket = "go-ds-s3"

// startServer runs versitygw with a bucket for each store, and gives the
// SDK's default chain its credentials, as both stores load them.
func startServer(t *testing.T) *s3test.Server {
	t.Helper()
	srv := s3test.Start(t)
	srv.CreateBucket(t, perBlockBucket)
	srv.SetEnv(t)
	return srv
}

func TestS3Bench(t *testing.T) {
	if !*runBench {
		t.Skip("the S3 benchmark runs with -s3bench: make bench-s3")
	}
	size, err := payload.ParseSize(*sizeFlag)
	if err != nil {
		t.Fatalf("-size: %v", err)
	}
	wants, rebuild := *wantsFlag, *rebuildFlag
	if *quick {
		size, wants, rebuild = 64<<20, 10_000, 100_000
	}
	srv := startServer(t)
	if *getDelay > 0 {
		srv.Intercept(func(op string, r *http.Request) int {
			if op == "GetObject" {
				time.Sleep(*getDelay)
			}
			return 0
		})
	}
	cfg := Config{
		Size: size, Wants: wants, RebuildBlocks: rebuild, Dir: t.TempDir(),
		Endpoint: srv.Endpoint, Bucket: srv.Bucket, PerBlockBucket: perBlockBucket, Requests: srv,
		Progress: os.Stdout,
	}
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "s3bench: %s added, %d wants, %d blocks rebuilt; versitygw on loopback; %s in all\n\n",
		payload.Size(res.Size), wants, rebuild, time.Since(start).Round(time.Second))
	res.Report(&out)
	os.Stdout.Write(out.Bytes())
	if *outFlag != "" {
		if err := os.WriteFile(*outFlag, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSmoke runs every workload on a few MiB and checks what the
// benchmark relies on: the counts land on the right store, and each
// store makes the requests its design says.
func TestSmoke(t *testing.T) {
	srv := startServer(t)
	var progress strings.Builder
	cfg := Config{
		Size: 4 << 20, Wants: 500, RebuildBlocks: 3000, Dir: t.TempDir(),
		Endpoint: srv.Endpoint, Bucket: srv.Bucket, PerBlockBucket: perBlockBucket, Requests: srv,
		Verify: true, Progress: &progress,
	}
	res, err := Run(context.Background(), cfg)
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	res.Report(&report)
	t.Log(report.String())

	// Two files of 2 MiB in 256 KiB chunks: 8 leaves and a root each,
	// and the directory nodes the importer writes on the way.
	const fileBlocks = 18
	if res.Blocks < fileBlocks {
		t.Errorf("blocks added = %d, want at least %d", res.Blocks, fileBlocks)
	}
	checks := []struct {
		what      string
		got, want int
	}{
		{"flotilla requests for wants", res.Wanted.Flotilla.Total(), 0},
		{"go-ds-s3 HEADs for wants", res.Wanted.PerBlock.Requests["HeadObject"], cfg.Wants},
		{"flotilla requests for the second read", res.SecondRead.Flotilla.Total(), 0},
		{"go-ds-s3 requests to open a fresh store", res.Rebuild.PerBlock.Total(), 0},
		{"go-ds-s3 HEADs while adding (write-through, as Kubo)", res.Add.PerBlock.Requests["HeadObject"], 0},
		{"flotilla HEADs of objects while adding", res.Add.Flotilla.Requests["HeadObject"], 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	if puts := int64(res.Add.PerBlock.Requests["PutObject"]); puts < res.Blocks {
		t.Errorf("go-ds-s3 PUTs for %d blocks = %d, want one per block at least", res.Blocks, puts)
	}
	if gets := res.ColdRead.PerBlock.Requests["GetObject"]; gets != fileBlocks {
		t.Errorf("go-ds-s3 GETs reading %d blocks = %d, want one per block", fileBlocks, gets)
	}
	for _, p := range []struct {
		what string
		p    Pair
	}{{"add", res.Add}, {"cold read", res.ColdRead}} {
		if f, g := p.p.Flotilla.Total(), p.p.PerBlock.Total(); f == 0 || f >= g {
			t.Errorf("%s: flotilla made %d requests, go-ds-s3 %d; want some, and fewer", p.what, f, g)
		}
	}
	if res.GC.PerBlock.Requests["DeleteObject"] == 0 || res.GC.Flotilla.Requests["DeleteObject"]+res.Compact.Written == 0 {
		t.Errorf("GC requests: flotilla %v, go-ds-s3 %v; want deletions on both", res.GC.Flotilla.Requests, res.GC.PerBlock.Requests)
	}
	// Each writer seals a pack every 256 blocks; what is left of each
	// may share a pack.
	if minPacks := int64(cfg.RebuildBlocks / rebuildWriters / rebuildBlocksPerPack * rebuildWriters); !res.IndexRebuild.Ran() || res.RebuildPacks < minPacks {
		t.Errorf("index rebuild: ran %v with %d packs; want %d blocks in at least %d packs", res.IndexRebuild.Ran(), res.RebuildPacks, cfg.RebuildBlocks, minPacks)
	}
	if !strings.Contains(report.String(), "| add 4MiB | **") {
		t.Errorf("the report has no add row:\n%s", report.String())
	}
}

func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {100000, "100,000"}, {1234567, "1,234,567"}, {-4100, "-4,100"}} {
		if got := thousands(tc.in); got != tc.want {
			t.Errorf("thousands(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
