// Package s3bench measures what keeping blocks in S3 costs in requests,
// and how fast it is, with flotilla's store (internal/s3store: packs, a
// local index, a range cache) and with go-ds-s3's one object per block
// (perblock.go), in one run against one S3 server, plus a local-disk
// baseline (flatfs, internal/storage). It is its own module so that the
// main binary never depends on what only the comparison needs.
//
// Both S3 stores sit under boxo's blockstore and blockservice, each as its
// host builds them: flotilla's as its node does (internal/ipfs: "have
// it?" checked before each write, free from the index), go-ds-s3's as
// Kubo 0.43 does (Datastore.WriteThrough, on by default: no check before
// a write; a 2Q cache of 64k "have it?" answers; no bloom filter, Kubo's
// default). Content goes in through flotilla's importer with Kubo's
// defaults (CIDv0, 256 KiB chunks) and is read back as the gateway reads
// a file (boxo's unixfs file over the DAG service).
//
// The workloads, each counted by S3 operation at the server (a counting
// proxy, internal/s3store/s3test):
//
//   - add: Size bytes as two files of Size/2;
//   - rebuild: a fresh flotilla peer (empty data directory) indexing the
//     bucket, which go-ds-s3 does not need (it has no index);
//   - cold read: both files from a fresh peer;
//   - second read: the same peer again (flotilla: from its range cache);
//   - wants: Wants "have it?" calls for blocks not stored, as bitswap
//     makes for every want it receives;
//   - GC: one file unpinned, then a collection on a fresh peer: mark
//     (walk the pinned file's DAG), enumerate every block, delete the
//     unpinned ones, and for flotilla compact (threshold 0.5, no grace
//     period, so the objects go in the same run);
//   - index rebuild at scale: RebuildBlocks small blocks in packs of 256
//     blocks (as 256 KiB blocks fill a 64 MiB pack), indexed by a fresh
//     peer.
package s3bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/datastore/dshelp"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	ufile "github.com/ipfs/boxo/ipld/unixfs/file"
	cid "github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-ipfs/flotilla/bench/internal/payload"
	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/s3store"
	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

// Region is the region both stores sign with (the test server's).
const Region = "us-east-1"

// Prefixes in Config.Bucket; go-ds-s3's objects are in a bucket of
// their own.
const (
	flotillaPrefix = "flotilla"
	rebuildPrefix  = "rebuild"
	perBlockRoot   = "blocks"
)

// Config is one run.
type Config struct {
	// Size is how much is added: two files of Size/2.
	Size int64
	// Wants is how many "have it?" calls are made for blocks not stored.
	Wants int
	// RebuildBlocks is how many blocks the large index rebuild indexes.
	RebuildBlocks int
	// Dir holds the peers' data directories and the flatfs baseline.
	Dir string
	// Endpoint is the S3 server's URL (path-style addressing).
	Endpoint string
	// Bucket holds flotilla's packs, PerBlockBucket go-ds-s3's objects.
	// Both must exist, and be empty.
	Bucket, PerBlockBucket string
	// Requests counts the server's requests by operation.
	Requests Counter
	// Verify compares every byte read with what was added (it costs
	// CPU inside the timed reads; the smoke test sets it).
	Verify bool
	// Progress, if set, gets a line per step.
	Progress io.Writer
}

// Counter counts the requests an S3 server got, by operation
// (s3test.Server).
type Counter interface {
	Counts() map[string]int
	Reset()
}

// Measure is one workload on one store.
type Measure struct {
	Requests map[string]int // by S3 operation; nil when not run
	Elapsed  time.Duration
	// CPU is the benchmark process's CPU time (user and system): the
	// store, boxo, the importer, and the counting proxy, which both
	// stores share; not the S3 server's. Steadier than Elapsed on a
	// machine shared with other work.
	CPU   time.Duration
	Bytes int64 // content bytes moved, for MiB/s; 0 when not a transfer
}

// Ran says whether the workload ran on this store.
func (m Measure) Ran() bool { return m.Requests != nil }

// Total is the number of requests.
func (m Measure) Total() int {
	n := 0
	for _, c := range m.Requests {
		n += c
	}
	return n
}

// MiBps is the throughput, 0 without bytes.
func (m Measure) MiBps() float64 {
	if m.Bytes == 0 || m.Elapsed <= 0 {
		return 0
	}
	return float64(m.Bytes) / (1 << 20) / m.Elapsed.Seconds()
}

// Pair is a workload on both S3 stores.
type Pair struct {
	Flotilla, PerBlock Measure
}

// Results are a run's figures.
type Results struct {
	Size, Blocks  int64 // bytes added, and blocks they made
	Wants         int
	RebuildBlocks int

	Add, Rebuild, ColdRead, SecondRead, Wanted, GC Pair

	// The local-disk baseline: the add, the first read (written blocks
	// are dropped from the page cache, so from the disk) and the second.
	LocalAdd, LocalFirstRead, LocalSecondRead Measure

	Packs        int64 // flotilla's packs after the add
	Compact      s3store.CompactStats
	IndexRebuild Measure // RebuildBlocks blocks
	RebuildPacks int64
}

// Run runs every workload, one at a time (the request counts are the
// server's, so nothing else may use it meanwhile).
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if cfg.Size < 2 || cfg.Wants < 0 || cfg.RebuildBlocks < 0 {
		return nil, fmt.Errorf("s3bench: size %d, wants %d, rebuild blocks %d: want a size of at least 2 bytes and no negative count", cfg.Size, cfg.Wants, cfg.RebuildBlocks)
	}
	r := &Results{Size: cfg.Size / 2 * 2, Wants: cfg.Wants, RebuildBlocks: cfg.RebuildBlocks}
	b := &bench{cfg: cfg, res: r}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"local disk", b.local},
		{"flotilla", b.flotilla},
		{"go-ds-s3", b.perBlock},
		{"index rebuild", b.indexRebuild},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("s3bench: %s: %w", s.name, err)
		}
	}
	return r, nil
}

type bench struct {
	cfg   Config
	res   *Results
	roots []cid.Cid // the two files, as added
}

func (b *bench) logf(format string, args ...any) {
	if b.cfg.Progress != nil {
		fmt.Fprintf(b.cfg.Progress, format+"\n", args...)
	}
}

// measure runs fn with the server's counts zeroed and returns them.
func (b *bench) measure(bytes int64, fn func() error) (Measure, error) {
	b.cfg.Requests.Reset()
	m, err := timed(fn)
	m.Requests, m.Bytes = b.cfg.Requests.Counts(), bytes
	return m, err
}

// timed runs fn and returns its wall and CPU time, and no requests.
func timed(fn func() error) (Measure, error) {
	cpu0, start := cpuTime(), time.Now()
	err := fn()
	return Measure{Requests: map[string]int{}, Elapsed: time.Since(start), CPU: cpuTime() - cpu0}, err
}

// cpuTime is the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (b *bench) dir(name string) (string, error) {
	d := filepath.Join(b.cfg.Dir, name)
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, os.MkdirAll(d, 0o700)
}

// stack is boxo's blockstore and an offline DAG service over a datastore.
type stack struct {
	bs  blockstore.Blockstore
	dag ipld.DAGService
}

// nodeStack is what flotilla's node builds (internal/ipfs): the
// blockstore without the /blocks prefix, behind the id store, checking
// for a block before writing it (boxo's default).
func nodeStack(d ds.Batching) stack {
	bs := blockstore.NewIdStore(blockstore.NewBlockstore(d, blockstore.NoPrefix()))
	return stack{bs, merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))}
}

// kuboStack is what Kubo 0.43 builds over its datastore
// (core/node/storage.go with its default config): write-through
// blockstore and blockservice, a 2Q cache of 64k "have it?" answers
// without a bloom filter (Datastore.BloomFilterSize is 0 by default),
// the id store. Kubo mounts the block datastore at /blocks; keys reach
// the child datastore without that prefix, as here.
func kuboStack(ctx context.Context, d ds.Batching) (stack, error) {
	base := blockstore.NewBlockstore(d, blockstore.NoPrefix(), blockstore.WriteThrough(true))
	opts := blockstore.DefaultCacheOpts()
	opts.HasBloomFilterSize = 0
	cached, err := blockstore.CachedBlockstore(ctx, base, opts)
	if err != nil {
		return stack{}, err
	}
	bs := blockstore.NewIdStore(cached)
	return stack{bs, merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs), blockservice.WriteThrough(true)))}, nil
}

// payloadSeeds name the two files' bytes.
var payloadSeeds = [2]string{"s3bench file a", "s3bench file b"}

// add imports the two files with Kubo's default settings and returns
// their roots.
func (b *bench) add(ctx context.Context, st stack) ([]cid.Cid, error) {
	settings, err := importer.Params{}.Resolve()
	if err != nil {
		return nil, err
	}
	half := b.cfg.Size / 2
	var entries []files.DirEntry
	for i, seed := range payloadSeeds {
		r := io.LimitReader(payload.NewReader(seed), half)
		entries = append(entries, files.FileEntry(fmt.Sprintf("file-%c", 'a'+i), files.NewReaderFile(r)))
	}
	roots, err := importer.Add(ctx, st.dag, files.NewSliceDirectory(entries), settings, nil)
	if err != nil {
		return nil, err
	}
	out := make([]cid.Cid, len(roots))
	for i, r := range roots {
		out[i] = r.Node.Cid()
	}
	if b.roots != nil && !slicesEqual(out, b.roots) {
		return nil, fmt.Errorf("the roots %v differ from the first add's %v", out, b.roots)
	}
	b.roots = out
	return out, nil
}

func slicesEqual(a, c []cid.Cid) bool {
	if len(a) != len(c) {
		return false
	}
	for i := range a {
		if !a[i].Equals(c[i]) {
			return false
		}
	}
	return true
}

// read reads both files as the gateway does (boxo's unixfs file over
// the DAG service) and returns the bytes read.
func (b *bench) read(ctx context.Context, st stack) (int64, error) {
	var total int64
	for i, root := range b.roots {
		nd, err := st.dag.Get(ctx, root)
		if err != nil {
			return total, fmt.Errorf("file %d root %s: %w", i, root, err)
		}
		f, err := ufile.NewUnixfsFile(ctx, st.dag, nd)
		if err != nil {
			return total, err
		}
		file, ok := f.(files.File)
		if !ok {
			return total, fmt.Errorf("root %s is not a file", root)
		}
		var w io.Writer = io.Discard
		var check *compareWriter
		if b.cfg.Verify {
			check = &compareWriter{want: payload.NewReader(payloadSeeds[i])}
			w = check
		}
		n, err := io.Copy(w, file)
		file.Close()
		total += n
		if err != nil {
			return total, fmt.Errorf("reading file %d: %w", i, err)
		}
		if n != b.cfg.Size/2 {
			return total, fmt.Errorf("file %d: read %d bytes, added %d", i, n, b.cfg.Size/2)
		}
		if check != nil && check.err != nil {
			return total, fmt.Errorf("file %d: %w", i, check.err)
		}
	}
	return total, nil
}

// compareWriter checks what is written against a stream.
type compareWriter struct {
	want io.Reader
	buf  []byte
	off  int64
	err  error
}

func (c *compareWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return len(p), nil
	}
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	want := c.buf[:len(p)]
	if _, err := io.ReadFull(c.want, want); err != nil {
		return 0, err
	}
	if !bytes.Equal(p, want) {
		c.err = fmt.Errorf("bytes %d-%d differ from those added", c.off, c.off+int64(len(p)))
	}
	c.off += int64(len(p))
	return len(p), nil
}

// wants asks for n blocks that are not stored, 8 at a time (bitswap's
// engine looks blocks up concurrently), and checks that none is found.
func (b *bench) wants(ctx context.Context, st stack) error {
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range 8 {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.cfg.Wants) {
					return nil
				}
				c := cid.NewCidV1(cid.Raw, mhOf(binary.BigEndian.AppendUint64([]byte("s3bench want "), uint64(i))))
				has, err := st.bs.Has(gctx, c)
				if err != nil {
					return err
				}
				if has {
					return fmt.Errorf("a block never stored is found: Has(%s) = true", c)
				}
			}
		})
	}
	return g.Wait()
}

func mhOf(data []byte) mh.Multihash {
	sum := sha256.Sum256(data)
	h, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		panic(err) // sha2-256 of 32 bytes always encodes
	}
	return h
}

// gc unpins the first file and collects as flotilla's node does
// (internal/ipfs/gc.go) and Kubo's: mark every block reachable from the
// pinned second file, enumerate the store, delete what is not marked.
// It returns how many blocks it kept and deleted.
func (b *bench) gc(ctx context.Context, st stack) (kept, deleted int, err error) {
	live := cid.NewSet()
	mark := func(c cid.Cid) bool { return live.Visit(cid.NewCidV1(cid.Raw, c.Hash())) }
	if err := merkledag.Walk(ctx, merkledag.GetLinksWithDAG(st.dag), b.roots[1], mark); err != nil {
		return 0, 0, fmt.Errorf("mark: %w", err)
	}
	keys, err := st.bs.AllKeysChan(ctx)
	if err != nil {
		return 0, 0, err
	}
	for k := range keys {
		if live.Has(k) {
			kept++
			continue
		}
		if err := st.bs.DeleteBlock(ctx, k); err != nil {
			return kept, deleted, fmt.Errorf("delete %s: %w", k, err)
		}
		deleted++
	}
	if kept != live.Len() {
		return kept, deleted, fmt.Errorf("the store lists %d of the %d blocks of the pinned file", kept, live.Len())
	}
	return kept, deleted, ctx.Err()
}

// checkKept reads one block of the pinned file and finds the unpinned
// file's root gone.
func (b *bench) checkKept(ctx context.Context, st stack) error {
	if _, err := st.bs.Get(ctx, b.roots[1]); err != nil {
		return fmt.Errorf("the pinned file's root after GC: %w", err)
	}
	if has, err := st.bs.Has(ctx, b.roots[0]); err != nil || has {
		return fmt.Errorf("the unpinned file's root after GC: Has = %v, %v; want false", has, err)
	}
	return nil
}

// local is the baseline: the add and two reads on a synced flatfs store,
// as a flotilla peer keeps blocks by default.
func (b *bench) local(ctx context.Context) error {
	dir, err := b.dir("flatfs")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d, err := storage.OpenBlocks(ctx, dir, storage.DefaultConfig(), storage.Deps{})
	if err != nil {
		return err
	}
	defer d.Close()
	st := nodeStack(d)
	r := b.res
	r.LocalAdd, err = timed(func() error { _, err := b.add(ctx, st); return err })
	if err != nil {
		return fmt.Errorf("add: %w", err)
	}
	r.LocalAdd.Bytes = r.Size
	b.logf("local disk: add %s in %v (%.0f MiB/s)", payload.Size(r.Size), r.LocalAdd.Elapsed.Round(time.Millisecond), r.LocalAdd.MiBps())
	n := 0
	keys, err := st.bs.AllKeysChan(ctx)
	if err != nil {
		return err
	}
	for range keys {
		n++
	}
	r.Blocks = int64(n)
	for _, m := range []*Measure{&r.LocalFirstRead, &r.LocalSecondRead} {
		var got int64
		*m, err = timed(func() error { got, err = b.read(ctx, st); return err })
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		m.Bytes = got
	}
	b.logf("local disk: read in %v (%.0f MiB/s), again in %v (%.0f MiB/s)",
		r.LocalFirstRead.Elapsed.Round(time.Millisecond), r.LocalFirstRead.MiBps(),
		r.LocalSecondRead.Elapsed.Round(time.Millisecond), r.LocalSecondRead.MiBps())
	return nil
}

// storeConfig is flotilla's store with its default sizes, except a
// cache that holds what is read twice: the default 1 GiB would not hold
// a 1 GiB file and its DAG, and the second read would measure S3.
func (b *bench) storeConfig(prefix string) s3store.Config {
	c := s3store.DefaultConfig()
	c.Bucket, c.Prefix = b.cfg.Bucket, prefix
	c.Endpoint, c.PathStyle, c.Region = b.cfg.Endpoint, true, Region
	c.CacheSize = max(c.CacheSize, 2*b.cfg.Size)
	return c
}

// openStore opens a flotilla peer's store on a fresh data directory.
func (b *bench) openStore(ctx context.Context, name string, c s3store.Config) (*s3store.Store, error) {
	dir, err := b.dir(name)
	if err != nil {
		return nil, err
	}
	return s3store.Open(ctx, dir, c, s3store.Deps{})
}

func (b *bench) flotilla(ctx context.Context) error {
	r := b.res
	c := b.storeConfig(flotillaPrefix)

	// The peer that adds.
	s, err := b.openStore(ctx, "flotilla-add", c)
	if err != nil {
		return err
	}
	r.Add.Flotilla, err = b.measure(r.Size, func() error { _, err := b.add(ctx, nodeStack(s)); return err })
	r.Packs = s.Stats().Packs
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("add: %w", err)
	}
	b.logf("flotilla: add in %v (%.0f MiB/s), %d packs, %d requests",
		r.Add.Flotilla.Elapsed.Round(time.Millisecond), r.Add.Flotilla.MiBps(), r.Packs, r.Add.Flotilla.Total())

	// A fresh peer: rebuild, read cold, read again, wants.
	var fresh *s3store.Store
	r.Rebuild.Flotilla, err = b.measure(0, func() error { fresh, err = b.openStore(ctx, "flotilla-fresh", c); return err })
	if err != nil {
		return fmt.Errorf("fresh peer: %w", err)
	}
	defer fresh.Close()
	if got := fresh.Stats().LiveBlocks; got != r.Blocks {
		return fmt.Errorf("fresh peer: %d blocks indexed, %d added", got, r.Blocks)
	}
	b.logf("flotilla: fresh peer indexed %d packs in %v, %d requests", r.Packs, r.Rebuild.Flotilla.Elapsed.Round(time.Millisecond), r.Rebuild.Flotilla.Total())
	st := nodeStack(fresh)
	for _, m := range []*Measure{&r.ColdRead.Flotilla, &r.SecondRead.Flotilla} {
		var n int64
		*m, err = b.measure(0, func() error { n, err = b.read(ctx, st); return err })
		m.Bytes = n
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
	b.logf("flotilla: cold read in %v (%.0f MiB/s, %d requests), again in %v (%.0f MiB/s, %d requests)",
		r.ColdRead.Flotilla.Elapsed.Round(time.Millisecond), r.ColdRead.Flotilla.MiBps(), r.ColdRead.Flotilla.Total(),
		r.SecondRead.Flotilla.Elapsed.Round(time.Millisecond), r.SecondRead.Flotilla.MiBps(), r.SecondRead.Flotilla.Total())
	if r.Wanted.Flotilla, err = b.measure(0, func() error { return b.wants(ctx, st) }); err != nil {
		return fmt.Errorf("wants: %w", err)
	}
	b.logf("flotilla: %d wants in %v, %d requests", b.cfg.Wants, r.Wanted.Flotilla.Elapsed.Round(time.Millisecond), r.Wanted.Flotilla.Total())
	if err := fresh.Close(); err != nil {
		return err
	}

	// GC on another fresh peer, so that marking reads from S3 and not
	// from the cache the reads above filled. Its rebuild is not counted.
	g, err := b.openStore(ctx, "flotilla-gc", c)
	if err != nil {
		return fmt.Errorf("gc peer: %w", err)
	}
	defer g.Close()
	st = nodeStack(g)
	var kept, deleted int
	r.GC.Flotilla, err = b.measure(0, func() error {
		if kept, deleted, err = b.gc(ctx, st); err != nil {
			return err
		}
		r.Compact, err = g.Compact(ctx, 0.5, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if err := b.checkKept(ctx, st); err != nil {
		return err
	}
	b.logf("flotilla: GC kept %d blocks, deleted %d, compaction rewrote %d packs into %d and deleted %d objects (%.1f MiB) in %v, %d requests",
		kept, deleted, r.Compact.Rewritten, r.Compact.Written, r.Compact.Deleted, float64(r.Compact.ReclaimedBytes)/(1<<20),
		r.GC.Flotilla.Elapsed.Round(time.Millisecond), r.GC.Flotilla.Total())
	return g.Close()
}

func (b *bench) openPerBlock(ctx context.Context) (stack, error) {
	d, err := openPerBlock(ctx, b.cfg.Endpoint, Region, b.cfg.PerBlockBucket, perBlockRoot)
	if err != nil {
		return stack{}, err
	}
	return kuboStack(ctx, d)
}

func (b *bench) perBlock(ctx context.Context) error {
	r := b.res
	st, err := b.openPerBlock(ctx)
	if err != nil {
		return err
	}
	if r.Add.PerBlock, err = b.measure(r.Size, func() error { _, err := b.add(ctx, st); return err }); err != nil {
		return fmt.Errorf("add: %w", err)
	}
	b.logf("go-ds-s3: add in %v (%.0f MiB/s), %d requests", r.Add.PerBlock.Elapsed.Round(time.Millisecond), r.Add.PerBlock.MiBps(), r.Add.PerBlock.Total())

	// A fresh datastore: nothing to rebuild.
	r.Rebuild.PerBlock, err = b.measure(0, func() error { st, err = b.openPerBlock(ctx); return err })
	if err != nil {
		return err
	}
	for _, m := range []*Measure{&r.ColdRead.PerBlock, &r.SecondRead.PerBlock} {
		var n int64
		*m, err = b.measure(0, func() error { n, err = b.read(ctx, st); return err })
		m.Bytes = n
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
	b.logf("go-ds-s3: cold read in %v (%.0f MiB/s, %d requests), again in %v (%.0f MiB/s, %d requests)",
		r.ColdRead.PerBlock.Elapsed.Round(time.Millisecond), r.ColdRead.PerBlock.MiBps(), r.ColdRead.PerBlock.Total(),
		r.SecondRead.PerBlock.Elapsed.Round(time.Millisecond), r.SecondRead.PerBlock.MiBps(), r.SecondRead.PerBlock.Total())
	if r.Wanted.PerBlock, err = b.measure(0, func() error { return b.wants(ctx, st) }); err != nil {
		return fmt.Errorf("wants: %w", err)
	}
	b.logf("go-ds-s3: %d wants in %v, %d requests", b.cfg.Wants, r.Wanted.PerBlock.Elapsed.Round(time.Millisecond), r.Wanted.PerBlock.Total())

	if st, err = b.openPerBlock(ctx); err != nil {
		return err
	}
	var kept, deleted int
	r.GC.PerBlock, err = b.measure(0, func() error { kept, deleted, err = b.gc(ctx, st); return err })
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if err := b.checkKept(ctx, st); err != nil {
		return err
	}
	b.logf("go-ds-s3: GC kept %d blocks, deleted %d in %v, %d requests", kept, deleted, r.GC.PerBlock.Elapsed.Round(time.Millisecond), r.GC.PerBlock.Total())
	return nil
}

// Blocks of the large index rebuild: small, so that a million are
// written quickly, in packs of 256 as 256 KiB blocks fill 64 MiB packs.
const (
	rebuildBlockSize     = 256
	rebuildBlocksPerPack = 256
	rebuildWriters       = 4
)

// indexRebuild writes RebuildBlocks blocks with one peer and times a
// fresh peer's open, which indexes them all.
func (b *bench) indexRebuild(ctx context.Context) error {
	if b.cfg.RebuildBlocks == 0 {
		return nil
	}
	r := b.res
	c := b.storeConfig(rebuildPrefix)
	c.PackSize = rebuildBlockSize * rebuildBlocksPerPack
	w, err := b.openStore(ctx, "rebuild-writer", c)
	if err != nil {
		return err
	}
	start := time.Now()
	err = writeSmallBlocks(ctx, w, b.cfg.RebuildBlocks)
	r.RebuildPacks = w.Stats().Packs
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %d blocks: %w", b.cfg.RebuildBlocks, err)
	}
	b.logf("index rebuild: wrote %d blocks in %d packs in %v", b.cfg.RebuildBlocks, r.RebuildPacks, time.Since(start).Round(time.Millisecond))
	var fresh *s3store.Store
	r.IndexRebuild, err = b.measure(0, func() error { fresh, err = b.openStore(ctx, "rebuild-fresh", c); return err })
	if err != nil {
		return err
	}
	defer fresh.Close()
	if got := fresh.Stats().LiveBlocks; got != int64(b.cfg.RebuildBlocks) {
		return fmt.Errorf("a fresh peer indexed %d blocks of %d", got, b.cfg.RebuildBlocks)
	}
	b.logf("index rebuild: a fresh peer indexed %d blocks in %v, %d requests", b.cfg.RebuildBlocks, r.IndexRebuild.Elapsed.Round(time.Millisecond), r.IndexRebuild.Total())
	return fresh.Close()
}

// writeSmallBlocks puts n distinct blocks of rebuildBlockSize bytes, in a
// few batches side by side.
func writeSmallBlocks(ctx context.Context, s *s3store.Store, n int) error {
	g, gctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	var errs []error
	for w := range rebuildWriters {
		g.Go(func() error {
			batch, err := s.Batch(gctx)
			if err != nil {
				return err
			}
			data := make([]byte, rebuildBlockSize)
			for i := w; i < n; i += rebuildWriters {
				binary.BigEndian.PutUint64(data, uint64(i))
				copy(data[8:], "s3bench small block")
				if err := batch.Put(gctx, dshelp.MultihashToDsKey(mhOf(data)), bytes.Clone(data)); err != nil {
					return err
				}
			}
			if err := batch.Commit(gctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	return errors.Join(g.Wait(), errors.Join(errs...))
}
