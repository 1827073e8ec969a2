package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func voters(t *testing.T, p *Peer) (v, nv int) {
	t.Helper()
	servers, err := p.raft.Servers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			v++
		} else {
			nv++
		}
	}
	return v, nv
}

// Peers beyond MaxVoters join as non-voters; when a voter dies for good, a
// non-voter is promoted, preferring a zone without a voter, and the dead
// peer leaves the configuration after DeadNodeTimeout.
func TestVotersNonVotersAndDeadPeerRemoval(t *testing.T) {
	tc := newTunedCluster(t, 5, func(c *Config) {
		c.MaxVoters = 3
		c.RepairAfter = time.Second
		c.DeadNodeTimeout = 2 * time.Second
	}, "z1", "z2", "z3")
	leader := tc.leader()
	if v, nv := voters(t, leader.peer); v != 3 || nv != 2 {
		t.Fatalf("voters %d, non-voters %d; want 3 and 2", v, nv)
	}
	var victim *testPeer
	for _, tp := range tc.peers {
		if tp != leader {
			servers, _ := leader.peer.raft.Servers()
			for _, s := range servers {
				if string(s.ID) == tp.peer.ID() && s.Suffrage == raft.Voter {
					victim = tp
				}
			}
		}
	}
	id := victim.peer.ID()
	tc.partition(indexOf(tc, victim))
	victim.stop()
	eventually(t, 20*time.Second, "dead voter removed and replaced", func() error {
		l := tc.leader()
		if l == nil {
			return errors.New("no leader")
		}
		servers, err := l.peer.raft.Servers()
		if err != nil {
			return err
		}
		for _, s := range servers {
			if string(s.ID) == id {
				return fmt.Errorf("dead peer still in the configuration")
			}
		}
		if v, nv := voters(t, l.peer); v != 3 || nv != 1 {
			return fmt.Errorf("voters %d, non-voters %d; want 3 and 1", v, nv)
		}
		ms, _ := l.peer.Members(context.Background())
		if len(ms) != 4 {
			return fmt.Errorf("%d members, want 4", len(ms))
		}
		return nil
	})
}

func indexOf(tc *testCluster, tp *testPeer) int {
	for i, p := range tc.peers {
		if p == tp {
			return i
		}
	}
	return -1
}

// Three fresh peers that only know each other's addresses form a cluster
// together, with no designated first peer.
func TestBootstrapExpect(t *testing.T) {
	tc := &testCluster{t: t, faults: &faults{cut: map[[2]string]bool{}}, secret: []byte("bootstrap-expect secret, 32 byte")}
	var addrs []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tp := &testPeer{t: t, dir: t.TempDir(), zone: fmt.Sprintf("z%d", len(tc.peers)), cfg: testConfig(), ln: ln}
		tp.cfg.Secret, tp.cfg.Zone, tp.cfg.BootstrapExpect = tc.secret, tp.zone, 3
		tp.cfg.PeerName = tp.zone
		tc.peers = append(tc.peers, tp)
		addrs = append(addrs, ln.Addr().String())
	}
	for i, tp := range tc.peers {
		tp.cfg.Join = addrs
		tc.start(tp)
		if i == 0 {
			// Alone, it waits for the others, and counts as ready so that
			// an orchestrator starting peers in turn gets to start them.
			eventually(t, 10*time.Second, "the first peer forming", func() error {
				if ready, state := tp.peer.Readiness(); !ready || !strings.HasPrefix(state, "forming") {
					return fmt.Errorf("readiness %v %q, want forming", ready, state)
				}
				return nil
			})
		}
	}
	tc.waitMembers(3)
	for _, tp := range tc.peers {
		if v, _ := voters(t, tp.peer); v != 3 {
			t.Fatalf("%s sees %d voters, want 3", tp.cfg.PeerName, v)
		}
		eventually(t, 10*time.Second, tp.cfg.PeerName+" ready with a leader", func() error {
			if ready, state := tp.peer.Readiness(); !ready || state != "ok" {
				return fmt.Errorf("readiness %v %q, want ok", ready, state)
			}
			return nil
		})
	}
}

// A peer replaced by a fresh one at the same address (a new container
// under the same name, a reused IP) takes the old one's place in raft at
// once: raft cannot tell whom it reaches at an address, so the old server
// must not stay beside the new one. The old one stays a member, down, until
// DeadNodeTimeout.
func TestReplacedPeerAtTheSameAddress(t *testing.T) {
	tc := newCluster(t, 3, "z1", "z2", "z3")
	leader := tc.leader()
	var old *testPeer
	for _, tp := range tc.peers {
		if tp != leader {
			old = tp
		}
	}
	oldID, addr := old.peer.ID(), old.addr
	old.stop()
	fresh := &testPeer{t: t, dir: t.TempDir(), zone: old.zone, cfg: testConfig(), addr: addr}
	fresh.cfg.Secret, fresh.cfg.Zone, fresh.cfg.PeerName = tc.secret, old.zone, "fresh"
	fresh.cfg.Join = []string{leader.addr}
	tc.peers = append(tc.peers, fresh)
	tc.start(fresh)
	if fresh.peer.ID() == oldID {
		t.Fatal("the fresh peer has the old one's identity")
	}
	eventually(t, 20*time.Second, "the fresh peer in raft in place of the old one", func() error {
		l := tc.leader()
		if l == nil {
			return errors.New("no leader")
		}
		servers, err := l.peer.raft.Servers()
		if err != nil {
			return err
		}
		ids := map[string]string{}
		for _, s := range servers {
			ids[string(s.ID)] = string(s.Address)
		}
		if _, ok := ids[oldID]; ok {
			return fmt.Errorf("the old peer is still a raft server: %v", ids)
		}
		if ids[fresh.peer.ID()] != addr || len(ids) != 3 {
			return fmt.Errorf("raft servers %v, want the fresh peer at %s among 3", ids, addr)
		}
		if ready, state := fresh.peer.Readiness(); !ready {
			return errors.New(state)
		}
		ms, err := l.peer.Members(context.Background())
		if err != nil {
			return err
		}
		if len(ms) != 4 {
			return fmt.Errorf("%d members, want 4 (the old one is forgotten only after DeadNodeTimeout)", len(ms))
		}
		return nil
	})
}
