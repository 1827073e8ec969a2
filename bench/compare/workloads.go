package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
	// Read it once first: the first add would otherwise read it from
	// the disk, the others from the page cache.
	if err := readAll(file); err != nil {
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
			// Nothing left dirty by the previous add (kubo's blocks are
			// written back after it exits): a side that syncs its file
			// system would pay for the other's write-back.
			syscall.Sync()
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

// gateway loads node 0's gateway of c (flotilla's, and kubo's for the
// incumbent, which has no gateway of its own) with the same files on
// both sides, added unpinned through the node's Kubo RPC API with
// kubo's CLI (the CIDs must agree with the other side's): requests/s
// and latency of a 1 KiB file, throughput of a 1 MiB and a large file,
// with bench/gatewaybench's load generators, -runs times each.
func (b *bench) gateway(ctx context.Context, c *cluster) error {
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
	n := c.live()[0]
	paths := map[string]string{}
	for name, f := range files {
		out, err := procs.Output(ctx, os.Environ(), b.o.kubo, "--api", n.rpc, "add", "-Q", "--pin=false", "--cid-version=1", f)
		if err != nil {
			return fmt.Errorf("add %s: %w", name, err)
		}
		paths[name] = "/ipfs/" + strings.TrimSpace(out)
		if b.gatewayPaths == nil {
			b.gatewayPaths = map[string]string{}
		}
		if p, ok := b.gatewayPaths[name]; ok && p != paths[name] {
			return fmt.Errorf("gateway file %s: %s on %s, %s on the other side", name, paths[name], c.side, p)
		}
		b.gatewayPaths[name] = paths[name]
	}
	large := payload.Size(b.o.gatewayLarge)
	loads := []struct {
		file  string
		conns int
		figs  func(r loadgen.Result)
	}{
		{"1KiB", 32, func(r loadgen.Result) {
			b.figs.add(c.side, "gateway 1KiB: requests", "req/s", kindThroughput, r.RPS, false)
			b.figs.add(c.side, "gateway 1KiB: p50 latency", "ms", kindLatency, r.P50.Seconds()*1000, false)
			b.figs.add(c.side, "gateway 1KiB: p99 latency", "ms", kindLatency, r.P99.Seconds()*1000, false)
		}},
		{"1MiB", 32, func(r loadgen.Result) {
			b.figs.add(c.side, "gateway 1MiB: throughput", "MB/s", kindThroughput, r.BPS/1e6, false)
		}},
		{"large", 4, func(r loadgen.Result) {
			b.figs.add(c.side, "gateway "+large+": throughput", "MB/s", kindThroughput, r.BPS/1e6, false)
		}},
	}
	b.progress("gateway: %s, %d×%s per figure", gen.Name(), b.o.runs, b.o.gatewayDuration)
	for i := range b.o.runs {
		for _, l := range loads {
			r, err := gen.Load(ctx, n.gateway+paths[l.file], l.conns, 2, b.o.gatewayDuration)
			if err != nil {
				return fmt.Errorf("%s: %w", l.file, err)
			}
			if r.Errors > 0 {
				b.figs.note(c.side, "gateway "+l.file+": errors", "", "", fmt.Sprintf("run %d: %d failed requests", i+1, r.Errors))
			}
			l.figs(r)
		}
	}
	return nil
}

// clusterAdd posts a new file to POST /add of node 0 of c, with
// replication 3, and times the request and the wait until the three
// replicas report "pinned", -runs times: each run adds other bytes, the
// same on both sides.
func (b *bench) clusterAdd(ctx context.Context, c *cluster) error {
	name := "cluster add " + payload.Size(b.o.clusterAddSize) + " (REST /add, 3 replicas)"
	for i := range b.o.runs {
		file, err := payload.File(b.scratch, fmt.Sprintf("cluster-add-%d.bin", i), b.o.clusterAddSize, fmt.Sprintf("cluster add %d", i))
		if err != nil {
			return err
		}
		n := c.live()[0]
		t0 := time.Now()
		root, err := b.rest.add(ctx, n.api, file, replicas)
		if notImplemented(err) {
			b.figs.note(c.side, name+": until it returns", "s", kindLatency, "n/a: "+err.Error())
			b.figs.note(c.side, name+": until 3 replicas pinned", "s", kindLatency, "n/a: "+err.Error())
			b.progress("run %d %-9s cluster add: n/a (%v)", i+1, c.side, err)
			return nil
		}
		if err != nil {
			return err
		}
		returned := time.Since(t0)
		c.pins++
		_, capped, err := b.waitFor(ctx, min(b.o.cap, time.Until(b.phaseEnd)/4), func(ctx context.Context) (bool, error) {
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
				errs[i] = fmt.Errorf("%s: import %d blocks: %w", c, n, err)
				return
			}
			b.progress("%s: %d blocks imported on node 0 in %s", c, n, time.Since(t0).Round(time.Millisecond))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cids, os.Remove(car)
}

// readAll reads a file to its end.
func readAll(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// thousands prints n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
