package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flotilla-ipfs/flotilla/bench/internal/stats"
)

// ingestResult is what one ingest of a batch did.
type ingestResult struct {
	acked, failed int
	took          time.Duration // from the first request to the last answer
	latencies     []float64     // ms, one per acknowledged request
	firstErr      error
}

// ingest pins cids through POST /pins/{cid} with replication 3 from
// clients concurrent clients, round robin over the first -entry-nodes
// live nodes (node 0 only, by default), and times every request; it
// stops submitting at stop. Failed pins are counted, not retried.
func (b *bench) ingest(ctx context.Context, c *cluster, cids []string, clients int, stop time.Time) ingestResult {
	live := c.live()
	apis := []string{}
	for _, n := range live[:min(b.o.entries, len(live))] {
		apis = append(apis, n.api)
	}
	var (
		next atomic.Int64
		mu   sync.Mutex
		r    ingestResult
		wg   sync.WaitGroup
	)
	t0 := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []float64
			var bad int
			var firstErr error
			for ctx.Err() == nil && time.Now().Before(stop) {
				i := int(next.Add(1) - 1)
				if i >= len(cids) {
					break
				}
				t := time.Now()
				if err := b.rest.pin(ctx, apis[(i+w)%len(apis)], cids[i], replicas); err != nil {
					bad++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, float64(time.Since(t))/float64(time.Millisecond))
			}
			mu.Lock()
			defer mu.Unlock()
			r.latencies = append(r.latencies, lat...)
			r.failed += bad
			if r.firstErr == nil {
				r.firstErr = firstErr
			}
		}()
	}
	wg.Wait()
	r.took = time.Since(t0)
	r.acked = len(r.latencies)
	return r
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

// waited is how a wait for replication ended.
type waited struct {
	d      time.Duration // how long it waited
	capped bool          // it stopped at its limit
	done   int           // pins pinned ×3 at the last completed check; -1: none completed
	doneAt time.Duration // when, from the start of the wait: the end of that check
}

// waitReplicated waits until every pin of want (every pin, if nil) is
// pinned on replicas live peers, polling GET /pins on node 0 (see
// waitFor), for at most limit.
func (b *bench) waitReplicated(ctx context.Context, c *cluster, want map[string]bool, total int, limit time.Duration) (waited, error) {
	n := c.live()[0]
	w := waited{done: -1}
	t0, shown := time.Now(), time.Now()
	d, capped, err := b.waitFor(ctx, limit, func(ctx context.Context) (bool, error) {
		t := time.Now()
		k, err := b.pinnedCount(ctx, c, n, want)
		if err != nil {
			return false, nil // a listing cut by the deadline: poll again
		}
		w.done, w.doneAt = k, time.Since(t0)
		b.noteStatusListing(c.side, time.Since(t))
		if time.Since(shown) > 10*time.Second {
			b.progress("  %s: %s of %s pinned ×3 after %s", c, thousands(k), thousands(total), time.Since(t0).Round(time.Second))
			shown = time.Now()
		}
		return k >= total, nil
	})
	w.d, w.capped = d, capped
	return w, err
}

// noteStatusListing remembers how long the last full status listing of
// a side took: the shortest useful wait for that side's pinset.
func (b *bench) noteStatusListing(side string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.statusListing == nil {
		b.statusListing = map[string]time.Duration{}
	}
	b.statusListing[side] = d
}

// minWait is the shortest wait for replication after an ingest on
// side: long enough for two status listings of its pinset (the last one
// seen, at least 10 s), so that a capped wait still says how far it got.
func (b *bench) minWait(side string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(10*time.Second, 2*b.statusListing[side])
}

// known says how many pins each live node of c lists, when a wait stops
// at its cap: a node that lists fewer has not received the pinset yet.
func (b *bench) known(ctx context.Context, c *cluster) string {
	live := c.live()
	parts := make([]string, len(live))
	var wg sync.WaitGroup
	for i, n := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, k, err := b.rest.allocations(lctx, n.api)
			if err != nil {
				parts[i] = fmt.Sprintf("%s: %s", n.name, shortErr(err))
				return
			}
			parts[i] = fmt.Sprintf("%s lists %s", n.name, thousands(k))
		}()
	}
	wg.Wait()
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
// (the pinset grows by a batch each run), each side's run capped at
// -cap from its first request; the others run once, each the whole
// batch (a fixed count), the two sides with the same cap: what is left
// of the phase, less the time the listings will take, split evenly.
// A run of the first size is left out when the larger batches would
// otherwise not have the time to submit every pin (estimated from the
// rates of the first runs).
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

	first := b.o.pins[0]
	slowest := map[string]float64{} // each side's lowest acknowledged pins/s so far
	var runTook time.Duration       // the longest run of the first batch, both sides
	for i := range b.o.runs {
		if i > 0 {
			need := b.laterNeed(slowest)
			if left := time.Until(b.phaseEnd); left-runTook < need {
				b.note(fmt.Sprintf("pin ingest %s CIDs: %d of %d runs, to leave the larger batch the %s it needs (%s were left)",
					thousands(first), i, b.o.runs, need.Round(time.Second), left.Round(time.Second)))
				break
			}
		}
		t0 := time.Now()
		for _, c := range b.order(i) {
			limit := max(10*time.Second, min(b.o.cap, time.Until(b.phaseEnd)/2))
			r, err := b.pinBatch(ctx, c, i, first, batches[fmt.Sprintf("pins-%d-run%d", first, i)], limit)
			if err != nil {
				return err
			}
			if r.acked > 0 {
				rate := float64(r.acked) / r.took.Seconds()
				if s, ok := slowest[c.side]; !ok || rate < s {
					slowest[c.side] = rate
				}
			}
		}
		runTook = max(runTook, time.Since(t0))
		b.nominal += first
		if i == 0 {
			if err := b.listings(ctx); err != nil {
				return err
			}
		}
	}

	for k, size := range b.o.pins[1:] {
		left := time.Until(b.phaseEnd)
		// The listings of the grown pinset: one run of those of the
		// first batch, scaled by the growth, from a tenth to a third of
		// what is left.
		reserve := min(left/3, max(left/10, b.listingEstimate(b.nominal+size)))
		limit := max(0, (left-reserve)/2)
		if k+1 < len(b.o.pins[1:]) {
			limit /= 2 // leave the next batches about as much
		}
		b.progress("pin ingest %s CIDs: each side has %s from its first request; %s kept for the listings",
			thousands(size), limit.Round(time.Second), reserve.Round(time.Second))
		for _, c := range b.order(0) {
			if _, err := b.pinBatch(ctx, c, 0, size, batches[fmt.Sprintf("pins-%d", size)], limit); err != nil {
				return err
			}
		}
		b.nominal += size
		if err := b.listings(ctx); err != nil {
			return err
		}
	}
	return nil
}

// laterNeed is the time the batches after the first need, estimated
// from the slowest acknowledged rate of each side so far.
func (b *bench) laterNeed(slowest map[string]float64) time.Duration {
	var need time.Duration
	pins := b.nominal + b.o.pins[0] // the pinset after the next run of the first batch
	for _, size := range b.o.pins[1:] {
		pins += size
		rates := []float64{}
		for _, r := range slowest {
			rates = append(rates, r)
		}
		need += batchNeed(size, rates, b.minWait(sideFlotilla)+b.minWait(sideIncumbent), b.listingEstimate(pins))
	}
	return need
}

// batchNeed estimates the time a batch of size pins takes on both
// sides: each side submits it at the slowest rate seen (rates, pins/s),
// slowed by a quarter for the larger pinset, then waits; waits is the
// sum of both sides' shortest waits; listings the time of one run of
// the listings after it. Without a rate it is 0: nothing is known.
func batchNeed(size int, rates []float64, waits, listings time.Duration) time.Duration {
	slowest := 0.0
	for _, r := range rates {
		if r > 0 && (slowest == 0 || r < slowest) {
			slowest = r
		}
	}
	if slowest == 0 {
		return 0
	}
	ingest := time.Duration(float64(size) / slowest * 1.25 * float64(time.Second))
	return 2*ingest + waits + listings
}

// listingEstimate is how long one run of the listings of pins pins takes
// on both sides, from the first run of the first listings (scaled
// linearly); 0 before those.
func (b *bench) listingEstimate(pins int) time.Duration {
	if b.listingPins == 0 {
		return 0
	}
	return time.Duration(float64(b.listingRun) * float64(pins) / float64(b.listingPins))
}

// pinBatch pins cids on c (see ingest) and waits until they are pinned
// on three live nodes. The ingest stops at limit from its first
// request; so does the wait, which lasts at least minWait.
func (b *bench) pinBatch(ctx context.Context, c *cluster, run, size int, cids []string, limit time.Duration) (ingestResult, error) {
	label := fmt.Sprintf("pin ingest %s CIDs", thousands(size))
	end := time.Now().Add(limit)
	r := b.ingest(ctx, c, cids, b.o.clients, end)
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if r.failed > 0 {
		b.figs.note(c.side, label+": acknowledged", "pins/s", kindThroughput, fmt.Sprintf("%d of %d failed; first: %v", r.failed, len(cids), r.firstErr))
	}
	if r.acked == 0 {
		b.figs.note(c.side, label+": acknowledged", "pins/s", kindThroughput, fmt.Sprintf("no pin acknowledged: %v", r.firstErr))
		return r, nil
	}
	c.pins += r.acked
	rate := float64(r.acked) / r.took.Seconds()
	b.figs.add(c.side, label+": acknowledged", "pins/s", kindThroughput, rate, false)
	p50, p99 := stats.Percentile(r.latencies, 50), stats.Percentile(r.latencies, 99)
	b.figs.add(c.side, label+": REST pin add p50 latency under load", "ms", kindLatency, p50, false)
	b.figs.add(c.side, label+": REST pin add p99 latency under load", "ms", kindLatency, p99, false)
	if r.acked+r.failed < len(cids) {
		b.figs.note(c.side, label+": acknowledged", "pins/s", kindThroughput,
			fmt.Sprintf("run %d: time cap: %s of %s submitted in %s", run+1, thousands(r.acked+r.failed), thousands(len(cids)), r.took.Round(time.Second)))
	}
	want := map[string]bool{}
	for _, s := range cids {
		want[s] = true
	}
	w, err := b.waitReplicated(ctx, c, want, r.acked, max(b.minWait(c.side), time.Until(end)))
	if err != nil {
		return r, err
	}
	full := r.took + w.d
	b.figs.add(c.side, label+": until all pinned ×3", "s", kindLatency, full.Seconds(), w.capped)
	// Pins on three nodes per second over the same time: until all were,
	// or until the last check of a capped wait.
	perSecond := pinnedRate(r.acked, r.took, w)
	if perSecond >= 0 {
		b.figs.add(c.side, label+": pinned ×3 per second, from the first request", "pins/s", kindThroughput, perSecond, false)
	}
	if w.capped {
		got := thousands(w.done) + " of " + thousands(r.acked) + " pinned ×3"
		if w.done < 0 {
			got = fmt.Sprintf("no status listing of %s pins completed", thousands(c.pins))
		}
		b.figs.note(c.side, label+": until all pinned ×3", "s", kindLatency,
			fmt.Sprintf("run %d: %s when the wait stopped at %s; %s", run+1, got, full.Round(time.Second), b.known(ctx, c)))
	}
	b.progress("run %d %-9s %s: %d acked in %s (%.0f/s, p50 %.1f ms, p99 %.1f ms, %d failed), %d pinned ×3 after %s%s", run+1, c.side, label,
		r.acked, r.took.Round(time.Millisecond), rate, p50, p99, r.failed, w.done, full.Round(time.Millisecond), cappedMark(w.capped))
	return r, nil
}

// pinnedRate is the pins on three nodes per second from the first
// request of an ingest of acked pins that took took: all of them over
// the whole time when the wait w saw them all, else those of its last
// check over the time until then; -1 when no check completed.
func pinnedRate(acked int, took time.Duration, w waited) float64 {
	switch {
	case !w.capped && w.done >= acked:
		return float64(acked) / (took + w.d).Seconds()
	case w.done >= 0:
		return float64(w.done) / (took + w.doneAt).Seconds()
	}
	return -1
}

// listings times the two listings of the whole pinset from node 0 on
// each side: status (GET /pins, every peer's view) and pin ls (GET
// /allocations), the first item and the whole stream; -runs times when
// the phase has the time (each run after the first only if the time
// left holds the previous one twice). The figures are named by the pins
// acknowledged so far on both sides.
func (b *bench) listings(ctx context.Context) error {
	t0 := time.Now()
	defer func() {
		if b.listingPins == 0 {
			b.listingRun, b.listingPins = time.Since(t0)/time.Duration(max(1, b.listingRuns)), b.nominal
		}
	}()
	b.listingRuns = 0
	label := thousands(b.nominal) + " pins"
	if b.flo.pins != b.inc.pins || b.flo.pins < b.nominal {
		// Not every pin was acknowledged (time cap, failures): name
		// what each side holds.
		label = fmt.Sprintf("%s/%s pins", thousands(b.flo.pins), thousands(b.inc.pins))
	}
	var last time.Duration
	for i := range b.o.runs {
		if left := time.Until(b.phaseEnd); i > 0 && left < 2*last {
			b.note(fmt.Sprintf("listings of %s: %d of %d runs, the time budget was spent", label, i, b.o.runs))
			break
		}
		t1 := time.Now()
		for _, c := range b.order(i) {
			n := c.live()[0]
			for _, l := range []struct {
				name   string
				status bool
				list   func(context.Context, string) (time.Duration, int, error)
			}{
				{"status (GET /pins)", true, func(ctx context.Context, api string) (time.Duration, int, error) {
					return b.rest.statusAll(ctx, api, nil)
				}},
				{"pin ls (GET /allocations)", false, b.rest.allocations},
			} {
				name := l.name + " of " + label
				// A listing may take the time left, at least 15 s and at
				// most -cap.
				limit := max(15*time.Second, min(b.o.cap, time.Until(b.phaseEnd)))
				t0 := time.Now()
				lctx, cancel := context.WithTimeout(ctx, limit)
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
				if l.status {
					b.noteStatusListing(c.side, total)
				}
				if i == 0 && items != c.pins {
					b.figs.note(c.side, name+": total", "s", kindLatency, fmt.Sprintf("%s items listed of %s pins acknowledged", thousands(items), thousands(c.pins)))
				}
				b.progress("run %d %-9s %s: %d items, first %s, total %s", i+1, c.side, l.name, items,
					first.Round(time.Microsecond), total.Round(time.Millisecond))
			}
		}
		last = time.Since(t1)
		b.listingRuns++
	}
	return nil
}
