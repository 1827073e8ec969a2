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
// "pinned" peers among the live ones, from GET /pins on n, which
// listed items pins.
func (b *bench) pinnedCount(ctx context.Context, c *cluster, n *node, want map[string]bool) (count, items int, err error) {
	live := c.liveIDs()
	_, items, err = b.rest.statusAll(ctx, n.api, func(ps pinStatus) {
		if (want == nil || want[ps.Cid]) && ps.pinnedOn(live) >= replicas {
			count++
		}
	})
	return count, items, err
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
		k, items, err := b.pinnedCount(ctx, c, n, want)
		if err != nil {
			return false, nil // a listing cut by the deadline: poll again
		}
		w.done, w.doneAt = k, time.Since(t0)
		c.noteStatusListing(time.Since(t), items)
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
// c took, of how many pins: it sizes the shortest useful wait.
func (c *cluster) noteStatusListing(d time.Duration, pins int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statusTook, c.statusPins = d, pins
}

// minWait is the shortest wait for replication after an ingest on c:
// long enough for a status listing of its pinset, estimated as twice
// the last one scaled to the pins c holds now (a listing is slower
// while the nodes pin), and at least 10 s, so that a capped wait still
// says how far it got.
func (c *cluster) minWait() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(10*time.Second, 2*scaled(c.statusTook, c.pins, c.statusPins))
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

// incumbentShare is the part of the cluster workloads' time the
// incumbent, measured first, may take: it is the slower side (a longer
// start, a slower ingest). Flotilla gets the rest, with what the
// incumbent left.
const incumbentShare = 0.55

// pinSide runs the pin workloads on c until end: it imports every
// batch's blocks on node 0, then pins the first batch -runs times (want, if not
// 0; fewer if the later batches would otherwise not have the time to
// submit every pin, estimated from this side's rates), each run capped
// at -pin-cap from its first request, then each later batch once, the
// whole batch (a fixed count) in what is left less the time its
// listings will take, without a wait: the first status listing of the
// grown pinset counts what is on three nodes (no side gets 100,000 pins
// on three nodes in this budget). The listings follow the first run and
// each later batch. It returns the
// runs of the first batch made, and records the RSS and CPU of the
// side's processes.
func (b *bench) pinSide(ctx context.Context, c *cluster, end time.Time, want int) (int, error) {
	base := c.pins // the probes, the cluster adds

	first, later := b.o.pins[0], b.o.pins[1:]
	// The same seeds on both sides: the same blocks, the same CIDs.
	type batch struct {
		seed string
		n    int
	}
	var all []batch
	for i := range b.o.runs {
		all = append(all, batch{fmt.Sprintf("pins-%d-run%d", first, i), first})
	}
	for _, n := range later {
		all = append(all, batch{fmt.Sprintf("pins-%d", n), n})
	}
	batches := map[string][]string{}
	for _, bt := range all {
		cids, err := b.importBlocks(ctx, bt.seed, bt.n, c)
		if err != nil {
			return 0, err
		}
		batches[bt.seed] = cids
	}

	nominal := 0              // pins of the batches so far, by design: names the listings
	var listing time.Duration // one run of the listings after the first run, of first pins
	var fastest float64       // the highest acknowledged pins/s of the first batch
	var runTook time.Duration
	runs := 0
	for i := range b.o.runs {
		if want > 0 && i >= want {
			break
		}
		if i > 0 {
			need := laterNeed(later, nominal+first, fastest, listing, first)
			if left := time.Until(end); left-runTook < need {
				b.note(fmt.Sprintf("pin ingest %s CIDs, %s: %d of %d runs, to leave the larger batch the %s it needs (%s were left)",
					thousands(first), c.side, i, b.o.runs, need.Round(time.Second), left.Round(time.Second)))
				break
			}
		}
		t0 := time.Now()
		limit := max(10*time.Second, min(b.o.pinCap, time.Until(end)/2))
		r, err := b.pinBatch(ctx, c, i, first, batches[fmt.Sprintf("pins-%d-run%d", first, i)], limit, nil)
		if err != nil {
			return runs, err
		}
		if rate := float64(r.acked) / r.took.Seconds(); r.acked > 0 && rate > fastest {
			fastest = rate
		}
		runTook = max(runTook, time.Since(t0))
		runs++
		nominal += first
		if i == 0 {
			l, err := b.listings(ctx, c, base, nominal, end, false)
			if err != nil {
				return runs, err
			}
			listing = l
		}
	}
	if want > 0 && runs < want {
		b.note(fmt.Sprintf("pin ingest %s CIDs, %s: %d runs, the incumbent made %d", thousands(first), c.side, runs, want))
	}

	for k, size := range later {
		// The listings of the grown pinset: one run of those after the
		// first batch, scaled by the growth, from a tenth to a third of
		// what is left.
		left := time.Until(end)
		reserve := min(left/3, max(left/10, scaled(listing, nominal+size, first)))
		limit := time.Duration(float64(left-reserve) / float64(len(later)-k))
		// Every pin of the batch should be submitted: it may take up to
		// a third longer than the fastest rate of the first batch says,
		// overrunning this side's time by up to a minute.
		if fastest > 0 {
			limit = max(limit, min(time.Duration(float64(size)/fastest*1.3*float64(time.Second)), left+time.Minute))
		}
		b.progress("%s: pin ingest %s CIDs: up to %s; %s kept for the listings", c, thousands(size), limit.Round(time.Second), reserve.Round(time.Second))
		once := &listed{base: base, nominal: nominal + size}
		if _, err := b.pinBatch(ctx, c, 0, size, batches[fmt.Sprintf("pins-%d", size)], max(10*time.Second, limit), once); err != nil {
			return runs, err
		}
		nominal += size
		if _, err := b.listings(ctx, c, base, nominal, end, true); err != nil {
			return runs, err
		}
	}
	return runs, nil
}

// laterNeed is the least time the later batches need on one side after
// the next run of the first batch (the pinset then holds pins),
// estimated from its fastest acknowledged rate (pins/s) and one run of
// its listings of listedPins pins: a run of the first batch is left
// out only when the later batches could not be submitted whole
// otherwise.
func laterNeed(later []int, pins int, fastest float64, listing time.Duration, listedPins int) time.Duration {
	var need time.Duration
	for _, size := range later {
		pins += size
		// No wait after it: its listings count what is on three nodes.
		need += sideNeed(size, fastest, 0, scaled(listing, pins, listedPins))
	}
	return need
}

// sideNeed estimates the time a batch of size pins takes on one side:
// submitting it at rate pins/s, then the wait, then the listings.
// Without a rate it is 0: nothing is known.
func sideNeed(size int, rate float64, wait, listings time.Duration) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(size)/rate*float64(time.Second)) + wait + listings
}

// scaled is d, measured on a pinset of from pins, scaled linearly to one
// of to pins; 0 when nothing was measured.
func scaled(d time.Duration, to, from int) time.Duration {
	if from <= 0 {
		return 0
	}
	return time.Duration(float64(d) * float64(to) / float64(from))
}

// listed names the pinset pinBatch lists once instead of waiting.
type listed struct{ base, nominal int }

// pinBatch pins cids on c (see ingest) and waits until they are pinned
// on three live nodes. The ingest stops at limit from its first
// request; so does the wait, which lasts at least minWait. With once,
// there is no wait: the first status listing of the grown pinset
// (listOnce; a figure of its own) counts the pins on three nodes.
func (b *bench) pinBatch(ctx context.Context, c *cluster, run, size int, cids []string, limit time.Duration, once *listed) (ingestResult, error) {
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
	fullName, rateName := label+": until all pinned ×3", label+": pinned ×3 per second, from the first request"
	b.figs.declare(fullName, "s", kindLatency)
	b.figs.declare(rateName, "pins/s", kindThroughput)
	var w waited
	if once != nil {
		k, took, err := b.listOnce(ctx, c, 0, statusListing, once.base, once.nominal, want)
		if err != nil {
			return r, err
		}
		w = waited{d: took, capped: k < r.acked, done: k, doneAt: took}
	} else {
		var err error
		if w, err = b.waitReplicated(ctx, c, want, r.acked, max(c.minWait(), time.Until(end))); err != nil {
			return r, err
		}
	}
	full := r.took + w.d
	b.figs.add(c.side, fullName, "s", kindLatency, full.Seconds(), w.capped)
	// Pins on three nodes per second over the same time: until all were,
	// or until the last check of a capped wait.
	perSecond := pinnedRate(r.acked, r.took, w)
	if perSecond >= 0 {
		b.figs.add(c.side, rateName, "pins/s", kindThroughput, perSecond, false)
	}
	if w.capped {
		got := thousands(w.done) + " of " + thousands(r.acked) + " pinned ×3"
		if w.done < 0 {
			got = fmt.Sprintf("no status listing of %s pins completed", thousands(c.pins))
		}
		b.figs.note(c.side, fullName, "s", kindLatency,
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

// The two listings of a whole pinset.
const (
	statusListing = "status (GET /pins)"
	pinLsListing  = "pin ls (GET /allocations)"
)

// listings times the two listings of c's whole pinset from node 0
// (listOnce): status and pin ls; -runs times while there is the time
// before end (each run after the first only if the time left holds the
// previous one twice). With statusDone, the first run's status listing
// was made already (pinBatch's check). It returns how long the first
// run took.
func (b *bench) listings(ctx context.Context, c *cluster, base, nominal int, end time.Time, statusDone bool) (time.Duration, error) {
	var first time.Duration
	for i := range b.o.runs {
		if left := time.Until(end); i > 0 && left < 2*first {
			b.note(fmt.Sprintf("listings of %s pins, %s: %d of %d runs, the time budget was spent", thousands(nominal), c.side, i, b.o.runs))
			break
		}
		t1 := time.Now()
		for _, what := range []string{statusListing, pinLsListing} {
			if i == 0 && statusDone && what == statusListing {
				continue
			}
			if _, _, err := b.listOnce(ctx, c, i, what, base, nominal, nil); err != nil {
				return first, err
			}
		}
		if i == 0 {
			first = time.Since(t1)
		}
	}
	return first, nil
}

// listOnce times one listing of c's whole pinset from node 0 (what:
// statusListing, every peer's view of every pin, or pinLsListing), for
// at most -cap (the next phase gives up what it overruns), and records
// the first item and the total under the name of the listing of
// nominal pins, the pins of the batches so far (a note says when c
// lists another count; it held base pins before them). A status
// listing with want also counts the pins of want pinned on three live
// nodes: -1 when the listing was cut.
func (b *bench) listOnce(ctx context.Context, c *cluster, run int, what string, base, nominal int, want map[string]bool) (pinned int, took time.Duration, err error) {
	name := what + " of " + thousands(nominal) + " pins"
	live := c.liveIDs()
	t0 := time.Now()
	lctx, cancel := context.WithTimeout(ctx, b.o.cap)
	defer cancel()
	var firstItem time.Duration
	var items int
	if what == statusListing {
		var each func(pinStatus)
		if want != nil {
			each = func(ps pinStatus) {
				if want[ps.Cid] && ps.pinnedOn(live) >= replicas {
					pinned++
				}
			}
		}
		firstItem, items, err = b.rest.statusAll(lctx, c.live()[0].api, each)
	} else {
		firstItem, items, err = b.rest.allocations(lctx, c.live()[0].api)
	}
	took = time.Since(t0)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			b.figs.add(c.side, name+": total", "s", kindLatency, took.Seconds(), true)
			b.figs.note(c.side, name+": total", "s", kindLatency, fmt.Sprintf("cut at %s after %d items", took.Round(time.Second), items))
			return -1, took, nil
		}
		return -1, took, fmt.Errorf("%s: %w", what, err)
	}
	b.figs.add(c.side, name+": first item", "ms", kindLatency, firstItem.Seconds()*1000, false)
	b.figs.add(c.side, name+": total", "s", kindLatency, took.Seconds(), false)
	if what == statusListing {
		c.noteStatusListing(took, items)
	}
	if run == 0 && (items != c.pins || c.pins != base+nominal) {
		b.figs.note(c.side, name+": total", "s", kindLatency,
			fmt.Sprintf("%s items listed; %s pins acknowledged, %d of them before the batches", thousands(items), thousands(c.pins), base))
	}
	b.progress("run %d %-9s %s: %d items, first %s, total %s", run+1, c.side, what, items,
		firstItem.Round(time.Microsecond), took.Round(time.Millisecond))
	return pinned, took, nil
}
