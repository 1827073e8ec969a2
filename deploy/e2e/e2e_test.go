//go:build e2e

// Package e2e tests the three-zone compose stack (deploy/compose.yaml) end
// to end: real containers from `make image` and `make lb-image`, reached
// through the load balancer, with ipfs-cluster-ctl, Kubo's CLI and the
// docker engine (its registry) as the clients. A node is killed, every node is restarted in turn, one is cut
// off from the shared network and one is replaced by a fresh container,
// all under a steady read load that must not see one failure.
//
// Run it with `make compose-test` (or `make e2e`), which builds the images
// and the clients first.
package e2e

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readRate is the read load through the load balancer, for the whole test.
const readRate = 20

func TestStack(t *testing.T) {
	s := requireTools(t, "")
	s.up()
	if fi, err := os.Stat(filepath.Join(s.secrets, "admin.credentials")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.credentials: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	_, password, _ := strings.Cut(s.cred, ":")
	for _, f := range []string{"../compose.yaml", "../lb/Caddyfile"} {
		text, _ := os.ReadFile(f)
		if strings.Contains(string(text), password) {
			t.Fatalf("%s holds the admin password", f)
		}
	}
	ids, err := s.peerIDs()
	if err != nil || len(ids) != 3 {
		t.Fatalf("peers: %v %v, want node-a, node-b and node-c", ids, err)
	}

	// 1. A 64 MiB file added with replication 2-3 through ipfs-cluster-ctl,
	// a CID added with Kubo's CLI and pinned everywhere, both read through
	// the gateway of every node.
	big := make([]byte, 64<<20)
	rand.Read(big)
	bigCid := strings.TrimSpace(s.mustCtl("add", "--quieter", "--rmin", "2", "--rmax", "3", "--name", "big", writeFile(t, "big", big)))
	small := make([]byte, 1<<20)
	rand.Read(small)
	smallCid := strings.TrimSpace(s.ipfs("add", "-Q", "--pin=false", writeFile(t, "small", small)))
	s.mustCtl("pin", "add", "--rmin", "3", "--rmax", "3", "--name", "small", smallCid)
	s.pinnedOn(bigCid, 2, 2*time.Minute)
	s.pinnedOn(smallCid, 3, 2*time.Minute)
	for _, n := range nodes {
		addr := s.nodeAddr(n)
		for _, c := range []struct {
			cid  string
			want []byte
		}{{bigCid, big}, {smallCid, small}} {
			if err := s.get("http://"+addr+":8080/ipfs/"+c.cid, c.want); err != nil {
				t.Fatalf("%s's gateway: %v", n, err)
			}
		}
	}
	if err := s.get("http://127.0.0.1:8080/ipfs/"+bigCid, big); err != nil {
		t.Fatalf("the load balancer's gateway: %v", err)
	}
	if got := s.ipfs("cat", smallCid); got != string(small) {
		t.Fatalf("ipfs cat through the load balancer: %d bytes, want the %d added", len(got), len(small))
	}

	// 1b. An image docker builds, pushed through the load balancer's
	// registry port: its uploads' requests are spread over the nodes and
	// handed to the node holding each upload. Pulled back in step 2, with
	// a node killed.
	image := s.pushImage()

	reads := startLoad(readRate, func(int) error {
		return s.get("http://127.0.0.1:8080/ipfs/"+smallCid, small)
	})
	defer reads.stop()
	report := func(name string, m step) {
		ok, failed := m.since()
		t.Logf("%s: %d reads, %d failed", name, ok+failed, failed)
		if failed > 0 {
			t.Errorf("%s: %d of %d reads through the load balancer failed: %v", name, failed, ok+failed, reads.failures())
		}
		if ok == 0 {
			t.Errorf("%s: no read succeeded", name)
		}
	}

	// 2. A node killed: reads go on, its pins are reallocated after
	// --repair-after, and restarted it comes back by itself.
	t.Run("kill", func(t *testing.T) {
		m := reads.mark()
		repairMe := make([]byte, 256<<10)
		rand.Read(repairMe)
		cid := strings.TrimSpace(s.mustCtl("add", "--quieter", "--rmin", "2", "--rmax", "2", "--name", "repair-me", writeFile(t, "repair-me", repairMe)))
		before := s.pinnedOn(cid, 2, time.Minute)
		victim := ""
		for name, id := range ids {
			if slices.Contains(before, id) {
				victim = name
				break
			}
		}
		killed := time.Now()
		docker(t, "kill", s.container(victim))
		// The image of step 1b, acknowledged once on two nodes, pulls
		// whole through the load balancer with one of three dead.
		s.pullImage(image)
		eventually(t, repairAfter+time.Minute, "the killed node's allocation moved", func() error {
			p, err := s.allocation(cid)
			if err != nil {
				return err
			}
			if slices.Contains(p.Allocations, ids[victim]) && len(p.Allocations) < 3 {
				return fmt.Errorf("allocations %v still name only %s and one other", p.Allocations, victim)
			}
			return nil
		})
		moved := time.Since(killed)
		t.Logf("%s killed; its pin reallocated %s later (repair-after %s)", victim, moved.Round(time.Second), repairAfter)
		if moved < repairAfter-heartbeat {
			t.Errorf("reallocated after %s, before repair-after (%s)", moved, repairAfter)
		}
		s.pinnedOn(cid, 2, time.Minute, ids[victim])
		docker(t, "start", s.container(victim))
		t.Logf("%s ready %s after its restart", victim, s.waitReady(victim, 2*time.Minute).Round(100*time.Millisecond))
		s.allUp(time.Minute)
		report("kill", m)
	})

	// 3. Every node restarted in turn under reads and adds: no failed
	// read, no acknowledged add lost, a leader at every moment but the
	// short hand-over of each stop.
	t.Run("rolling restart", func(t *testing.T) {
		m := reads.mark()
		var ack acked
		adds := startLoad(4, func(n int) error {
			content := fmt.Appendf(nil, "rolling restart add %d %d", n, mrand.Uint64())
			c, err := s.addThroughLB(fmt.Sprintf("rolling-%d", n), content, 2, 3)
			if err == nil {
				ack.add(c)
			}
			return err
		})
		leaderless := watchQuorum(s)
		for _, n := range nodes {
			start := time.Now()
			s.compose("restart", "-t", "30", n)
			t.Logf("%s restarted and ready in %s", n, (time.Since(start) + s.waitReady(n, 2*time.Minute)).Round(100*time.Millisecond))
			s.allUp(time.Minute)
		}
		adds.stop()
		longest := leaderless.stop()
		okAdds, failedAdds := adds.counts()
		t.Logf("rolling restart: %d adds acknowledged, %d refused (not acknowledged: allowed); longest time with no ready node: %s", okAdds, failedAdds, longest)
		if failedAdds > 0 {
			t.Logf("refused adds: %v", adds.failures())
		}
		if okAdds == 0 {
			t.Error("no add was acknowledged during the rolling restart")
		}
		if longest > 5*time.Second {
			t.Errorf("no node was ready for %s: the cluster lost its quorum", longest)
		}
		pinned := s.pinset()
		for _, c := range ack.list() {
			if !pinned[c] {
				t.Errorf("acknowledged add %s is not in the pinset", c)
			}
		}
		report("rolling restart", m)
	})

	// 4. A node cut off from the shared network: it stops being ready,
	// writes go on through the other two, and reconnected it catches up.
	t.Run("partition", func(t *testing.T) {
		m := reads.mark()
		const cutOff = "node-c"
		addr := s.nodeAddr(cutOff)
		docker(t, "network", "disconnect", network("shared"), s.container(cutOff))
		connected := false
		t.Cleanup(func() {
			if !connected { // the step failed half-way: leave the stack whole for the next one
				exec.Command("docker", "network", "connect", "--alias", cutOff, network("shared"), s.container(cutOff)).Run()
			}
		})
		eventually(t, 30*time.Second, cutOff+" unready once cut off", func() error {
			if s.ready(addr) {
				return fmt.Errorf("%s still ready", cutOff)
			}
			return nil
		})
		// The load balancer notices within its check period: wait until
		// it no longer sends requests to node-c.
		cutID := ids[cutOff]
		eventually(t, 30*time.Second, "the load balancer routing around "+cutOff, func() error {
			for range 6 { // two rounds of round robin over the two others
				id, err := s.servedBy()
				if err != nil {
					return err
				}
				if id == cutID {
					return fmt.Errorf("%s still serves through the load balancer", cutOff)
				}
			}
			return nil
		})
		var during []string
		for i := range 5 {
			content := fmt.Appendf(nil, "written during the partition %d %d", i, mrand.Uint64())
			c, err := s.addThroughLB(fmt.Sprintf("partition-%d", i), content, 1, 3)
			if err != nil {
				t.Fatalf("add through the other two nodes: %v", err)
			}
			during = append(during, c)
		}
		docker(t, "network", "connect", "--alias", cutOff, network("shared"), s.container(cutOff))
		connected = true
		s.waitReady(cutOff, 2*time.Minute)
		// Its own view, read from its REST API directly: it has every
		// pin written while it was away.
		eventually(t, time.Minute, cutOff+" caught up", func() error {
			for _, c := range during {
				if err := s.getStatus("http://"+addr+":9094/allocations/"+c, 200); err != nil {
					return err
				}
			}
			return nil
		})
		s.allUp(time.Minute)
		report("partition", m)
	})

	// 5. A node replaced by a fresh container with an empty volume: it
	// joins as a new peer, the old one is removed after
	// --dead-node-timeout and its pins are re-replicated.
	t.Run("replace", func(t *testing.T) {
		m := reads.mark()
		const replaced = "node-b"
		oldID := ids[replaced]
		gone := time.Now()
		s.compose("rm", "--stop", "-f", "-v", replaced)
		docker(t, "volume", "rm", project+"_"+replaced)
		s.compose("up", "-d", "--no-deps", replaced)
		s.waitReady(replaced, 2*time.Minute)
		// The fresh peer takes the old one's address: the old one leaves
		// raft as soon as the fresh one joins (raft cannot tell whom it
		// reaches at an address), and stays a member, down, until
		// --dead-node-timeout.
		var newID string
		eventually(t, 2*time.Minute, "the fresh peer in the cluster in place of the old one", func() error {
			now, err := s.peerIDs()
			if err != nil {
				return err
			}
			newID = now[replaced]
			if newID == "" || newID == oldID || len(now) != 3 {
				return fmt.Errorf("peers %v, want three with a new %s", now, replaced)
			}
			return nil
		})
		eventually(t, deadNodeTimeout+time.Minute, "the old peer forgotten", func() error {
			members, err := s.members()
			if err != nil {
				return err
			}
			if members[oldID] {
				return fmt.Errorf("the old %s (%s) is still a member", replaced, oldID)
			}
			if len(members) != 3 || !members[newID] {
				return fmt.Errorf("members %v, want three with %s", members, newID)
			}
			return nil
		})
		if since := time.Since(gone); since < deadNodeTimeout-downAfter {
			t.Errorf("the old peer was forgotten %s after it went, before dead-node-timeout (%s)", since, deadNodeTimeout)
		}
		t.Logf("%s replaced: %s → %s, the old one forgotten %s after it went (dead-node-timeout %s)", replaced, oldID, newID, time.Since(gone).Round(time.Second), deadNodeTimeout)
		// Pinned everywhere: the fresh peer must hold the small file, and
		// the 64 MiB file stays on at least two live peers.
		s.pinnedOn(smallCid, 3, 2*time.Minute, oldID)
		s.pinnedOn(bigCid, 2, 2*time.Minute, oldID)
		if err := s.get("http://"+s.nodeAddr(replaced)+":8080/ipfs/"+bigCid, big); err != nil {
			t.Fatalf("the fresh %s's gateway: %v", replaced, err)
		}
		report("replace", m)
	})
}
