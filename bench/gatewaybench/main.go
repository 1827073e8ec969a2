// Command gatewaybench loads flotilla's gateway and Kubo's, on the same
// machine in the same run, with the same content, and prints requests/s,
// latency and throughput side by side with their ratio, for a 1 KiB file
// (requests/s, p50 and p99 latency), a 1 MiB and a 100 MiB file
// (throughput) and a raw block (a 256 KiB leaf with ?format=raw):
//
//	go run ./bench/gatewaybench -flotilla bin/flotilla -kubo .tools/bin/ipfs
//
// Both daemons run offline on loopback; only one is loaded at a time, and
// the order alternates between rounds. The load comes from wrk when it is
// installed (as in the baseline: wrk -t2 -c32), else from a Go
// generator in this process. Flotilla is also measured with its response
// cache off, so that the gain of each part of its hot path shows.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-ipfs/flotilla/bench/internal/loadgen"
	"github.com/flotilla-ipfs/flotilla/bench/internal/procs"
	"github.com/flotilla-ipfs/flotilla/bench/internal/stats"
)

type options struct {
	flotilla string
	kubo     string
	duration time.Duration
	rounds   int
	conns    int
	threads  int
	loadgen  string
	large    int64
	keep     bool
	noRC     bool
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	flag.StringVar(&o.flotilla, "flotilla", "bin/flotilla", "flotilla binary")
	flag.StringVar(&o.kubo, "kubo", ".tools/bin/ipfs", "kubo binary")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "load time of one measurement")
	flag.IntVar(&o.rounds, "rounds", 3, "measurements of each figure (the median is reported)")
	flag.IntVar(&o.conns, "c", 32, "concurrent connections (small files and raw blocks)")
	flag.IntVar(&o.threads, "t", 2, "load generator threads (wrk)")
	flag.StringVar(&o.loadgen, "loadgen", "auto", "auto (wrk when installed), wrk or go")
	flag.Int64Var(&o.large, "large", 100<<20, "size of the large file in bytes")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory")
	flag.BoolVar(&o.noRC, "no-response-cache-variant", true, "also measure flotilla with its response cache off")
	flag.Parse()
	if o.rounds < 1 || o.conns < 1 || o.threads < 1 {
		return errors.New("-rounds, -c and -t must be at least 1")
	}
	gen, err := loadgen.Pick(o.loadgen)
	if err != nil {
		return err
	}
	for _, p := range []*string{&o.flotilla, &o.kubo} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%w (build it: make build tools)", err)
		}
		*p = abs
	}
	scratch, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(scratch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()

	files, err := writePayloads(scratch, o.large)
	if err != nil {
		return err
	}
	g := &procs.Group{}
	defer g.StopAll()
	targets := []*daemon{}
	kubo, err := startKubo(ctx, g, o.kubo, filepath.Join(scratch, "kubo"))
	if err != nil {
		return err
	}
	targets = append(targets, kubo)
	fl, err := startFlotilla(ctx, g, o.flotilla, "flotilla", filepath.Join(scratch, "flotilla"))
	if err != nil {
		return err
	}
	targets = append(targets, fl)
	if o.noRC {
		norc, err := startFlotilla(ctx, g, o.flotilla, "flotilla, no response cache", filepath.Join(scratch, "flotilla-norc"), "--gateway-response-cache-bytes", "0")
		if err != nil {
			return err
		}
		targets = append(targets, norc)
	}

	// The same content in every daemon, added through its RPC API with
	// Kubo's CLI: the CIDs must agree.
	paths := map[string]string{}
	for _, d := range targets {
		for name, file := range files {
			out, err := command(ctx, o.kubo, "--api", d.api, "add", "-Q", "--cid-version=1", file)
			if err != nil {
				return fmt.Errorf("%s: add %s: %w", d.name, name, err)
			}
			c := strings.TrimSpace(out)
			if prev, ok := paths[name]; ok && prev != "/ipfs/"+c {
				return fmt.Errorf("%s: %s added as %s, want %s", d.name, name, c, prev)
			}
			paths[name] = "/ipfs/" + c
		}
	}
	refs, err := command(ctx, o.kubo, "--api", kubo.api, "refs", strings.TrimPrefix(paths["1MiB"], "/ipfs/"))
	if err != nil {
		return err
	}
	leaf := strings.Fields(refs)[0]
	paths["raw block"] = "/ipfs/" + leaf + "?format=raw"

	workloads := []workload{
		{name: "1 KiB file", path: paths["1KiB"], conns: o.conns},
		{name: "1 MiB file", path: paths["1MiB"], conns: o.conns},
		{name: "large file", path: paths["large"], conns: 4},
		{name: "raw block (256 KiB)", path: paths["raw block"], conns: o.conns},
	}
	fmt.Printf("gatewaybench: %s load, %d×%s per figure (median), %d connections (4 for the large file), %d CPUs, large file %d MiB\n",
		gen.Name(), o.rounds, o.duration, o.conns, runtime.NumCPU(), o.large>>20)
	for _, d := range targets {
		fmt.Printf("  %-30s %s\n", d.name, d.gateway)
	}
	results := map[string]map[string][]loadgen.Result{} // workload -> target -> rounds
	for _, w := range workloads {
		results[w.name] = map[string][]loadgen.Result{}
		for round := range o.rounds {
			order := slices.Clone(targets)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, d := range order {
				r, err := gen.Load(ctx, d.gateway+w.path, w.conns, o.threads, o.duration)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", d.name, w.name, err)
				}
				results[w.name][d.name] = append(results[w.name][d.name], r)
			}
		}
	}
	report(os.Stdout, workloads, targets, results)
	return nil
}

type workload struct {
	name  string
	path  string
	conns int
}

type result = loadgen.Result

// median is the median of one figure over rounds.
func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return stats.Median(v)
}

func report(w io.Writer, workloads []workload, targets []*daemon, results map[string]map[string][]result) {
	kubo := targets[0].name
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-22s %-10s", "workload", "figure")
	for _, d := range targets {
		fmt.Fprintf(w, " %14s", shortName(d.name))
		if d.name != kubo {
			fmt.Fprintf(w, " %7s", "×kubo")
		}
	}
	fmt.Fprintln(w)
	figures := []struct {
		name     string
		f        func(result) float64
		fmt      func(float64) string
		lowerWin bool
	}{
		{"req/s", func(r result) float64 { return r.RPS }, func(v float64) string { return fmt.Sprintf("%.0f", v) }, false},
		{"MB/s", func(r result) float64 { return r.BPS / 1e6 }, func(v float64) string { return fmt.Sprintf("%.0f", v) }, false},
		{"p50 ms", func(r result) float64 { return r.P50.Seconds() * 1000 }, func(v float64) string { return fmt.Sprintf("%.2f", v) }, true},
		{"p99 ms", func(r result) float64 { return r.P99.Seconds() * 1000 }, func(v float64) string { return fmt.Sprintf("%.2f", v) }, true},
		{"errors", func(r result) float64 { return float64(r.Errors) }, func(v float64) string { return fmt.Sprintf("%.0f", v) }, true},
	}
	for _, wl := range workloads {
		for _, fig := range figures {
			if fig.name == "errors" && median(results[wl.name][kubo], fig.f) == 0 && median(results[wl.name][targets[1].name], fig.f) == 0 {
				continue
			}
			fmt.Fprintf(w, "%-22s %-10s", wl.name, fig.name)
			base := median(results[wl.name][kubo], fig.f)
			for _, d := range targets {
				v := median(results[wl.name][d.name], fig.f)
				fmt.Fprintf(w, " %14s", fig.fmt(v))
				if d.name != kubo {
					ratio := "-"
					if base > 0 && v > 0 {
						if fig.lowerWin {
							ratio = fmt.Sprintf("%.2f", base/v) // >1: better than kubo
						} else {
							ratio = fmt.Sprintf("%.2f", v/base)
						}
					}
					fmt.Fprintf(w, " %7s", ratio)
				}
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "\n×kubo: flotilla's figure over kubo's (for latencies, kubo's over flotilla's): above 1 is better.")
}

func shortName(s string) string {
	if s == "flotilla, no response cache" {
		return "flotilla-noRC"
	}
	return s
}

// writePayloads writes the files every daemon serves.
func writePayloads(dir string, large int64) (map[string]string, error) {
	out := map[string]string{}
	for name, size := range map[string]int64{"1KiB": 1 << 10, "1MiB": 1 << 20, "large": large} {
		p := filepath.Join(dir, name+".bin")
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		_, err = io.CopyN(f, rand.Reader, size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		out[name] = p
	}
	return out, nil
}

// daemon is one running gateway.
type daemon struct {
	name    string
	api     string // multiaddr of its RPC API
	gateway string // http://host:port
}

func command(ctx context.Context, bin string, args ...string) (string, error) {
	return procs.Output(ctx, os.Environ(), bin, args...)
}

func startKubo(ctx context.Context, g *procs.Group, bin, repo string) (*daemon, error) {
	k, err := g.StartKubo(ctx, bin, "kubo", repo, nil, "--offline")
	if err != nil {
		return nil, err
	}
	return &daemon{name: "kubo", api: k.API, gateway: k.Gateway}, nil
}

func startFlotilla(ctx context.Context, g *procs.Group, bin, name, dir string, extra ...string) (*daemon, error) {
	f, err := g.StartFlotilla(ctx, bin, name, dir, append([]string{"--offline"}, extra...)...)
	if err != nil {
		return nil, err
	}
	return &daemon{name: name, api: f.RPCMultiaddr(), gateway: "http://" + f.Listen.Gateway}, nil
}
