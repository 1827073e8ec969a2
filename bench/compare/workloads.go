package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flotilla-ipfs/flotilla/bench/internal/loadgen"
	"github.com/flotilla-ipfs/flotilla/bench/internal/payload"
	"github.com/flotilla-ipfs/flotilla/bench/internal/procs"
)

// singleAdd adds the same file to a fresh repository on each side, as
// bench/addbench does: `flotilla --data DIR add` and `ipfs add
// --offline` (kubo's default repo), no daemon, CIDv1; the CIDs must
// agree. The incumbent's node is kubo, so its add is kubo's.
func (b *bench) singleAdd(ctx context.Context) error {
	dir := filepath.Join(b.scratch, "run", "add")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file, err := payload.File(b.scratch, fmt.Sprintf("addbench-v1-%d.bin", b.o.addSize), b.o.addSize, "addbench")
	if err != nil {
		return err
	}
	name := "single-node add " + payload.Size(b.o.addSize)
	for i := range b.o.runs {
		var cids []string
		for _, side := range []string{sideFlotilla, sideIncumbent} {
			if i%2 == 1 {
				side = map[string]string{sideFlotilla: sideIncumbent, sideIncumbent: sideFlotilla}[side]
			}
			repo, err := os.MkdirTemp(dir, side+"-")
			if err != nil {
				return err
			}
			var cmd *exec.Cmd
			if side == sideFlotilla {
				cmd = exec.CommandContext(ctx, b.o.flotilla, "--data", repo, "add", "-Q", "--cid-version=1", file)
			} else {
				if _, err := procs.Output(ctx, procs.KuboEnv(repo), b.o.kubo, "init", "--empty-repo"); err != nil {
					return err
				}
				cmd = exec.CommandContext(ctx, b.o.kubo, "add", "--offline", "-Q", "--cid-version=1", file)
				cmd.Env = procs.KuboEnv(repo)
			}
			m, err := procs.RunMeasured(cmd)
			if err != nil {
				return err
			}
			cids = append(cids, m.Stdout)
			rate := float64(b.o.addSize) / (1 << 20) / m.Wall.Seconds()
			b.figs.add(side, name+": throughput", "MiB/s", kindThroughput, rate, false)
			b.figs.add(side, name+": CPU of the add", "s", kindResources, m.CPU.Seconds(), false)
			b.figs.add(side, name+": peak RSS of the add", "MiB", kindResources, float64(m.RSS)/(1<<20), false)
			b.progress("run %d %-9s add %5.0f MiB/s  cpu %5.2fs  %s", i+1, side, rate, m.CPU.Seconds(), m.Stdout)
		}
		if cids[0] != cids[1] {
			return fmt.Errorf("CID mismatch: %s and %s for the same file", cids[0], cids[1])
		}
	}
	// The repos stay until the end of the run: deleting thousands of
	// block files slows the next inode allocations on ext4 (see
	// bench/addbench), which would land on the next workload.
	return nil
}

// gateway loads node 0's gateway of each side (flotilla's, and kubo's
// for the incumbent, which has no gateway of its own) with the same
// files, added unpinned through each node's Kubo RPC API with kubo's
// CLI: requests/s and latency of a 1 KiB file, throughput of a 1 MiB
// and a large file, with bench/gatewaybench's load generators.
func (b *bench) gateway(ctx context.Context) error {
	gen, err := loadgen.Pick(b.o.loadgen)
	if err != nil {
		return err
	}
	files := map[string]string{}
	for name, size := range map[string]int64{"1KiB": 1 << 10, "1MiB": 1 << 20, "large": b.o.gatewayLarge} {
		if files[name], err = payload.File(b.scratch, "gateway-"+name+".bin", size, "gateway "+name); err != nil {
			return err
		}
	}
	paths := map[*cluster]map[string]string{}
	for _, c := range []*cluster{b.flo, b.inc} {
		n := c.live()[0]
		paths[c] = map[string]string{}
		for name, f := range files {
			out, err := procs.Output(ctx, os.Environ(), b.o.kubo, "--api", n.rpc, "add", "-Q", "--pin=false", "--cid-version=1", f)
			if err != nil {
				return fmt.Errorf("%s: add %s: %w", c.side, name, err)
			}
			paths[c][name] = "/ipfs/" + strings.TrimSpace(out)
		}
	}
	for name := range files {
		if paths[b.flo][name] != paths[b.inc][name] {
			return fmt.Errorf("gateway file %s: flotilla %s, kubo %s", name, paths[b.flo][name], paths[b.inc][name])
		}
	}
	large := payload.Size(b.o.gatewayLarge)
	loads := []struct {
		file  string
		conns int
		figs  func(side string, r loadgen.Result)
	}{
		{"1KiB", 32, func(side string, r loadgen.Result) {
			b.figs.add(side, "gateway 1KiB: requests", "req/s", kindThroughput, r.RPS, false)
			b.figs.add(side, "gateway 1KiB: p50 latency", "ms", kindLatency, r.P50.Seconds()*1000, false)
			b.figs.add(side, "gateway 1KiB: p99 latency", "ms", kindLatency, r.P99.Seconds()*1000, false)
		}},
		{"1MiB", 32, func(side string, r loadgen.Result) {
			b.figs.add(side, "gateway 1MiB: throughput", "MB/s", kindThroughput, r.BPS/1e6, false)
		}},
		{"large", 4, func(side string, r loadgen.Result) {
			b.figs.add(side, "gateway "+large+": throughput", "MB/s", kindThroughput, r.BPS/1e6, false)
		}},
	}
	b.progress("gateway: %s, %d×%s per figure", gen.Name(), b.o.runs, b.o.gatewayDuration)
	for _, l := range loads {
		for i := range b.o.runs {
			for _, c := range b.order(i) {
				r, err := gen.Load(ctx, c.live()[0].gateway+paths[c][l.file], l.conns, 2, b.o.gatewayDuration)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", c.side, l.file, err)
				}
				if r.Errors > 0 {
					b.figs.note(c.side, "gateway "+l.file+": errors", "", "", fmt.Sprintf("%d failed requests", r.Errors))
				}
				l.figs(c.side, r)
			}
		}
	}
	return nil
}

// clusterAdd posts the same new file to POST /add of node 0 of each
// side, with replication 3, and times the request and the wait until
// the three replicas report "pinned". Each run adds other bytes.
func (b *bench) clusterAdd(ctx context.Context) error {
	name := "cluster add " + payload.Size(b.o.clusterAddSize) + " (REST /add, 3 replicas)"
	for i := range b.o.runs {
		file, err := payload.File(b.scratch, fmt.Sprintf("cluster-add-%d.bin", i), b.o.clusterAddSize, fmt.Sprintf("cluster add %d", i))
		if err != nil {
			return err
		}
		for _, c := range b.order(i) {
			n := c.live()[0]
			t0 := time.Now()
			root, err := b.rest.add(ctx, n.api, file, replicas)
			if notImplemented(err) {
				b.figs.note(c.side, name+": until it returns", "s", kindLatency, "n/a: "+err.Error())
				b.figs.note(c.side, name+": until 3 replicas pinned", "s", kindLatency, "n/a: "+err.Error())
				b.progress("run %d %-9s cluster add: n/a (%v)", i+1, c.side, err)
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w", c.side, err)
			}
			returned := time.Since(t0)
			c.pins++
			_, capped, err := b.waitFor(ctx, b.capFor(0.2), func(ctx context.Context) (bool, error) {
				ps, err := b.rest.status(ctx, n.api, root)
				return err == nil && ps.pinnedOn(c.liveIDs()) >= replicas, nil
			})
			if err != nil {
				return err
			}
			full := time.Since(t0)
			rate := float64(b.o.clusterAddSize) / (1 << 20) / returned.Seconds()
			b.figs.add(c.side, name+": until it returns", "s", kindLatency, returned.Seconds(), false)
			b.figs.add(c.side, name+": until 3 replicas pinned", "s", kindLatency, full.Seconds(), capped)
			b.figs.add(c.side, name+": throughput until it returns", "MiB/s", kindThroughput, rate, false)
			b.progress("run %d %-9s cluster add: returned %s, 3 pinned %s%s", i+1, c.side,
				returned.Round(time.Millisecond), full.Round(time.Millisecond), cappedMark(capped))
		}
	}
	return nil
}

func cappedMark(capped bool) string {
	if capped {
		return " (cap: not reached)"
	}
	return ""
}

// importBlocks writes n raw blocks to a CAR and imports it, unpinned, on
// node 0 of each cluster through its Kubo RPC API, with kubo's CLI; the
// clusters import at the same time (nothing is measured meanwhile).
func (b *bench) importBlocks(ctx context.Context, seed string, n int, cs ...*cluster) ([]string, error) {
	car := filepath.Join(b.scratch, "run", seed+".car")
	cids, err := writeBlocksCAR(car, seed, n)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if _, err := procs.Output(ctx, os.Environ(), b.o.kubo, "--api", c.live()[0].rpc, "dag", "import", "--pin-roots=false", car); err != nil {
				errs[i] = fmt.Errorf("%s: import %d blocks: %w", c.side, n, err)
				return
			}
			b.progress("%s: %d blocks imported on node 0 in %s", c.side, n, time.Since(t0).Round(time.Millisecond))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cids, os.Remove(car)
}

// ingest pins cids through POST /pins/{cid} with replication 3 from
// -clients concurrent clients, round robin over the first -entry-nodes
// live nodes (node 0 only, by default), and returns the time until the
// last answer; it stops submitting at stop. Failed pins are counted, not
// retried.
func (b *bench) ingest(ctx context.Context, c *cluster, cids []string, stop time.Time) (acked int, failed int, took time.Duration, firstErr error) {
	live := c.live()
	apis := []string{}
	for _, n := range live[:min(b.o.entries, len(live))] {
		apis = append(apis, n.api)
	}
	var next, ok, bad atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range b.o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(stop) {
				i := int(next.Add(1) - 1)
				if i >= len(cids) {
					return
				}
				if err := b.rest.pin(ctx, apis[(i+w)%len(apis)], cids[i], replicas); err != nil {
					bad.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), int(bad.Load()), time.Since(t0), firstErr
}

// pinnedCount counts the pins of want that have at least replicas
// "pinned" peers among the live ones, from GET /pins on n.
func (b *bench) pinnedCount(ctx context.Context, c *cluster, n *node, want map[string]bool) (int, error) {
	live := c.liveIDs()
	count := 0
	_, _, err := b.rest.statusAll(ctx, n.api, func(ps pinStatus) {
		if (want == nil || want[ps.Cid]) && ps.pinnedOn(live) >= replicas {
			count++
		}
	})
	return count, err
}

// waitReplicated waits until every pin of want (every pin, if nil) is
// pinned on replicas live peers, and returns how many were at the last
// check: -1 if no status listing completed within limit.
func (b *bench) waitReplicated(ctx context.Context, c *cluster, want map[string]bool, total int, limit time.Duration) (time.Duration, bool, int, error) {
	n := c.live()[0]
	last := -1
	t0, shown := time.Now(), time.Now()
	d, capped, err := b.waitFor(ctx, limit, func(ctx context.Context) (bool, error) {
		k, err := b.pinnedCount(ctx, c, n, want)
		if err != nil {
			return false, nil // a listing cut by the deadline: poll again
		}
		last = k
		if time.Since(shown) > 10*time.Second {
			b.progress("  %s: %d of %d pinned ×3 after %s", c.side, k, total, time.Since(t0).Round(time.Second))
			shown = time.Now()
		}
		return k >= total, nil
	})
	return d, capped, last, err
}

// known says how many pins each live node of c lists, when a wait stops
// at its cap: a node that lists fewer has not received the pinset yet.
func (b *bench) known(ctx context.Context, c *cluster) string {
	var parts []string
	for _, n := range c.live() {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, k, err := b.rest.allocations(lctx, n.api)
		cancel()
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %s", n.name, shortErr(err)))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s lists %s", n.name, thousands(k)))
	}
	return "pins listed by node: " + strings.Join(parts, ", ")
}

// shortErr keeps the end of an error, the part that says what failed.
func shortErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = "…" + s[len(s)-80:]
	}
	return s
}

// pinWorkloads runs the ingest of each batch size on both sides, then
// the listings of the pinset it leaves. The first size runs -runs times
// (the pinset grows by a batch each run), the others once, with what is
// left of the budget split evenly between the two sides.
func (b *bench) pinWorkloads(ctx context.Context) error {
	seeds := map[string]int{}
	for i := range b.o.runs {
		seeds[fmt.Sprintf("pins-%d-run%d", b.o.pins[0], i)] = b.o.pins[0]
	}
	for _, n := range b.o.pins[1:] {
		seeds[fmt.Sprintf("pins-%d", n)] = n
	}
	batches := map[string][]string{}
	for seed, n := range seeds {
		cids, err := b.importBlocks(ctx, seed, n, b.flo, b.inc)
		if err != nil {
			return err
		}
		batches[seed] = cids
	}
	phase := time.Until(b.phaseEnd)
	for k, size := range b.o.pins {
		runs := 1
		if k == 0 {
			runs = b.o.runs
		}
		// A later batch gets what is left of the phase, less the time its
		// listings will take (those of the first batch, scaled by the
		// pinset's growth; from 30 to 50 % of what is left), split
		// evenly between the two sides (ingest, then the wait).
		left := time.Until(b.phaseEnd)
		reserve := time.Duration(float64(b.listingRun) * float64(b.nominal+size) / float64(max(1, b.listingPins)) * float64(b.o.runs))
		reserve = min(left/2, max(left*3/10, reserve))
		allot := max(0, (left-reserve)/2)
		for i := range runs {
			if k == 0 && i > 0 && len(b.o.pins) > 1 && time.Until(b.phaseEnd) < phase*2/5 {
				// Keep 40 % of the phase for the larger batches.
				b.notes = append(b.notes, fmt.Sprintf("pin ingest %s CIDs: %d of %d runs, the rest of the time budget went to the larger batch",
					thousands(size), i, runs))
				break
			}
			seed := fmt.Sprintf("pins-%d", size)
			if k == 0 {
				seed = fmt.Sprintf("pins-%d-run%d", size, i)
			}
			for _, c := range b.order(i) {
				stop, limit := b.phaseEnd, b.capFor(1)
				if k > 0 {
					stop, limit = time.Now().Add(allot), 0
				}
				if err := b.pinBatch(ctx, c, i, size, batches[seed], stop, limit); err != nil {
					return err
				}
			}
			b.nominal += size
			if k == 0 && i == 0 || k > 0 {
				if err := b.listings(ctx); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pinBatch pins cids on c (see ingest), submitting until stop, and waits
// until they are pinned on three live nodes, for at most limit (0: until
// stop, and at least 5 s).
func (b *bench) pinBatch(ctx context.Context, c *cluster, run, size int, cids []string, stop time.Time, limit time.Duration) error {
	label := fmt.Sprintf("pin ingest %s CIDs", thousands(size))
	acked, failed, took, err := b.ingest(ctx, c, cids, stop)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failed > 0 {
		b.figs.note(c.side, label+": acknowledged", "pins/s", kindThroughput, fmt.Sprintf("%d of %d failed; first: %v", failed, len(cids), err))
	}
	if acked == 0 {
		b.figs.note(c.side, label+": acknowledged", "pins/s", kindThroughput, fmt.Sprintf("no pin acknowledged: %v", err))
		return nil
	}
	c.pins += acked
	rate := float64(acked) / took.Seconds()
	b.figs.add(c.side, label+": acknowledged", "pins/s", kindThroughput, rate, false)
	if acked+failed < len(cids) {
		b.figs.note(c.side, label+": acknowledged", "pins/s", kindThroughput,
			fmt.Sprintf("time budget: %s of %s submitted in %s", thousands(acked+failed), thousands(len(cids)), took.Round(time.Second)))
	}
	want := map[string]bool{}
	for _, s := range cids {
		want[s] = true
	}
	if limit == 0 {
		limit = max(5*time.Second, time.Until(stop))
	}
	d, capped, done, err := b.waitReplicated(ctx, c, want, acked, limit)
	if err != nil {
		return err
	}
	full := took + d
	b.figs.add(c.side, label+": until all pinned ×3", "s", kindLatency, full.Seconds(), capped)
	if capped {
		got := thousands(done) + " of " + thousands(acked) + " pinned ×3"
		if done < 0 {
			got = fmt.Sprintf("no status listing of %s pins completed", thousands(c.pins))
		}
		b.figs.note(c.side, label+": until all pinned ×3", "s", kindLatency,
			fmt.Sprintf("run %d: %s when the wait stopped at %s; %s", run+1, got, full.Round(time.Second), b.known(ctx, c)))
	}
	b.progress("run %d %-9s %s: %d acked in %s (%.0f/s, %d failed), %d pinned ×3 after %s%s", run+1, c.side, label,
		acked, took.Round(time.Millisecond), rate, failed, done, full.Round(time.Millisecond), cappedMark(capped))
	return nil
}

// listings times, -runs times on each side, the two listings of the
// whole pinset from node 0: status (GET /pins, every peer's view) and
// pin ls (GET /allocations): the first item and the whole stream. The
// figures are named by the pins acknowledged so far on both sides.
func (b *bench) listings(ctx context.Context) error {
	defer func(t0 time.Time) {
		if b.listingRun == 0 {
			b.listingRun, b.listingPins = time.Since(t0)/time.Duration(b.o.runs), b.nominal
		}
	}(time.Now())
	label := thousands(b.nominal) + " pins"
	if b.flo.pins != b.inc.pins || b.flo.pins < b.nominal {
		// Not every pin was acknowledged (time budget, failures): name
		// what each side holds.
		label = fmt.Sprintf("%s/%s pins", thousands(b.flo.pins), thousands(b.inc.pins))
	}
	for i := range b.o.runs {
		if i > 0 && time.Until(b.phaseEnd) < 5*time.Second {
			b.notes = append(b.notes, fmt.Sprintf("listings of %s: %d of %d runs, the time budget was spent", label, i, b.o.runs))
			break
		}
		for _, c := range b.order(i) {
			n := c.live()[0]
			for _, l := range []struct {
				name string
				list func(context.Context, string) (time.Duration, int, error)
			}{
				{"status (GET /pins)", func(ctx context.Context, api string) (time.Duration, int, error) {
					return b.rest.statusAll(ctx, api, nil)
				}},
				{"pin ls (GET /allocations)", b.rest.allocations},
			} {
				name := l.name + " of " + label
				t0 := time.Now()
				lctx, cancel := context.WithTimeout(ctx, b.capFor(0.25))
				first, items, err := l.list(lctx, n.api)
				cancel()
				total := time.Since(t0)
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) {
						b.figs.add(c.side, name+": total", "s", kindLatency, total.Seconds(), true)
						b.figs.note(c.side, name+": total", "s", kindLatency, fmt.Sprintf("cut at %s after %d items", total.Round(time.Second), items))
						continue
					}
					return fmt.Errorf("%s: %s: %w", c.side, l.name, err)
				}
				b.figs.add(c.side, name+": first item", "ms", kindLatency, first.Seconds()*1000, false)
				b.figs.add(c.side, name+": total", "s", kindLatency, total.Seconds(), false)
				if i == 0 && items != c.pins {
					b.figs.note(c.side, name+": total", "s", kindLatency, fmt.Sprintf("%s items listed of %s pins acknowledged", thousands(items), thousands(c.pins)))
				}
				b.progress("run %d %-9s %s: %d items, first %s, total %s", i+1, c.side, l.name, items,
					first.Round(time.Microsecond), total.Round(time.Millisecond))
			}
		}
	}
	return nil
}

// churn starts a fresh 3-node cluster of each side, at the same time,
// and makes it hold -churn-pins pins (content on node 0, replication 3
// on its three nodes). Then, on both sides at once (these figures are
// bound by timers: heartbeats, metric TTLs, rebroadcasts; not by the
// CPU): a fresh node joins, timed until it lists the whole pinset; then
// node 1 is killed (SIGKILL, its kubo too), timed until node 0 reports
// it down (GET /health/alerts) and until every pin is pinned on three
// live nodes again, which needs the new node. The clusters of the other
// workloads are stopped by then, and their pinsets (110,000 pins) would
// make a repair a workload of its own.
func (b *bench) churn(ctx context.Context) error {
	sides := []*cluster{b.cflo, b.cinc}
	errs := make([]error, len(sides))
	var wg sync.WaitGroup
	for k, c := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = b.startCluster(ctx, c, false)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cids, err := b.importBlocks(ctx, "churn", b.o.churnPins, sides...)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range cids {
		want[s] = true
	}
	for _, c := range sides {
		acked, failed, took, err := b.ingest(ctx, c, cids, b.phaseEnd)
		if failed > 0 {
			return fmt.Errorf("%s: %d of %d churn pins failed: %v", c.side, failed, len(cids), err)
		}
		c.pins += acked
		d, capped, done, err := b.waitReplicated(ctx, c, want, acked, b.capFor(0.3))
		if err != nil {
			return err
		}
		b.progress("%-9s %d churn pins acked in %s, %d pinned ×3 after %s%s", c.side, acked, took.Round(time.Millisecond),
			done, (took + d).Round(time.Millisecond), cappedMark(capped))
	}
	for k, c := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range b.o.churnRuns {
				if err := b.churnRound(ctx, c, r); err != nil {
					errs[k] = fmt.Errorf("%s: %w", c.side, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// churnRound is one join and one kill on c.
func (b *bench) churnRound(ctx context.Context, c *cluster, round int) error {
	boot := c.live()[0]
	total := c.pins
	t0 := time.Now()
	joiner, err := c.addNode(ctx)
	if err != nil {
		return err
	}
	started := time.Since(t0)
	d, capped, err := b.waitFor(ctx, b.capFor(0.3), func(ctx context.Context) (bool, error) {
		_, n, err := b.rest.allocations(ctx, joiner.api)
		return err == nil && n >= total, nil
	})
	if err != nil {
		return err
	}
	join := started + d
	pins := thousands(b.o.churnPins)
	name := fmt.Sprintf("new node joins (%s pins): until it lists the pinset", pins)
	b.figs.add(c.side, name, "s", kindLatency, join.Seconds(), capped)
	if capped {
		b.figs.note(c.side, name, "s", kindLatency, b.known(ctx, c))
	}
	b.progress("%-9s join: process ready %s, pinset of %d listed after %s%s", c.side, started.Round(time.Millisecond), total,
		join.Round(time.Millisecond), cappedMark(capped))

	// The victim holds every pin: one of the three first nodes, other
	// than node 0 (the API the workloads use, holding the content).
	var victim *node
	for _, n := range c.live()[1:] {
		if n != joiner {
			victim = n
			break
		}
	}
	if victim == nil {
		return errors.New("no node to kill")
	}
	t0 = time.Now()
	c.kill(victim)
	down, downCapped, err := b.waitFor(ctx, b.capFor(0.3), func(ctx context.Context) (bool, error) {
		as, err := b.rest.alerts(ctx, boot.api)
		if err != nil {
			return false, nil
		}
		for _, a := range as {
			if a.Peer == victim.id && a.Name == "ping" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	name = fmt.Sprintf("node killed (%s pins)", pins)
	b.figs.add(c.side, name+": until reported down", "s", kindLatency, down.Seconds(), downCapped)
	_, repCapped, done, err := b.waitReplicated(ctx, c, nil, total, b.capFor(0.3))
	if err != nil {
		return err
	}
	repaired := time.Since(t0)
	b.figs.add(c.side, name+": until every pin is back at 3 replicas", "s", kindLatency, repaired.Seconds(), repCapped)
	if repCapped {
		b.figs.note(c.side, name+": until every pin is back at 3 replicas", "s", kindLatency,
			fmt.Sprintf("%d of %d pins at 3 replicas when the wait stopped (-1: no status listing completed); %s", done, total, b.known(ctx, c)))
	}
	b.progress("%-9s kill %s: down after %s%s, %d/%d pins at 3 replicas after %s%s", c.side, victim.name,
		down.Round(time.Millisecond), cappedMark(downCapped), done, total, repaired.Round(time.Millisecond), cappedMark(repCapped))
	if round+1 < b.o.churnRuns {
		// Back to full strength for the next round, unmeasured.
		if err := c.restart(ctx, victim); err != nil {
			return err
		}
	}
	return nil
}

// thousands prints n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
