// Command compare puts flotilla side by side with the stack it replaces,
// IPFS Cluster 1.1.6 in front of kubo 0.43 on every node, in one run on
// one machine: the same workloads through the same public interfaces
// (the IPFS Cluster REST API, which both serve; the Kubo RPC API and the
// gateway), one side at a time.
//
//	go run ./bench/compare -flotilla bin/flotilla -kubo .tools/bin/ipfs \
//	    -cluster-service .tools/bin/ipfs-cluster-service [-quick] [-report docs]
//
// Workloads, in this order: a 1 GiB add on one node (flotilla add, ipfs
// add; the order alternating between runs); then on a fresh 3-node
// cluster of each side, the incumbent's first, each alone on the
// machine: gateway requests/s and latency; a 256 MiB cluster add
// through REST /add with replication 3, until it returns and until all
// three replicas are pinned; pin ingest of 10,000 (3 runs) and 100,000
// CIDs (the whole batch, once) of content held by one node from 64
// REST clients: pins/s acknowledged, each request's latency (p50, p99),
// time until all are pinned on three nodes, and the status and pin
// listings of the grown pinsets (first item, total); then on fresh
// 3-node clusters, three of each side at once: a new node joining, and
// a node killed (until it is reported down, until its pins are back at
// three replicas). After each
// workload, the RSS and CPU seconds of every process, from /proc. Each
// figure is printed as flotilla, incumbent and their ratio, the median
// over runs with the spread, and written to -json; -report DIR draws the
// charts into DIR/img. Everything listens on 127.0.0.1 only; every
// process started is stopped on the way out, also after an error or
// Ctrl-C; the whole run keeps to -budget. docs/benchmarks.md says how
// each side is configured and why.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flotilla-ipfs/flotilla/bench/internal/payload"
	"github.com/flotilla-ipfs/flotilla/bench/internal/procs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// options are the flags; -quick changes the defaults of those not given.
type options struct {
	flotilla, kubo, service string
	quick                   bool
	runs                    int
	addSize                 int64
	clusterAddSize          int64
	gatewayLarge            int64
	pins                    []int // batch sizes: the first is repeated -runs times, the others run once
	churnPins               int
	churnRuns               int
	clients                 int
	entries                 int
	gatewayDuration         time.Duration
	cap                     time.Duration
	pinCap                  time.Duration
	budget                  time.Duration
	report                  string
	jsonPath                string
	dir                     string
	keep                    bool
	loadgen                 string
	only                    map[string]bool
	chartsFrom              string
}

// workload names, for -only.
var workloadNames = []string{"add", "gateway", "clusteradd", "churn", "pins"}

func parseFlags() (*options, error) {
	o := &options{}
	var addSize, clusterAdd, large, pins, only string
	flag.StringVar(&o.flotilla, "flotilla", "bin/flotilla", "flotilla binary")
	flag.StringVar(&o.kubo, "kubo", ".tools/bin/ipfs", "kubo binary (0.43)")
	flag.StringVar(&o.service, "cluster-service", ".tools/bin/ipfs-cluster-service", "ipfs-cluster-service binary (1.1.6)")
	flag.BoolVar(&o.quick, "quick", false, "smaller sizes, one run, shorter caps: under 3 minutes")
	flag.IntVar(&o.runs, "runs", 3, "runs of each repeated figure (median and spread); quick: 1")
	flag.StringVar(&addSize, "add-size", "1GiB", "single-node add size; quick: 128MiB")
	flag.StringVar(&clusterAdd, "cluster-add-size", "256MiB", "cluster add size; quick: 32MiB")
	flag.StringVar(&large, "gateway-large", "100MiB", "large gateway file; quick: 16MiB")
	flag.StringVar(&pins, "pins", "10000,100000", "pin ingest batch sizes: the first is repeated -runs times, the others run once; quick: 1000,5000")
	flag.IntVar(&o.churnPins, "churn-pins", 300, "pins held by the cluster when a node joins and one is killed; quick: 100")
	flag.IntVar(&o.churnRuns, "churn-runs", 3, "join-and-kill clusters of each side, all measured at once (each a sample); quick: 1")
	flag.IntVar(&o.clients, "clients", 64, "concurrent REST clients of the pin ingest")
	flag.IntVar(&o.entries, "entry-nodes", 1, "nodes the pin ingest sends its requests to, round robin (1: node 0 only)")
	flag.DurationVar(&o.gatewayDuration, "gateway-duration", 2*time.Second, "load time of one gateway measurement")
	flag.DurationVar(&o.cap, "cap", 60*time.Second, "longest wait for a state (replicated, down, caught up); quick: 20s")
	flag.DurationVar(&o.pinCap, "pin-cap", 35*time.Second, "longest time from the first pin of a repeated batch until all are pinned ×3; quick: 12s")
	flag.DurationVar(&o.budget, "budget", 13*time.Minute+15*time.Second, "the whole run stops measuring after this long (the removal of its repos follows); quick: 2m40s")
	flag.StringVar(&o.report, "report", "", "write the charts to DIR/img (e.g. docs)")
	flag.StringVar(&o.jsonPath, "json", "", "write the results as JSON to this file")
	flag.StringVar(&o.dir, "dir", "", "scratch directory (default: a new temp dir, removed at the end)")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory (logs, repos)")
	flag.StringVar(&o.loadgen, "loadgen", "auto", "gateway load generator: auto (wrk when installed), wrk or go")
	flag.StringVar(&o.chartsFrom, "charts-from", "", "draw the charts of an earlier run's -json file into -report DIR, and run nothing")
	flag.StringVar(&only, "only", "", "run only these workloads (comma-separated: "+strings.Join(workloadNames, ",")+")")
	flag.Parse()

	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.quick {
		for name, v := range map[string]string{
			"runs": "1", "add-size": "128MiB", "cluster-add-size": "32MiB", "gateway-large": "16MiB",
			"pins": "1000,5000", "churn-pins": "100", "churn-runs": "1", "cap": "20s", "pin-cap": "12s", "budget": "2m40s",
		} {
			if !given[name] {
				flag.Set(name, v)
			}
		}
		addSize, clusterAdd, large, pins = flagValue("add-size"), flagValue("cluster-add-size"), flagValue("gateway-large"), flagValue("pins")
	}
	var err error
	for _, s := range []struct {
		name string
		in   string
		out  *int64
	}{{"add-size", addSize, &o.addSize}, {"cluster-add-size", clusterAdd, &o.clusterAddSize}, {"gateway-large", large, &o.gatewayLarge}} {
		if *s.out, err = payload.ParseSize(s.in); err != nil {
			return nil, fmt.Errorf("-%s: %w", s.name, err)
		}
	}
	for _, p := range strings.Split(pins, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-pins %q: want positive counts", pins)
		}
		o.pins = append(o.pins, n)
	}
	if o.runs < 1 || o.clients < 1 || o.churnPins < 1 || o.churnRuns < 1 {
		return nil, errors.New("-runs, -clients, -churn-pins and -churn-runs must be at least 1")
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, w := range strings.Split(only, ",") {
			if !strings.Contains(","+strings.Join(workloadNames, ",")+",", ","+w+",") {
				return nil, fmt.Errorf("-only %q: unknown workload %q", only, w)
			}
			o.only[w] = true
		}
	}
	for _, p := range []*string{&o.flotilla, &o.kubo, &o.service} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("%w (make build tools, or make bench-compare, builds it)", err)
		}
		*p = abs
	}
	return o, nil
}

func flagValue(name string) string { return flag.Lookup(name).Value.String() }

func (o *options) wants(workload string) bool { return o.only == nil || o.only[workload] }

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	if o.chartsFrom != "" {
		res, err := readJSON(o.chartsFrom)
		if err != nil {
			return err
		}
		if o.report == "" {
			return errors.New("-charts-from needs -report DIR")
		}
		files, err := writeCharts(filepath.Join(o.report, "img"), res.Figures, res)
		fmt.Fprintln(os.Stderr, "charts written:", strings.Join(files, ", "))
		return err
	}
	// Ctrl-C or SIGTERM cancels everything; the deferred StopAll stops
	// the daemons in order.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A hard stop just past the budget, in case a wait forgets its cap.
	ctx, cancel := context.WithTimeout(ctx, o.budget+20*time.Second)
	defer cancel()

	scratch := o.dir
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "bench-compare-"); err != nil {
			return err
		}
	} else if scratch, err = filepath.Abs(scratch); err != nil {
		return err
	}
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return err
	}
	b := &bench{o: o, g: &procs.Group{}, rest: newREST(o.clients), scratch: scratch,
		start: time.Now(), deadline: time.Now().Add(o.budget)}
	defer func() {
		t0 := time.Now()
		b.g.StopAll()
		if o.keep {
			fmt.Fprintln(os.Stderr, "kept", scratch)
			return
		}
		if o.dir == "" {
			removeTree(scratch)
		} else {
			removeTree(filepath.Join(scratch, "run"))
		}
		b.progress("daemons stopped and repos removed in %s", time.Since(t0).Round(time.Second))
	}()
	mode := "default"
	if o.quick {
		mode = "quick"
	}
	b.progress("mode %s, %d run(s), budget %s, %d CPUs, scratch %s", mode, o.runs, o.budget, runtime.NumCPU(), scratch)
	runErr := b.all(ctx)
	if ctx.Err() != nil && runErr == nil {
		runErr = ctx.Err()
	}

	figs := b.figs.finish()
	fmt.Println()
	writeTable(os.Stdout, figs)
	for _, n := range b.notes {
		fmt.Println("note:", n)
	}
	res := &results{Mode: mode, Runs: o.runs, Started: b.start.UTC().Format(time.RFC3339),
		Seconds: time.Since(b.start).Seconds(), Machine: machine(), Versions: b.versions(ctx),
		Settings: b.settings(), Figures: figs, Notes: b.notes, Processes: b.procSamples}
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, res); err != nil {
			return errors.Join(runErr, err)
		}
		b.progress("results written to %s", o.jsonPath)
	}
	if o.report != "" {
		files, err := writeCharts(filepath.Join(o.report, "img"), figs, res)
		if err != nil {
			return errors.Join(runErr, err)
		}
		b.progress("charts written: %s", strings.Join(files, ", "))
	}
	b.progress("done in %s", time.Since(b.start).Round(time.Second))
	return runErr
}

// bench is one run of the harness.
type bench struct {
	o        *options
	g        *procs.Group
	rest     *rest
	scratch  string
	start    time.Time
	deadline time.Time // stop measuring after this
	phaseEnd time.Time // the current phase should be over by then (shareEnd)

	figs        figures
	procSamples []procSample

	mu    sync.Mutex
	notes []string // about the run as a whole, printed after the table; guarded by mu

	flo, inc           *cluster          // the clusters of the gateway, cluster add and pin workloads
	sideEnd            time.Time         // the end of the current side's cluster workloads
	gatewayPaths       map[string]string // the /ipfs/ paths of the gateway files on the side measured first
	churnFlo, churnInc []*cluster        // the clusters of the join-and-kill workload
}

// note records something about the run as a whole.
func (b *bench) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.notes = append(b.notes, s)
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// The budget is spent in three parts: the single-node add (its waits
// capped at addShare of the budget), the cluster workloads (gateway,
// cluster add, pins; until churnReserve before the end, or until
// quickClusterShare of the budget with -quick), and the join-and-kill
// workload. A part that ends early leaves its time to the next.
const (
	addShare          = 0.05
	quickClusterShare = 0.7
)

// churnReserve is the time the join-and-kill workload keeps at the end
// of a default run: starting its clusters (the incumbent needs about 20
// s), then timers of up to a minute each on the incumbent (its join,
// its down detection, its repair).
const churnReserve = 165 * time.Second

// all runs every workload in order. The single-node add runs first,
// alone on the machine; then the cluster workloads of each side on a
// cluster of its own, one side after the other; then the join and kill
// workload on clusters of its own, both sides at once.
func (b *bench) all(ctx context.Context) error {
	b.phaseEnd = b.shareEnd("add")
	if b.o.wants("add") {
		if err := b.phase(ctx, "single-node add", nil, b.singleAdd); err != nil {
			return fmt.Errorf("single-node add: %w", err)
		}
	}
	var err error
	if b.flo, err = newCluster(b.o, b.g, sideFlotilla, "", filepath.Join(b.scratch, "run", "flotilla")); err != nil {
		return err
	}
	if b.inc, err = newCluster(b.o, b.g, sideIncumbent, "", filepath.Join(b.scratch, "run", "incumbent")); err != nil {
		return err
	}
	for i := range b.o.churnRuns {
		label := fmt.Sprintf("churn%c", 'A'+i)
		for _, side := range []string{sideFlotilla, sideIncumbent} {
			c, err := newCluster(b.o, b.g, side, label, filepath.Join(b.scratch, "run", label+"-"+side))
			if err != nil {
				return err
			}
			if side == sideFlotilla {
				b.churnFlo = append(b.churnFlo, c)
			} else {
				b.churnInc = append(b.churnInc, c)
			}
		}
	}
	churnClusters := append(append([]*cluster(nil), b.churnFlo...), b.churnInc...)
	defer func() {
		for _, c := range append([]*cluster{b.flo, b.inc}, churnClusters...) {
			c.stop()
		}
	}()

	// The cluster workloads, one side after the other, each alone on
	// the machine: the incumbent first (it is the slower side, and sets
	// how many runs of the first pin batch both sides make), until
	// incumbentShare of their time; then flotilla until the end of
	// theirs. Each side's cluster is stopped once measured: work it
	// leaves in the background (pins still being replicated) must not
	// slow the other side.
	if b.o.wants("gateway") || b.o.wants("clusteradd") || b.o.wants("pins") {
		start, end := time.Now(), b.shareEnd("pins")
		runs := 0
		for k, c := range []*cluster{b.inc, b.flo} {
			b.sideEnd = end
			if k == 0 {
				b.sideEnd = start.Add(time.Duration(float64(end.Sub(start)) * incumbentShare))
			}
			n, err := b.clusterWorkloads(ctx, c, runs)
			c.stop()
			if err != nil {
				return err
			}
			if k == 0 {
				runs = n
			}
		}
	}
	if b.o.wants("churn") {
		if time.Now().After(b.deadline) {
			b.progress("skipping join and kill: the time budget is spent")
			b.note("join and kill: skipped, the time budget was spent")
			return nil
		}
		b.phaseEnd = b.shareEnd("churn")
		if err := b.phase(ctx, "join and kill", churnClusters, b.churn); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("join and kill: %w", err)
			}
			b.progress("join and kill failed: %v", err)
			b.note(fmt.Sprintf("join and kill: failed: %v", err))
		}
	}
	return nil
}

// clusterWorkloads starts c (the fresh-cluster figures) and runs on it,
// until b.sideEnd: the gateway, the cluster add and the pin workloads
// (pinSide, with want runs of the first batch, if not 0), each a phase
// of its own for the RSS and CPU figures. It returns the runs of the
// first pin batch made.
func (b *bench) clusterWorkloads(ctx context.Context, c *cluster, want int) (int, error) {
	b.phaseEnd = b.sideEnd
	b.progress("== %s: start the cluster (its workloads until %s from now)", c.side, time.Until(b.sideEnd).Round(time.Second))
	if err := b.startCluster(ctx, c, true); err != nil {
		return 0, fmt.Errorf("%s: %w", c.side, err)
	}
	runs := 0
	for _, s := range []struct {
		workload, phase string
		fn              func(context.Context, *cluster) error
	}{
		{"gateway", "gateway", b.gateway},
		{"clusteradd", "cluster add", b.clusterAdd},
		{"pins", "pin ingest and listing", func(ctx context.Context, c *cluster) (err error) {
			runs, err = b.pinSide(ctx, c, b.sideEnd, want)
			return err
		}},
	} {
		if !b.o.wants(s.workload) {
			continue
		}
		if time.Now().After(b.sideEnd) {
			b.progress("%s, %s: skipped, its time is spent", s.phase, c.side)
			b.note(fmt.Sprintf("%s, %s: skipped, the time budget was spent", s.phase, c.side))
			continue
		}
		err := b.phase(ctx, s.phase, []*cluster{c}, func(ctx context.Context) error { return s.fn(ctx, c) })
		if err != nil {
			if ctx.Err() != nil {
				return runs, fmt.Errorf("%s, %s: %w", s.phase, c.side, err)
			}
			// One workload failing leaves the others worth measuring.
			b.progress("%s, %s failed: %v", s.phase, c.side, err)
			b.note(fmt.Sprintf("%s, %s: failed: %v", s.phase, c.side, err))
		}
	}
	return runs, nil
}

// shareEnd is when the part of the budget of workload ("add", "pins"
// for the cluster workloads, "churn") should be over.
func (b *bench) shareEnd(workload string) time.Time {
	switch {
	case b.o.only != nil || workload == "churn":
		return b.deadline // developing one workload: all the budget
	case workload == "add":
		return b.start.Add(time.Duration(float64(b.o.budget) * addShare))
	case b.o.quick:
		return b.start.Add(time.Duration(float64(b.o.budget) * quickClusterShare))
	}
	return b.deadline.Add(-min(churnReserve, b.o.budget/4))
}

// probes is the number of pins startCluster makes, one through each node.
const probes = 3

// startCluster starts the three nodes of c and waits until node 0 sees
// all three alive, then until a pin made through each node is listed by
// every node: a fresh cluster is ready for the workloads once its pinset
// travels. With record, both times are figures.
func (b *bench) startCluster(ctx context.Context, c *cluster, record bool) error {
	t0 := time.Now()
	for range 3 {
		if _, err := c.addNode(ctx); err != nil {
			return err
		}
	}
	_, capped, err := b.waitLive(ctx, c, c.live()[0], 3, b.o.cap)
	if err != nil {
		return err
	}
	live := time.Since(t0)
	if record {
		b.figs.add(c.side, "fresh 3-node cluster: start until node 0 sees 3 live peers", "s", kindLatency, live.Seconds(), capped)
	}
	probeCIDs, err := b.importBlocks(ctx, "probes-"+c.label, probes, c)
	if err != nil {
		return err
	}
	t1 := time.Now()
	for i, n := range c.live() {
		if err := b.rest.pin(ctx, n.api, probeCIDs[i], replicas); err != nil {
			return fmt.Errorf("%s: probe pin: %w", n.name, err)
		}
	}
	c.pins += len(probeCIDs)
	_, capped, err = b.waitFor(ctx, b.o.cap, func(ctx context.Context) (bool, error) {
		for _, n := range c.live() {
			if _, k, err := b.rest.allocations(ctx, n.api); err != nil || k < len(probeCIDs) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if record {
		b.figs.add(c.side, "fresh 3-node cluster: a pin made on each node until all nodes list the 3", "s", kindLatency, time.Since(t1).Seconds(), capped)
	}
	b.progress("%s: 3 nodes live after %s, pins travel after %s more%s", c,
		live.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond), cappedMark(capped))
	return nil
}

// waitLive waits until n sees want peers with a valid ping metric.
func (b *bench) waitLive(ctx context.Context, c *cluster, n *node, want int, limit time.Duration) (time.Duration, bool, error) {
	return b.waitFor(ctx, limit, func(ctx context.Context) (bool, error) {
		ms, err := b.rest.pings(ctx, n.api)
		if err != nil {
			return false, nil // not answering yet
		}
		live := 0
		for _, m := range ms {
			if m.Valid {
				live++
			}
		}
		return live >= want, nil
	})
}

// waitFor polls cond until it holds or limit passes (capped: true). The
// polling interval adapts: at least 200 ms, twice as long as the last
// check took (a listing of a large pinset is not free: polls cost a
// side at most a third of its time), and at most 15 s.
func (b *bench) waitFor(ctx context.Context, limit time.Duration, cond func(context.Context) (bool, error)) (time.Duration, bool, error) {
	start := time.Now()
	end := start.Add(limit)
	for {
		t := time.Now()
		// A check still running at the cap cannot see the state reached
		// by the cap: it ends there too.
		cctx, cancel := context.WithDeadline(ctx, end.Add(time.Second))
		ok, err := cond(cctx)
		cancel()
		if err != nil {
			return time.Since(start), false, err
		}
		if ok {
			return time.Since(start), false, nil
		}
		took := time.Since(t)
		if time.Now().After(end) {
			return time.Since(start), true, nil
		}
		if ctx.Err() != nil {
			return time.Since(start), false, ctx.Err()
		}
		sleep := min(15*time.Second, max(200*time.Millisecond, 2*took))
		select {
		case <-ctx.Done():
			return time.Since(start), false, ctx.Err()
		case <-time.After(min(sleep, time.Until(end)+time.Millisecond)):
		}
	}
}

// capFor bounds a wait by -cap and by share of what is left of the
// current phase's time, and gives it at least 5 s.
func (b *bench) capFor(share float64) time.Duration {
	left := time.Duration(float64(time.Until(b.phaseEnd)) * share)
	return max(5*time.Second, min(b.o.cap, left))
}

// phase runs one workload and then samples /proc for every process of
// the given clusters: the sum of their RSS after it and their CPU
// seconds during it, per side.
func (b *bench) phase(ctx context.Context, name string, sides []*cluster, fn func(context.Context) error) (err error) {
	if len(sides) == 1 {
		b.progress("== %s, %s", name, sides[0])
	} else {
		b.progress("== %s", name)
	}
	before := cpuSnapshot(sides...)
	err = fn(ctx)
	b.usage(name, before, sides...)
	return err
}

// cpuSnapshot is the CPU time each running process of the clusters used
// so far.
func cpuSnapshot(cs ...*cluster) map[*procs.Proc]time.Duration {
	before := map[*procs.Proc]time.Duration{}
	for _, c := range cs {
		for _, p := range c.processes() {
			if u, err := procs.ReadUsage(p.Pid()); err == nil {
				before[p] = u.CPU
			}
		}
	}
	return before
}

// usage records, for each cluster, the RSS of its running processes
// and the CPU seconds they used since before (cpuSnapshot): one sample
// per cluster of each of the workload's two resource figures.
func (b *bench) usage(name string, before map[*procs.Proc]time.Duration, cs ...*cluster) {
	for _, c := range cs {
		var rss, cpu float64
		for _, p := range c.processes() {
			u, err := procs.ReadUsage(p.Pid())
			if err != nil {
				continue
			}
			rss += float64(u.RSS) / (1 << 20)
			cpu += (u.CPU - before[p]).Seconds()
			b.procSamples = append(b.procSamples, procSample{Workload: name, Side: c.side, Process: p.Name,
				RSSMiB: float64(u.RSS) / (1 << 20), PeakMiB: float64(u.PeakRSS) / (1 << 20), CPU: u.CPU.Seconds()})
		}
		b.figs.add(c.side, name+": RSS of all processes after", "MiB", kindResources, rss, false)
		b.figs.add(c.side, name+": CPU of all processes during", "s", kindResources, cpu, false)
	}
}

// removeTree removes dir, the directories two levels down (each node's
// repo) in parallel: unlinking the hundreds of thousands of block files
// of the pin workloads takes a while on one goroutine.
func removeTree(dir string) {
	var subdirs []string
	top, _ := os.ReadDir(dir)
	for _, e := range top {
		p := filepath.Join(dir, e.Name())
		next, err := os.ReadDir(p)
		if err != nil || !e.IsDir() {
			subdirs = append(subdirs, p)
			continue
		}
		for _, n := range next {
			subdirs = append(subdirs, filepath.Join(p, n.Name()))
		}
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				os.RemoveAll(p)
			}
		}()
	}
	for _, p := range subdirs {
		work <- p
	}
	close(work)
	wg.Wait()
	os.RemoveAll(dir)
}
