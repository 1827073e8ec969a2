package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// churnClients is how many clients pin the pinset of the join-and-kill
// clusters: one, so that both sides come as close as they can to
// holding it whole before a node joins (that ingest is not measured;
// with 8 clients IPFS Cluster had 230 to 293 of 300 pins on three nodes
// a minute later, with one 296 to 298).
const churnClients = 1

// churn starts -churn-runs fresh 3-node clusters of each side, all at
// the same time (these figures are bound by timers: heartbeats, metric
// TTLs, rebroadcasts; not by the CPU), and makes each hold -churn-pins
// pins (content on node 0, replication 3 on its three nodes). Then, on
// every cluster at once: a fresh node joins, timed until it lists the
// whole pinset; then node 1 is killed (SIGKILL, its kubo too), timed
// until node 0 reports it down (GET /health/alerts) and until every pin
// is pinned on three live nodes again, which needs the new node. Each
// cluster gives one sample of each figure. The clusters of the other
// workloads are stopped by then: their pinsets (130,000 pins) would
// make a repair a workload of its own.
func (b *bench) churn(ctx context.Context) error {
	all := append(append([]*cluster(nil), b.churnFlo...), b.churnInc...)
	if err := b.each(all, func(c *cluster) error { return b.startCluster(ctx, c, false) }); err != nil {
		return err
	}
	cids, err := b.importBlocks(ctx, "churn", b.o.churnPins, all...)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range cids {
		want[s] = true
	}
	setupCap := b.capFor(0.1)
	err = b.each(all, func(c *cluster) error {
		r := b.ingest(ctx, c, cids, churnClients, b.phaseEnd)
		if r.failed > 0 || r.acked < len(cids) {
			return fmt.Errorf("%s: %d of %d churn pins acknowledged: %v", c, r.acked, len(cids), r.firstErr)
		}
		c.pins += r.acked
		w, err := b.waitReplicated(ctx, c, want, r.acked, setupCap)
		if err != nil {
			return err
		}
		if w.capped {
			b.note(fmt.Sprintf("join and kill, %s: %d of %d pins pinned ×3 before the join (the wait stopped at %s)",
				c, w.done, r.acked, (r.took + w.d).Round(time.Second)))
		}
		b.progress("%s: %d churn pins acked in %s, %d pinned ×3 after %s%s", c, r.acked, r.took.Round(time.Millisecond),
			w.done, (r.took + w.d).Round(time.Millisecond), cappedMark(w.capped))
		return nil
	})
	if err != nil {
		return err
	}
	return b.each(all, func(c *cluster) error { return b.churnRound(ctx, c) })
}

// each runs fn on every cluster at once and joins the errors.
func (b *bench) each(cs []*cluster, fn func(*cluster) error) error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(c); err != nil {
				errs[i] = fmt.Errorf("%s: %w", c, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// churnRound is one join and one kill on c.
func (b *bench) churnRound(ctx context.Context, c *cluster) error {
	boot := c.live()[0]
	total := c.pins
	t0 := time.Now()
	joiner, err := c.addNode(ctx)
	if err != nil {
		return err
	}
	started := time.Since(t0)
	d, capped, err := b.waitFor(ctx, b.capFor(0.4), func(ctx context.Context) (bool, error) {
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
		b.figs.note(c.side, name, "s", kindLatency, c.label+": "+b.known(ctx, c))
	}
	b.progress("%s join: process ready %s, pinset of %d listed after %s%s", c, started.Round(time.Millisecond), total,
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
	// The repair is timed for the pins on three nodes before the kill:
	// a pin that never got there is no repair's to finish.
	full := map[string]bool{}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, _, err = b.rest.statusAll(lctx, boot.api, func(ps pinStatus) {
		if ps.pinnedOn(c.liveIDs()) >= replicas {
			full[ps.Cid] = true
		}
	})
	cancel()
	if err != nil {
		return fmt.Errorf("status before the kill: %w", err)
	}
	t0 = time.Now()
	c.kill(victim)
	down, downCapped, err := b.waitFor(ctx, b.capFor(0.5), func(ctx context.Context) (bool, error) {
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
	w, err := b.waitReplicated(ctx, c, full, len(full), b.capFor(0.9))
	if err != nil {
		return err
	}
	repaired := time.Since(t0)
	repair := name + ": until the pins on 3 nodes before are again"
	b.figs.add(c.side, repair, "s", kindLatency, repaired.Seconds(), w.capped)
	if len(full) < total {
		b.figs.note(c.side, repair, "s", kindLatency, fmt.Sprintf("%s: %d of %d pins were on 3 nodes before the kill", c.label, len(full), total))
	}
	if w.capped {
		b.figs.note(c.side, repair, "s", kindLatency,
			fmt.Sprintf("%s: %d of %d back at 3 replicas when the wait stopped (-1: no status listing completed); %s", c.label, w.done, len(full), b.known(ctx, c)))
	}
	b.progress("%s kill %s: down after %s%s, %d/%d pins back at 3 replicas after %s%s", c, victim.name,
		down.Round(time.Millisecond), cappedMark(downCapped), w.done, len(full), repaired.Round(time.Millisecond), cappedMark(w.capped))
	return nil
}
