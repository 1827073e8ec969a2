package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/flotilla-ipfs/flotilla/bench/internal/procs"
)

// replicas is the replication of every pin of the cluster workloads:
// min = max = 3 ("exactly three copies"), on both sides, given with
// each request and as each side's default.
const replicas = 3

// node is one member of a cluster: a flotilla daemon, or an
// ipfs-cluster-service with its kubo daemon.
type node struct {
	name    string
	index   int
	dir     string
	id      string   // cluster peer ID: the keys of peer_map, the peer of alerts
	api     string   // REST API, host:port
	rpc     string   // Kubo RPC API, multiaddr
	gateway string   // http://host:port
	join    string   // what a new node joins through: flotilla's cluster host:port, IPFS Cluster's multiaddr
	swarm   []string // incumbent: its kubo's swarm multiaddrs, with /p2p/
	procs   []*procs.Proc
	dead    bool
}

// cluster is one side: its nodes and how to start one.
type cluster struct {
	side  string // sideFlotilla or sideIncumbent
	label string // what the logs call this cluster
	dir   string
	g     *procs.Group
	impl  nodeStarter

	// pins counts the pins this cluster acknowledged so far and still
	// holds: what every node should list.
	pins int

	mu    sync.Mutex
	nodes []*node // guarded by mu
	// The last full status listing: how long it took, of how many pins;
	// guarded by mu.
	statusTook time.Duration
	statusPins int
}

const (
	sideFlotilla  = "flotilla"
	sideIncumbent = "incumbent"
)

// nodeStarter starts the processes of one node of a side.
type nodeStarter interface {
	// launch starts n (again, if it ran before: same identity and
	// data), joining the cluster through boot unless boot is nil, and
	// returns once its APIs answer.
	launch(ctx context.Context, c *cluster, n *node, boot *node) error
}

// newCluster makes an empty cluster of one side in dir.
func newCluster(o *options, g *procs.Group, side, label, dir string) (*cluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	c := &cluster{side: side, label: label, dir: dir, g: g}
	switch side {
	case sideFlotilla:
		f := filepath.Join(dir, "secret")
		if err := os.WriteFile(f, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
			return nil, err
		}
		c.impl = &flotillaStarter{bin: o.flotilla, secretFile: f}
	case sideIncumbent:
		c.impl = &incumbentStarter{kubo: o.kubo, service: o.service, secret: hex.EncodeToString(secret)}
	default:
		return nil, fmt.Errorf("unknown side %q", side)
	}
	return c, nil
}

// String names the cluster in the progress lines: its side, and its
// label if it has one.
func (c *cluster) String() string {
	if c.label == "" {
		return c.side
	}
	return c.side + " " + c.label
}

// addNode starts a new node, joining through the first live node if
// there is one.
func (c *cluster) addNode(ctx context.Context) (*node, error) {
	c.mu.Lock()
	n := &node{index: len(c.nodes)}
	n.name = fmt.Sprintf("%s-%s%d", c.side, c.label, n.index)
	n.dir = filepath.Join(c.dir, fmt.Sprintf("node%d", n.index))
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, err
	}
	var boot *node
	if live := c.live(); len(live) > 0 && live[0] != n {
		boot = live[0]
	}
	if err := c.impl.launch(ctx, c, n, boot); err != nil {
		n.dead = true
		return nil, fmt.Errorf("%s: %w", n.name, err)
	}
	return n, nil
}

// kill sends SIGKILL to every process of n, as a crash would.
func (c *cluster) kill(n *node) {
	for _, p := range n.procs {
		p.Kill()
	}
	c.mu.Lock()
	n.dead = true
	c.mu.Unlock()
}

// stop stops every node of the cluster.
func (c *cluster) stop() {
	var wg sync.WaitGroup
	for _, n := range c.all() {
		for _, p := range n.procs {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop() }()
		}
	}
	wg.Wait()
	c.mu.Lock()
	for _, n := range c.nodes {
		n.dead = true
	}
	c.mu.Unlock()
}

// all returns every node, dead or alive.
func (c *cluster) all() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*node(nil), c.nodes...)
}

// live returns the nodes that run, in start order.
func (c *cluster) live() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for _, n := range c.nodes {
		if !n.dead {
			out = append(out, n)
		}
	}
	return out
}

// liveIDs is the set of the cluster peer IDs of the live nodes.
func (c *cluster) liveIDs() map[string]bool {
	m := map[string]bool{}
	for _, n := range c.live() {
		m[n.id] = true
	}
	return m
}

// processes returns every process of the cluster that still runs.
func (c *cluster) processes() []*procs.Proc {
	var out []*procs.Proc
	for _, n := range c.all() {
		for _, p := range n.procs {
			if !p.Exited() {
				out = append(out, p)
			}
		}
	}
	return out
}

// flotillaStarter starts `flotilla daemon` nodes.
type flotillaStarter struct {
	bin        string
	secretFile string
}

// flotillaFlags are the daemon flags of every flotilla node beyond the
// ports: no DHT, no providing and no NAT mapping (nothing leaves
// loopback), a zone per node (flotilla spreads replicas over zones; each
// node is its own failure domain, as each IPFS Cluster peer is), the
// replication of the workloads, and repair as soon as a node is seen
// down (--repair-after at its minimum, the 4 s down detection: IPFS
// Cluster re-pins on the first alert once repinning is enabled).
func flotillaFlags(n *node, secretFile string) []string {
	return []string{
		"--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none", "--nat-portmap=false",
		"--cluster-listen", "127.0.0.1:0", "--cluster-secret-file", secretFile,
		"--zone", fmt.Sprintf("z%d", n.index), "--peername", n.name,
		"--replication-min", strconv.Itoa(replicas), "--replication-max", strconv.Itoa(replicas),
		"--repair-after", "4s",
	}
}

func (s *flotillaStarter) launch(ctx context.Context, c *cluster, n *node, boot *node) error {
	args := flotillaFlags(n, s.secretFile)
	if boot != nil {
		args = append(args, "--join", boot.join)
	}
	f, err := c.g.StartFlotilla(ctx, s.bin, n.name, n.dir, args...)
	if err != nil {
		return err
	}
	n.procs = []*procs.Proc{f.Proc}
	n.id, n.api, n.rpc, n.gateway = f.Listen.PeerID, f.Listen.API, f.RPCMultiaddr(), "http://"+f.Listen.Gateway
	n.join = f.Listen.Cluster
	return nil
}

// incumbentStarter starts an IPFS Cluster peer: a kubo daemon, then
// ipfs-cluster-service with the CRDT consensus in front of it.
type incumbentStarter struct {
	kubo    string
	service string
	secret  string
}

var (
	restListen    = regexp.MustCompile(`RESTAPI \(HTTP\): (/ip4/([0-9.]+)/tcp/([0-9]+))`)
	clusterListen = regexp.MustCompile(`^\s+(/ip4/127\.0\.0\.1/tcp/[0-9]+/p2p/\S+)`)
)

func (s *incumbentStarter) launch(ctx context.Context, c *cluster, n *node, boot *node) error {
	k, err := c.g.StartKubo(ctx, s.kubo, n.name+"-kubo", filepath.Join(n.dir, "ipfs"), nil)
	if err != nil {
		return err
	}
	n.procs = []*procs.Proc{k.Proc}
	n.rpc, n.gateway = k.API, k.Gateway
	// The kubo daemons of a cluster find blocks only on the peers they
	// are connected to (no routing): connect to every other live one,
	// as the cluster's own connector does 30 s after its start.
	for _, o := range c.live() {
		if o == n || o.dead || len(o.procs) == 0 {
			continue
		}
		for _, a := range o.swarm {
			if err := procs.KuboRPC(ctx, k.APIAddr, "swarm/connect?arg="+url.QueryEscape(a), nil); err == nil {
				break
			}
		}
	}
	n.swarm = k.Swarm
	for i := range n.swarm {
		n.swarm[i] += "/p2p/" + k.PeerID
	}

	cfgDir := filepath.Join(n.dir, "cluster")
	if _, err := os.Stat(filepath.Join(cfgDir, "service.json")); err != nil {
		if _, err := procs.Output(ctx, os.Environ(), s.service, "--config", cfgDir, "init", "--consensus", "crdt"); err != nil {
			return err
		}
	}
	if err := s.configure(cfgDir, n, k.API); err != nil {
		return err
	}
	args := []string{"--config", cfgDir, "daemon"}
	if boot != nil {
		args = append(args, "--bootstrap", boot.join)
	}
	cmd := exec.CommandContext(ctx, s.service, args...)
	p, err := c.g.Start(n.name, cmd, filepath.Join(n.dir, "cluster.log"))
	if err != nil {
		return err
	}
	n.procs = append(n.procs, p)
	if _, err := p.WaitLine(ctx, procs.StartTimeout, "IPFS Cluster is READY"); err != nil {
		return err
	}
	line, err := p.WaitLine(ctx, time.Second, "RESTAPI (HTTP): ")
	if err != nil {
		return err
	}
	m := restListen.FindStringSubmatch(line)
	if m == nil {
		return fmt.Errorf("no REST API address in %q", line)
	}
	n.api = m[2] + ":" + m[3]
	line, err = p.WaitLine(ctx, time.Second, "/ip4/127.0.0.1/tcp/")
	if err != nil {
		return err
	}
	if m := clusterListen.FindStringSubmatch(line); m != nil {
		n.join = m[1]
	} else {
		return fmt.Errorf("no cluster address in %q", line)
	}
	raw, err := os.ReadFile(filepath.Join(cfgDir, "identity.json"))
	if err != nil {
		return err
	}
	var id struct{ ID string }
	if err := json.Unmarshal(raw, &id); err != nil || id.ID == "" {
		return errors.Join(errors.New("identity.json: no id"), err)
	}
	n.id = id.ID
	return nil
}

// configure sets what service.json of an IPFS Cluster peer must differ
// in from `ipfs-cluster-service init --consensus crdt`: a shared secret,
// a name, loopback listeners on port 0 (TCP only), no mDNS, its kubo's
// API, the workloads' replication, and repinning on (disabled by
// default; without it a dead peer's pins are never re-allocated).
func (s *incumbentStarter) configure(dir string, n *node, kuboAPI string) error {
	p := filepath.Join(dir, "service.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	set := func(v any, path ...string) error {
		m := cfg
		for _, k := range path[:len(path)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				return fmt.Errorf("service.json: no %v", path)
			}
			m = next
		}
		m[path[len(path)-1]] = v
		return nil
	}
	loopback := "/ip4/127.0.0.1/tcp/0"
	for _, kv := range []struct {
		v    any
		path []string
	}{
		{s.secret, []string{"cluster", "secret"}},
		{n.name, []string{"cluster", "peername"}},
		{[]string{loopback}, []string{"cluster", "listen_multiaddress"}},
		{"0s", []string{"cluster", "mdns_interval"}},
		{replicas, []string{"cluster", "replication_factor_min"}},
		{replicas, []string{"cluster", "replication_factor_max"}},
		{false, []string{"cluster", "disable_repinning"}},
		{loopback, []string{"api", "restapi", "http_listen_multiaddress"}},
		{loopback, []string{"api", "pinsvcapi", "http_listen_multiaddress"}},
		{loopback, []string{"api", "ipfsproxy", "listen_multiaddress"}},
		{kuboAPI, []string{"api", "ipfsproxy", "node_multiaddress"}},
		{kuboAPI, []string{"ipfs_connector", "ipfshttp", "node_multiaddress"}},
	} {
		if err := set(kv.v, kv.path...); err != nil {
			return err
		}
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, out, 0o600)
}
