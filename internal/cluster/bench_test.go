package cluster

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// The cluster benchmarks run in-process on loopback (make bench-cluster).
// Each reports its figures with b.ReportMetric; run them with -benchtime=1x.

// BenchmarkPinIngest pins existing small blocks through the peers of a
// 3-peer cluster from FLOTILLA_BENCH_CLIENTS concurrent clients (default
// 256: group commit turns concurrency into throughput): pins/s
// acknowledged, then pins/s until every pin is pinned on all three peers.
func BenchmarkPinIngest(b *testing.B) {
	pins := envInt("FLOTILLA_BENCH_PINS", 10_000)
	tc := newCluster(b, 3, "z1", "z2", "z3")
	ctx := context.Background()
	src := tc.peers[0]
	// With FLOTILLA_BENCH_ACK_ONLY set, the CIDs name no content: the
	// trackers wait on bitswap instead of competing for the CPU, which
	// isolates the acknowledged path (forwarding, placement, raft).
	ackOnly := os.Getenv("FLOTILLA_BENCH_ACK_ONLY") != ""
	cids := make([]cid.Cid, pins)
	for i := range cids {
		if ackOnly {
			cids[i] = fakeCid(i)
			continue
		}
		c, err := src.node.BlockPut(ctx, []byte("ingest block "+strconv.Itoa(i)), ipfs.BlockPutOptions{})
		if err != nil {
			b.Fatal(err)
		}
		cids[i] = c
	}
	origins := src.peer.deps.SwarmAddrs()
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range envInt("FLOTILLA_BENCH_CLIENTS", 256) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			via := tc.peers[w%3].peer
			if os.Getenv("FLOTILLA_BENCH_VIA_LEADER") != "" {
				via = tc.leader().peer
			}
			for {
				i := next.Add(1) - 1
				if i >= int64(len(cids)) {
					return
				}
				if _, err := via.Pin(ctx, pin.Pin{Cid: cids[i], ReplicationMin: 3, ReplicationMax: 3, Origins: origins}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	acked := time.Since(start)
	b.ReportMetric(float64(pins)/acked.Seconds(), "pins/s-acked")
	if ackOnly {
		return
	}
	// Fully replicated: every peer's tracker has pinned every block.
	for _, tp := range tc.peers {
		for _, c := range cids {
			for {
				ok, _ := tp.node.IsPinnedRecursively(ctx, c)
				if ok {
					break
				}
				time.Sleep(5 * time.Millisecond) // polling interval
			}
		}
	}
	replicated := time.Since(start)
	b.ReportMetric(float64(pins)/replicated.Seconds(), "pins/s-replicated-x3")
}

// BenchmarkListPins measures a full listing of a large pinset straight
// from the state: time to the first pin, pins/s, and the heap it needs.
func BenchmarkListPins(b *testing.B) {
	n := envInt("FLOTILLA_BENCH_LIST_PINS", 1_000_000)
	st, err := state.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const batch = 10_000
	for i := 0; i < n; i += batch {
		ops := make([]state.Op, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			ops = append(ops, state.Op{Kind: state.OpPutPin, Pin: pin.Pin{Cid: fakeCid(j), Mode: pin.Recursive,
				ReplicationMin: 2, ReplicationMax: 3, Allocations: []string{"12D3KooWA", "12D3KooWB", "12D3KooWC"}}})
		}
		if _, err := st.Apply(uint64(i/batch+1), ops); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		m := newListingMeter(100_000)
		err := st.List(context.Background(), cid.Undef, func(pin.Pin) error { m.see(); return nil })
		if err != nil || m.count != n {
			b.Fatalf("listed %d of %d: %v", m.count, n, err)
		}
		total := time.Since(m.start)
		b.ReportMetric(float64(m.first.Microseconds())/1000, "ms-first-pin")
		b.ReportMetric(float64(n)/total.Seconds(), "pins/s")
		b.ReportMetric(float64(m.peak)/(1<<20), "MiB-heap-peak")
		b.ReportMetric(float64(rssBytes())/(1<<20), "MiB-rss")
	}
}

// rssBytes reads the process's resident set size.
func rssBytes() uint64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkFormAndDetect measures, with the production heartbeat settings,
// the time from starting three fresh peers until a pin with three replicas
// can be allocated, and the time from cutting a peer off until the leader
// counts it down.
func BenchmarkFormAndDetect(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		start := time.Now()
		tc := newTunedCluster(b, 3, func(c *Config) {
			d := DefaultConfig()
			c.Heartbeat, c.DownAfter, c.RepairAfter, c.DeadNodeTimeout = d.Heartbeat, d.DownAfter, d.RepairAfter, d.DeadNodeTimeout
		}, "z1", "z2", "z3")
		c := tc.peers[0].addContent("form")
		eventually(b, 30*time.Second, "a 3-replica allocation", func() error {
			_, err := tc.peers[0].peer.Pin(ctx, pin.Pin{Cid: c, ReplicationMin: 3, ReplicationMax: 3})
			return err
		})
		formed := time.Since(start)
		leader := tc.leader()
		victim := indexOf(tc, tc.peers[0])
		if tc.peers[0] == leader {
			victim = 1
		}
		cut := time.Now()
		tc.partition(victim)
		id := tc.peers[victim].peer.ID()
		eventually(b, 30*time.Second, "down detected", func() error {
			if leader.peer.live.downFor(id, time.Now(), leader.peer.cfg.DownAfter) == 0 {
				return fmt.Errorf("still alive")
			}
			return nil
		})
		b.ReportMetric(formed.Seconds(), "s-to-allocate")
		b.ReportMetric(time.Since(cut).Seconds(), "s-to-detect")
	}
}

// BenchmarkPinMany measures bulk pinning (PinMany, as POST /pins/batch
// uses it) through a follower of a 3-peer cluster: CIDs without content, in
// groups of 8192.
func BenchmarkPinMany(b *testing.B) {
	n := envInt("FLOTILLA_BENCH_PINS", 200_000)
	tc := newCluster(b, 3, "z1", "z2", "z3")
	via := tc.peers[0].peer
	for _, tp := range tc.peers {
		if !tp.peer.IsLeader() {
			via = tp.peer
			break
		}
	}
	b.ResetTimer()
	start := time.Now()
	pinFakes(b, via, n, 0)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "pins/s")
}

// BenchmarkStatusAll measures the cluster-wide status listing (GET /pins)
// of a 3-peer cluster holding FLOTILLA_BENCH_PINS pins: time to the first
// item, pins/s, and the heap at its peak.
func BenchmarkStatusAll(b *testing.B) {
	n := envInt("FLOTILLA_BENCH_PINS", 100_000)
	tc := newCluster(b, 3, "z1", "z2", "z3")
	ctx := context.Background()
	pinFakes(b, tc.leader().peer, n, 2)
	via := tc.peers[0].peer
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		m := newListingMeter(20_000)
		err := via.StatusAll(ctx, func(info pin.Info) error {
			if len(info.Peers) != 3 {
				return fmt.Errorf("%d peers in a status", len(info.Peers))
			}
			m.see()
			return nil
		})
		if err != nil || m.count != n {
			b.Fatalf("listed %d of %d: %v", m.count, n, err)
		}
		b.ReportMetric(float64(m.first.Microseconds())/1000, "ms-first")
		b.ReportMetric(time.Since(m.start).Seconds(), "s-total")
		b.ReportMetric(float64(m.peak)/(1<<20), "MiB-heap-peak")
	}
}

// listingMeter times a listing to its first item and samples the heap
// every so many items.
type listingMeter struct {
	start        time.Time
	first        time.Duration
	count, every int
	peak         uint64
}

func newListingMeter(every int) *listingMeter {
	return &listingMeter{start: time.Now(), every: every}
}

func (m *listingMeter) see() {
	if m.count == 0 {
		m.first = time.Since(m.start)
	}
	m.count++
	if m.count%m.every == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m.peak = max(m.peak, ms.HeapInuse)
	}
}

// pinFakes pins n CIDs without content through p, in groups of 8,192 as
// POST /pins/batch does.
func pinFakes(b *testing.B, p *Peer, n int, replication int) {
	const group = 8192
	for i := 0; i < n; i += group {
		pins := make([]pin.Pin, 0, group)
		for j := i; j < min(i+group, n); j++ {
			pins = append(pins, pin.Pin{Cid: fakeCid(j), ReplicationMin: replication, ReplicationMax: replication})
		}
		_, errs, err := p.PinMany(context.Background(), pins)
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
