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
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
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
	gen, err := pickLoadgen(o.loadgen)
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
	targets := []*daemon{}
	kubo, err := startKubo(ctx, o.kubo, filepath.Join(scratch, "kubo"))
	if err != nil {
		return err
	}
	defer kubo.stop()
	targets = append(targets, kubo)
	fl, err := startFlotilla(ctx, o.flotilla, "flotilla", filepath.Join(scratch, "flotilla"))
	if err != nil {
		return err
	}
	defer fl.stop()
	targets = append(targets, fl)
	if o.noRC {
		norc, err := startFlotilla(ctx, o.flotilla, "flotilla, no response cache", filepath.Join(scratch, "flotilla-norc"), "--gateway-response-cache-bytes", "0")
		if err != nil {
			return err
		}
		defer norc.stop()
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
		gen.name(), o.rounds, o.duration, o.conns, runtime.NumCPU(), o.large>>20)
	for _, d := range targets {
		fmt.Printf("  %-30s %s\n", d.name, d.gateway)
	}
	results := map[string]map[string][]result{} // workload -> target -> rounds
	for _, w := range workloads {
		results[w.name] = map[string][]result{}
		for round := range o.rounds {
			order := slices.Clone(targets)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, d := range order {
				r, err := gen.load(ctx, d.gateway+w.path, w.conns, o.threads, o.duration)
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

// result is one measurement.
type result struct {
	rps      float64
	bps      float64 // bytes/s
	p50, p99 time.Duration
	errors   int
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
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
		{"req/s", func(r result) float64 { return r.rps }, func(v float64) string { return fmt.Sprintf("%.0f", v) }, false},
		{"MB/s", func(r result) float64 { return r.bps / 1e6 }, func(v float64) string { return fmt.Sprintf("%.0f", v) }, false},
		{"p50 ms", func(r result) float64 { return r.p50.Seconds() * 1000 }, func(v float64) string { return fmt.Sprintf("%.2f", v) }, true},
		{"p99 ms", func(r result) float64 { return r.p99.Seconds() * 1000 }, func(v float64) string { return fmt.Sprintf("%.2f", v) }, true},
		{"errors", func(r result) float64 { return float64(r.errors) }, func(v float64) string { return fmt.Sprintf("%.0f", v) }, true},
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
	cmd     *exec.Cmd
	done    chan struct{}
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

func command(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

var kuboGateway = regexp.MustCompile(`Gateway server listening on /ip4/([0-9.]+)/tcp/([0-9]+)`)

func startKubo(ctx context.Context, bin, repo string) (*daemon, error) {
	env := append(os.Environ(), "IPFS_PATH="+repo)
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ipfs %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("init", "--empty-repo", "--profile=test"); err != nil {
		return nil, err
	}
	for _, kv := range [][2]string{
		{"Addresses.Gateway", `"/ip4/127.0.0.1/tcp/0"`}, {"Addresses.API", `"/ip4/127.0.0.1/tcp/0"`},
		{"Routing.Type", `"none"`},
	} {
		if err := run("config", "--json", kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, bin, "daemon", "--offline")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{name: "kubo", cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := kuboGateway.FindStringSubmatch(sc.Text()); m != nil {
				found <- "http://" + m[1] + ":" + m[2]
			}
		}
	}()
	go func() { cmd.Wait(); close(d.done) }()
	select {
	case d.gateway = <-found:
	case <-d.done:
		return nil, errors.New("kubo daemon exited during start")
	case <-time.After(60 * time.Second):
		d.stop()
		return nil, errors.New("kubo daemon: no gateway after 60s")
	}
	raw, err := os.ReadFile(filepath.Join(repo, "api"))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.api = strings.TrimSpace(string(raw))
	return d, nil
}

func startFlotilla(ctx context.Context, bin, name, dir string, extra ...string) (*daemon, error) {
	args := append([]string{"--data", dir, "--log-level", "warn", "daemon", "--offline",
		"--gateway-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--pinsvc-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var l struct {
			PID     int    `json:"pid"`
			Gateway string `json:"gateway"`
			RPC     string `json:"rpc"`
			Ops     string `json:"ops"`
		}
		if raw, err := os.ReadFile(filepath.Join(dir, "listen.json")); err == nil && json.Unmarshal(raw, &l) == nil && l.PID == cmd.Process.Pid {
			if resp, err := http.Get("http://" + l.Ops + "/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					host, port, _ := strings.Cut(l.RPC, ":")
					d.api = "/ip4/" + host + "/tcp/" + port
					d.gateway = "http://" + l.Gateway
					return d, nil
				}
			}
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("%s exited during start", name)
		default:
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("%s not ready after 60s", name)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// loadgen produces load against one URL.
type loadgen interface {
	name() string
	load(ctx context.Context, url string, conns, threads int, d time.Duration) (result, error)
}

func pickLoadgen(which string) (loadgen, error) {
	wrk, err := exec.LookPath("wrk")
	switch which {
	case "wrk":
		if err != nil {
			return nil, errors.New("wrk not found (apt-get install wrk), or use -loadgen go")
		}
		return wrkGen{wrk}, nil
	case "go":
		return goGen{}, nil
	case "auto":
		if err == nil {
			return wrkGen{wrk}, nil
		}
		return goGen{}, nil
	}
	return nil, fmt.Errorf("-loadgen %q: want auto, wrk or go", which)
}

type wrkGen struct{ bin string }

func (w wrkGen) name() string { return "wrk" }

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTransfer = regexp.MustCompile(`Transfer/sec:\s+([0-9.]+)([KMGT]?B)`)
	wrkLatency  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkErrors   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
)

func (w wrkGen) load(ctx context.Context, url string, conns, threads int, d time.Duration) (result, error) {
	threads = min(threads, conns)
	out, err := command(ctx, w.bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", d.String(), "--latency", url)
	if err != nil {
		return result{}, err
	}
	var r result
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkTransfer.FindStringSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[2]]
		r.bps = v * unit
	}
	for _, m := range wrkLatency.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		lat := time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]))
		if m[1] == "50" {
			r.p50 = lat
		} else {
			r.p99 = lat
		}
	}
	if m := wrkErrors.FindStringSubmatch(out); m != nil {
		r.errors, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

// goGen is a closed-loop generator: conns goroutines, each with its own
// keep-alive connection, request after request until the time is up.
type goGen struct{}

func (goGen) name() string { return "Go (in-process)" }

// maxSamples bounds the latencies kept per measurement.
const maxSamples = 2_000_000

func (goGen) load(ctx context.Context, url string, conns, _ int, d time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		bytes     int64
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			defer client.CloseIdleConnections()
			buf := make([]byte, 64<<10)
			var mine []time.Duration
			var n int64
			var bad int
			for ctx.Err() == nil && len(mine) < maxSamples/conns {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						bad++
					}
					continue
				}
				for {
					k, err := resp.Body.Read(buf)
					n += int64(k)
					if err != nil {
						break
					}
				}
				resp.Body.Close()
				if ctx.Err() != nil {
					break // cut short by the end of the run: not a sample
				}
				if resp.StatusCode != http.StatusOK {
					bad++
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			bytes += n
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if len(latencies) == 0 {
		return result{}, errors.New("no request completed")
	}
	slices.Sort(latencies)
	return result{
		rps:    float64(len(latencies)) / elapsed,
		bps:    float64(bytes) / elapsed,
		p50:    latencies[len(latencies)/2],
		p99:    latencies[len(latencies)*99/100],
		errors: errs,
	}, nil
}
