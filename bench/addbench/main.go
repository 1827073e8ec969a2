// Command addbench measures how fast a file is added, next to the figures
// that say what "fast" means on this machine: Kubo adding the same file,
// SHA-256 over the same bytes on every core, and a sequential write with
// fdatasync to the same disk. Everything is measured in one run, interleaved,
// because the disks we run on drift by a factor of two within minutes.
//
//	go run ./bench/addbench -flotilla ./flotilla -kubo .tools/bin/ipfs
//
// Without -flotilla (or with a binary that has no add command yet) the
// flotilla figure comes from the Go API, daemon.OpenLocal and Node.Add, run
// in a child process of addbench so that its wall time and peak RSS are
// measured exactly as a binary's would be. -baseline adds another flotilla
// binary (say, built from main) to the same runs, for before/after.
//
// Both adds create a file per block, and on ext4 an inode allocation slows
// down when many files were deleted in the last 30 seconds (without a
// journal, freshly freed inodes are skipped one by one). So nothing is
// deleted between runs, and figures taken while other work (a test suite)
// creates and deletes files on the same file system are not comparable
// with quiet ones; the CPU seconds column moves much less than MiB/s.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/files"
	"golang.org/x/sys/unix"

	"github.com/flotilla-ipfs/flotilla/bench/internal/payload"
	"github.com/flotilla-ipfs/flotilla/bench/internal/procs"
	"github.com/flotilla-ipfs/flotilla/bench/internal/stats"
	"github.com/flotilla-ipfs/flotilla/internal/daemon"
	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// childFlag makes addbench run one in-process add and exit: the fallback
// when there is no flotilla binary with an add command.
const childFlag = "-child-add"

// hashChunk is the unit of the hashing limit: the default chunker's size,
// so the figure is "hash every leaf", nothing more.
const hashChunk = 256 << 10

func main() {
	if len(os.Args) == 4 && os.Args[1] == childFlag {
		if err := childAdd(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "addbench child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "addbench:", err)
		os.Exit(1)
	}
}

type options struct {
	size     int64
	dir      string
	flotilla string
	baseline string
	api      bool
	kubo     string
	kuboSync bool
	runs     int
	keep     bool
	timeout  time.Duration
}

// contender is one way of adding the file, measured in every run.
type contender struct {
	name string
	add  func(ctx context.Context, scratch, file string) (addResult, error)
	adds []addResult
}

func run() error {
	o := options{}
	size := flag.String("size", "1GiB", "file size (bytes, or with a KiB/MiB/GiB suffix)")
	flag.StringVar(&o.dir, "dir", "", "directory for the test file (kept there for reuse) and scratch repos; default: a fresh temp dir")
	flag.StringVar(&o.flotilla, "flotilla", "", "flotilla binary; default: the Go API in a child process")
	flag.StringVar(&o.baseline, "baseline", "", "another flotilla binary (e.g. built from main) measured in the same runs, for before/after")
	flag.BoolVar(&o.api, "api", true, "with -flotilla, also measure the Go API, to show what the CLI's own path costs")
	flag.StringVar(&o.kubo, "kubo", ".tools/bin/ipfs", "kubo binary")
	flag.BoolVar(&o.kuboSync, "kubo-sync", true, "also measure kubo with flatfs \"sync\": true (its default repo does not fsync blocks)")
	flag.IntVar(&o.runs, "runs", 3, "measured runs of each figure")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	var err error
	if o.size, err = parseSize(*size); err != nil {
		return err
	}
	if o.runs < 1 {
		return fmt.Errorf("-runs %d: want at least 1", o.runs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	scratch, cleanup, err := scratchDir(o)
	if err != nil {
		return err
	}
	defer cleanup()
	file, err := testFile(o, scratch)
	if err != nil {
		return err
	}
	kubo, err := filepath.Abs(o.kubo)
	if err != nil {
		return err
	}
	if _, err := os.Stat(kubo); err != nil {
		return fmt.Errorf("kubo binary: %w (run `make tools` or pass -kubo)", err)
	}

	// The first contender is the one the ratios are about; kubo's default
	// is the reference.
	fl, err := newFlotilla(ctx, o.flotilla)
	if err != nil {
		return err
	}
	fmt.Printf("addbench: %s file %s, %d runs, %d CPUs\n", mib(o.size), file, o.runs, runtime.NumCPU())
	fmt.Printf("flotilla: %s\n", fl.describe())
	all := []*contender{{name: "flotilla add (" + fl.mode + ")", add: fl.add}}
	if fl.mode == "CLI" && o.api {
		api, _ := newFlotilla(ctx, "")
		all = append(all, &contender{name: "flotilla add (Go API)", add: api.add})
	}
	if o.baseline != "" {
		base, err := newFlotilla(ctx, o.baseline)
		if err != nil {
			return err
		}
		fmt.Printf("baseline: %s\n", base.describe())
		all = append(all, &contender{name: "baseline add (" + base.mode + ")", add: base.add})
	}
	ref := &contender{name: "kubo add --offline", add: func(ctx context.Context, scratch, file string) (addResult, error) {
		return kuboAdd(ctx, kubo, scratch, file, false)
	}}
	all = append(all, ref)
	if o.kuboSync {
		all = append(all, &contender{name: "kubo add --offline, flatfs sync", add: func(ctx context.Context, scratch, file string) (addResult, error) {
			return kuboAdd(ctx, kubo, scratch, file, true)
		}})
	}

	var disk []float64
	for i := range o.runs {
		// Alternate the order so that no add always runs on the disk
		// state another one left.
		order := slices.Clone(all)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, c := range order {
			r, err := c.add(ctx, scratch, file)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			c.adds = append(c.adds, r)
			fmt.Fprintf(os.Stderr, "  run %d: %-32s %5.0f MiB/s  cpu %5.2fs  rss %s  %s\n", i+1, c.name, r.rate(o.size), r.cpu.Seconds(), mib(r.rss), r.cid)
		}
		for _, c := range all {
			if got, want := c.adds[i].cid, ref.adds[i].cid; got != want {
				return fmt.Errorf("CID MISMATCH for %s: %s printed %s, kubo %s", file, c.name, got, want)
			}
		}
		d, err := diskWrite(scratch, o.size)
		if err != nil {
			return fmt.Errorf("disk write: %w", err)
		}
		disk = append(disk, d)
	}
	hashAll, hashOne, err := hashRates(file, o.runs)
	if err != nil {
		return err
	}

	kuboMed := median(rates(ref.adds, o.size))
	limit := min(median(hashAll), median(disk))
	fmt.Printf("\n%-34s %8s %12s %14s %10s %8s\n", "name", "MiB/s", "min-max", "ratio-to-kubo", "peak RSS", "CPU s")
	row := func(name string, v []float64, adds []addResult) {
		rss, cpu := "", ""
		if adds != nil {
			rss, cpu = mib(medianRSS(adds)), fmt.Sprintf("%.2f", medianCPU(adds).Seconds())
		}
		fmt.Printf("%-34s %8.0f %12s %14.2f %10s %8s\n", name, median(v),
			fmt.Sprintf("%.0f-%.0f", slices.Min(v), slices.Max(v)), median(v)/kuboMed, rss, cpu)
	}
	for _, c := range all {
		row(c.name, rates(c.adds, o.size), c.adds)
	}
	row(fmt.Sprintf("sha256, %d cores", runtime.NumCPU()), hashAll, nil)
	row("sha256, 1 core", hashOne, nil)
	row("seq write + fdatasync", disk, nil)
	flMed := median(rates(all[0].adds, o.size))
	fmt.Printf("\nroot CID %s (all agree)\n", ref.adds[0].cid)
	fmt.Printf("flotilla / kubo                   %.2f\n", flMed/kuboMed)
	fmt.Printf("flotilla / min(sha256 all, disk)  %.2f  (limit %.0f MiB/s)\n", flMed/limit, limit)
	fmt.Printf("peak RSS: flotilla %s (max %s), kubo %s (max %s)\n",
		mib(medianRSS(all[0].adds)), mib(maxRSS(all[0].adds)), mib(medianRSS(ref.adds)), mib(maxRSS(ref.adds)))
	fmt.Println("(flotilla's add returns once its blocks are on disk; kubo's default repo does not fsync them)")
	return nil
}

// scratchDir returns the directory everything is created in and the
// function that removes what this run created.
func scratchDir(o options) (string, func(), error) {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "addbench-")
		if err != nil {
			return "", nil, err
		}
		return d, func() {
			if o.keep {
				fmt.Fprintln(os.Stderr, "kept", d)
				return
			}
			os.RemoveAll(d)
		}, nil
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return "", nil, err
	}
	d, err := filepath.Abs(o.dir)
	return d, func() {
		if o.keep {
			fmt.Fprintln(os.Stderr, "kept", filepath.Join(d, "repos"))
			return
		}
		os.RemoveAll(filepath.Join(d, "repos"))
	}, err
}

// testFile returns the deterministic test file, written once and reused
// when it already has the right size.
func testFile(o options, dir string) (string, error) {
	return payload.File(dir, fmt.Sprintf("addbench-v1-%d.bin", o.size), o.size, "addbench")
}

// addResult is one measured add.
type addResult struct {
	cid  string
	wall time.Duration
	cpu  time.Duration // user + system: what the add cost, whatever else ran
	rss  int64         // bytes
}

func (r addResult) rate(size int64) float64 { return float64(size) / (1 << 20) / r.wall.Seconds() }

// runMeasured runs cmd (see procs.RunMeasured); its output is the CID.
func runMeasured(cmd *exec.Cmd) (addResult, error) {
	m, err := procs.RunMeasured(cmd)
	if err != nil {
		return addResult{}, err
	}
	if m.Stdout == "" {
		return addResult{}, fmt.Errorf("%s printed no CID", strings.Join(cmd.Args, " "))
	}
	return addResult{cid: m.Stdout, wall: m.Wall, cpu: m.CPU, rss: m.RSS}, nil
}

// fresh returns an empty directory under dir/repos. Repos are removed only
// at the end: ext4 skips inodes freed in the last 30 s when it allocates
// new ones, and deleting a repo of 4,000 blocks between two adds makes the
// next add pay for that scan (seen with perf: recently_deleted).
func fresh(dir, prefix string) (string, error) {
	repos := filepath.Join(dir, "repos")
	if err := os.MkdirAll(repos, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(repos, prefix)
}

// kuboAdd adds file with kubo to a fresh repo. Kubo's default repo writes
// blocks to flatfs with "sync": false; sync turns it on, to compare
// durable adds with durable adds.
func kuboAdd(ctx context.Context, bin, scratch, file string, sync bool) (addResult, error) {
	repo, err := fresh(scratch, "kubo-")
	if err != nil {
		return addResult{}, err
	}
	env := procs.KuboEnv(repo)
	initCmd := exec.CommandContext(ctx, bin, "init", "--empty-repo")
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		return addResult{}, fmt.Errorf("ipfs init: %w: %s", err, out)
	}
	if sync {
		if err := syncKuboBlocks(filepath.Join(repo, "config")); err != nil {
			return addResult{}, err
		}
	}
	cmd := exec.CommandContext(ctx, bin, "add", "--offline", "-Q", "--cid-version=1", file)
	cmd.Env = env
	return runMeasured(cmd)
}

// syncKuboBlocks sets "sync": true on the flatfs mounts of a kubo config.
// The setting is not part of kubo's datastore_spec, so the repo opens as
// before.
func syncKuboBlocks(config string) error {
	raw, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "flatfs" {
				v["sync"] = true
				found = true
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(cfg["Datastore"])
	if !found {
		return fmt.Errorf("%s: no flatfs mount to make synced", config)
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(config, out, 0o600)
}

// flotilla runs adds with a flotilla binary, or with this program as a
// child running the Go API.
type flotilla struct {
	bin  string   // the program to run
	args []string // before the data directory and file
	mode string
}

func newFlotilla(ctx context.Context, bin string) (*flotilla, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	api := &flotilla{bin: self, args: []string{childFlag}, mode: "Go API"}
	if bin == "" {
		return api, nil
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	// A binary without the add command still answers --help for it with
	// the root's usage; asking for add's own flags tells the two apart.
	out, _ := exec.CommandContext(ctx, abs, "add", "--help").CombinedOutput()
	if !bytes.Contains(out, []byte("cid-version")) {
		fmt.Fprintf(os.Stderr, "addbench: %s has no add command; using the Go API\n", bin)
		return api, nil
	}
	return &flotilla{bin: abs, mode: "CLI"}, nil
}

func (f *flotilla) describe() string {
	if f.mode == "CLI" {
		return f.bin + " --data DIR add -Q --cid-version=1 FILE"
	}
	return "Go API (daemon.OpenLocal + Node.Add) in a child process of addbench"
}

func (f *flotilla) add(ctx context.Context, scratch, file string) (addResult, error) {
	data, err := fresh(scratch, "flotilla-")
	if err != nil {
		return addResult{}, err
	}
	var cmd *exec.Cmd
	if f.mode == "CLI" {
		cmd = exec.CommandContext(ctx, f.bin, "--data", data, "add", "-Q", "--cid-version=1", file)
	} else {
		cmd = exec.CommandContext(ctx, f.bin, append(f.args, data, file)...)
	}
	return runMeasured(cmd)
}

// childAdd adds file to a fresh data directory through the Go API, as
// `flotilla --data DIR add -Q --cid-version=1 FILE` does, and prints the
// root CID.
func childAdd(data, file string) (err error) {
	ctx := context.Background()
	cfg := daemon.DefaultConfig()
	cfg.Data = data
	cfg.Offline = true
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	local, err := daemon.OpenLocal(ctx, data, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, local.Close()) }()
	one := 1
	s, err := importer.Params{CidVersion: &one}.Resolve()
	if err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	f, err := files.NewSerialFile(file, false, st)
	if err != nil {
		return err
	}
	args := files.NewSliceDirectory([]files.DirEntry{files.FileEntry(filepath.Base(file), f)})
	roots, err := local.Node.Add(ctx, args, ipfs.AddOptions{Import: s, Pin: true}, nil)
	if err != nil {
		return err
	}
	fmt.Println(roots[0].Node.Cid())
	return nil
}

// diskWrite writes size bytes sequentially next to the repos and
// fdatasyncs them: the most a block store on this disk could sustain.
func diskWrite(dir string, size int64) (float64, error) {
	p := filepath.Join(dir, "seqwrite.tmp")
	defer func() { os.Remove(p); unix.Sync() }()
	buf := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{'d', 'i', 's', 'k'}).Read(buf)
	unix.Sync()
	start := time.Now()
	f, err := os.Create(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			return 0, err
		}
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return float64(size) / (1 << 20) / time.Since(start).Seconds(), nil
}

// hashRates returns SHA-256 rates over the file's bytes, held in memory so
// that only hashing is timed: on all cores (one goroutine per CPU taking
// 256 KiB chunks in turn) and on one.
func hashRates(file string, runs int) (all, one []float64, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	for range runs {
		all = append(all, hashRate(data, runtime.NumCPU()))
		one = append(one, hashRate(data, 1))
	}
	return all, one, nil
}

func hashRate(data []byte, workers int) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				off := next.Add(hashChunk) - hashChunk
				if off >= int64(len(data)) {
					return
				}
				sha256.Sum256(data[off:min(off+hashChunk, int64(len(data)))])
			}
		}()
	}
	wg.Wait()
	return float64(len(data)) / (1 << 20) / time.Since(start).Seconds()
}

func rates(rs []addResult, size int64) []float64 {
	var v []float64
	for _, r := range rs {
		v = append(v, r.rate(size))
	}
	return v
}

func median(v []float64) float64 { return stats.Median(v) }

func medianRSS(rs []addResult) int64 {
	var v []float64
	for _, r := range rs {
		v = append(v, float64(r.rss))
	}
	return int64(median(v))
}

func medianCPU(rs []addResult) time.Duration {
	var v []float64
	for _, r := range rs {
		v = append(v, float64(r.cpu))
	}
	return time.Duration(median(v))
}

func maxRSS(rs []addResult) int64 {
	var m int64
	for _, r := range rs {
		m = max(m, r.rss)
	}
	return m
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// parseSize reads the -size flag.
func parseSize(s string) (int64, error) {
	n, err := payload.ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("-size: %w", err)
	}
	return n, nil
}
