package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/ipfs/boxo/files"
	cid "github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

// faults is the harness's switchboard: a set of cut links between cluster
// addresses, consulted by every peer's dialer.
type faults struct {
	mu  sync.Mutex
	cut map[[2]string]bool
}

type peerFaults struct {
	f    *faults
	self func() string
}

func (pf peerFaults) Blocked(addr string) bool {
	pf.f.mu.Lock()
	defer pf.f.mu.Unlock()
	return pf.f.cut[[2]string{pf.self(), addr}]
}

// testPeer is one in-process peer: its node, its stores and its cluster
// peer, restartable on the same directory.
type testPeer struct {
	t      testing.TB
	dir    string
	zone   string
	cfg    Config
	repo   *repo.Repo
	blocks interface{ Close() error }
	meta   interface{ Close() error }
	net    *p2p.Network
	node   *ipfs.Node
	peer   *Peer
	addr   string       // cluster address, stable across restarts
	ln     net.Listener // pre-bound cluster port, used once
	// offline peers run no swarm (--offline): the cluster transport is
	// their only link.
	offline bool
	// packs is set when the blocks are in a shared S3 bucket, and
	// stopPacks stops its Run.
	packs     *SharedPacks
	stopPacks func()
}

type testCluster struct {
	t      testing.TB
	faults *faults
	peers  []*testPeer
	secret []byte
	tune   func(*Config) // applied to each new peer's config, if set
	// offline: new peers run without a swarm.
	offline bool
	// openBlocks, if set, opens a peer's block store instead of an
	// unsynced flatfs, with the packs it shares if any (s3packs_test.go).
	openBlocks func(tp *testPeer) (ds.Batching, *SharedPacks)
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Heartbeat = 100 * time.Millisecond
	cfg.DownAfter = 600 * time.Millisecond
	cfg.RepairAfter = 2 * time.Second
	cfg.DeadNodeTimeout = time.Hour
	cfg.PinTimeout = 20 * time.Second
	return cfg
}

// newCluster starts n peers, peer i in zones[i%len(zones)]. The first forms
// the cluster; the others join through it.
func newCluster(t testing.TB, n int, zones ...string) *testCluster {
	t.Helper()
	return newTunedCluster(t, n, nil, zones...)
}

// newTunedCluster is newCluster with a hook on every peer's config.
func newTunedCluster(t testing.TB, n int, tune func(*Config), zones ...string) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, faults: &faults{cut: map[[2]string]bool{}}, secret: []byte("test cluster secret, 32 bytes!!!"), tune: tune}
	for i := range n {
		tc.add(zones[i%len(zones)])
	}
	tc.waitMembers(n)
	return tc
}

// add starts one more peer and joins it through the first.
func (tc *testCluster) add(zone string) *testPeer {
	tc.t.Helper()
	tp := &testPeer{t: tc.t, dir: tc.t.TempDir(), zone: zone, cfg: testConfig(), offline: tc.offline}
	tp.cfg.Secret = tc.secret
	tp.cfg.Zone = zone
	tp.cfg.PeerName = fmt.Sprintf("peer%d", len(tc.peers))
	if len(tc.peers) > 0 {
		tp.cfg.Join = []string{tc.peers[0].addr}
	}
	if tc.tune != nil {
		tc.tune(&tp.cfg)
	}
	tc.peers = append(tc.peers, tp)
	tc.start(tp)
	return tp
}

func (tc *testCluster) start(tp *testPeer) {
	t := tc.t
	t.Helper()
	ctx := context.Background()
	var err error
	if tp.repo, err = repo.Open(tp.dir); err != nil {
		t.Fatal(err)
	}
	var b ds.Batching
	if tc.openBlocks != nil {
		b, tp.packs = tc.openBlocks(tp)
	} else if b, err = storage.OpenBlocks(ctx, filepath.Join(tp.dir, "blocks"), storage.Config{Shard: "next-to-last/2", NoSync: true}, storage.Deps{}); err != nil {
		t.Fatal(err)
	}
	m, err := storage.OpenMeta(filepath.Join(tp.dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	tp.blocks, tp.meta = b, m
	pcfg := p2p.DefaultConfig()
	pcfg.Listen, pcfg.DHT, pcfg.Bootstrap = []string{"/ip4/127.0.0.1/tcp/0"}, "off", nil
	if tp.offline {
		tp.net = nil
	} else if tp.net, err = p2p.Start(ctx, pcfg, tp.repo.Identity, nil); err != nil {
		t.Fatal(err)
	}
	ncfg := ipfs.DefaultConfig()
	ncfg.Provide = ipfs.ProvideNone
	if tp.node, err = ipfs.New(ctx, ncfg, ipfs.Deps{Blocks: b, Meta: m, Network: tp.net, Logger: slog.Default()}); err != nil {
		t.Fatal(err)
	}
	// The cluster port is bound here, before the peer starts, so that its
	// address is known (and never changes) while the peer's goroutines
	// consult the fault switchboard. A restarted peer keeps its address.
	cfg := tp.cfg
	if tp.ln == nil {
		addr := tp.addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		if tp.ln, err = net.Listen("tcp", addr); err != nil {
			t.Fatal(err)
		}
	}
	tp.addr = tp.ln.Addr().String()
	self := tp.addr
	id := tp.repo.ID.String()
	// Peers log only with FLOTILLA_TEST_LOG set: raft is chatty about the
	// faults the tests inject on purpose.
	level := slog.Level(100)
	if os.Getenv("FLOTILLA_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("peer", tp.cfg.PeerName)
	tp.peer, err = Start(ctx, cfg, Deps{
		Dir: filepath.Join(tp.dir, "cluster"), ID: id, Node: tp.node, Logger: log,
		SwarmAddrs: func() []string {
			var out []string
			if tp.net == nil {
				return nil
			}
			for _, a := range tp.net.Host.Addrs() {
				out = append(out, a.String()+"/p2p/"+id)
			}
			return out
		},
		FreeSpace: func() uint64 { return 1 << 40 },
		Faults:    peerFaults{f: tc.faults, self: func() string { return self }},
		Listener:  tp.ln,
		Packs:     tp.packs,
	})
	tp.ln = nil
	if err != nil {
		t.Fatal(err)
	}
	if tp.packs != nil {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); tp.packs.Run(pctx, tp.peer, b.(PackIndex)) }()
		tp.stopPacks = func() { cancel(); <-done }
	}
	t.Cleanup(tp.stop)
}

// stop shuts the peer down gracefully (idempotent).
func (tp *testPeer) stop() {
	if tp.peer == nil {
		return
	}
	if tp.stopPacks != nil {
		tp.stopPacks()
		tp.stopPacks = nil
	}
	tp.peer.Stop()
	tp.node.Close()
	tp.node.Pins.Close()
	if tp.net != nil {
		tp.net.Close()
	}
	tp.meta.Close()
	tp.blocks.Close()
	tp.repo.Close()
	tp.peer = nil
}

// partition cuts peer i off from every other peer, both ways.
func (tc *testCluster) partition(i int) {
	tc.faults.mu.Lock()
	for j, other := range tc.peers {
		if j != i {
			tc.faults.cut[[2]string{tc.peers[i].addr, other.addr}] = true
			tc.faults.cut[[2]string{other.addr, tc.peers[i].addr}] = true
		}
	}
	tc.faults.mu.Unlock()
	for j, other := range tc.peers {
		if j != i && other.peer != nil && tc.peers[i].peer != nil {
			other.peer.Cut(tc.peers[i].addr)
			tc.peers[i].peer.Cut(other.addr)
		}
	}
}

// heal restores every link.
func (tc *testCluster) heal() {
	tc.faults.mu.Lock()
	tc.faults.cut = map[[2]string]bool{}
	tc.faults.mu.Unlock()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

func (tc *testCluster) waitMembers(n int) {
	tc.t.Helper()
	eventually(tc.t, 20*time.Second, fmt.Sprintf("%d members", n), func() error {
		for _, tp := range tc.peers {
			if tp.peer == nil {
				continue
			}
			ms, err := tp.peer.Members(context.Background())
			if err != nil {
				return err
			}
			if len(ms) != n {
				return fmt.Errorf("%s sees %d members", tp.cfg.PeerName, len(ms))
			}
			if tp.peer.Leader() == "" {
				return fmt.Errorf("%s sees no leader", tp.cfg.PeerName)
			}
		}
		// Joiners come in as non-voters and the leader promotes them a
		// heartbeat later, and followers learn of each change as it
		// replicates. Until every peer has the whole configuration,
		// losing the leader may leave no quorum (raft refuses votes from
		// a candidate that is not in the voter's configuration), which a
		// test cutting the leader off would trip on.
		lead := tc.leader()
		if lead == nil {
			return errors.New("no leader")
		}
		want := min(n, lead.cfg.MaxVoters)
		for _, tp := range tc.peers {
			if tp.peer == nil {
				continue
			}
			servers, err := tp.peer.raft.Servers()
			if err != nil {
				return err
			}
			voters := 0
			for _, s := range servers {
				if s.Suffrage == raft.Voter {
					voters++
				}
			}
			if len(servers) != n || voters != want {
				return fmt.Errorf("%s has %d servers, %d voters in its configuration; want %d, %d", tp.cfg.PeerName, len(servers), voters, n, want)
			}
		}
		return nil
	})
}

func (tc *testCluster) leader() *testPeer {
	for _, tp := range tc.peers {
		if tp.peer != nil && tp.peer.IsLeader() {
			return tp
		}
	}
	return nil
}

// addContent adds data to a peer's node without pinning and returns the root.
func (tp *testPeer) addContent(data string) cid.Cid {
	tp.t.Helper()
	s, err := importer.Params{}.Resolve()
	if err != nil {
		tp.t.Fatal(err)
	}
	args := files.NewSliceDirectory([]files.DirEntry{files.FileEntry("f", files.NewBytesFile([]byte(data)))})
	roots, err := tp.node.Add(context.Background(), args, ipfs.AddOptions{Import: s}, nil)
	if err != nil {
		tp.t.Fatal(err)
	}
	return roots[0].Node.Cid()
}

// waitPinned waits until c is pinned on n peers.
func (tc *testCluster) waitPinned(via *testPeer, c cid.Cid, n int, timeout time.Duration) pin.Info {
	tc.t.Helper()
	var info pin.Info
	eventually(tc.t, timeout, fmt.Sprintf("%s pinned on %d peers", c, n), func() error {
		var err error
		info, err = via.peer.Status(context.Background(), c)
		if err != nil {
			return err
		}
		pinned := 0
		for _, s := range info.Peers {
			if s.Status == pin.StatusPinned {
				pinned++
			}
		}
		if pinned < n {
			return fmt.Errorf("pinned on %d: %+v", pinned, info.Peers)
		}
		return nil
	})
	return info
}
