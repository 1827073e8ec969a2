package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/flotilla-ipfs/flotilla/internal/atomicfile"
	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
)

// swarmAddrsOf lists a node's swarm addresses with its peer ID (none
// offline).
func swarmAddrsOf(nw *p2p.Network, id string) func() []string {
	return func() []string {
		if nw == nil {
			return nil
		}
		var out []string
		for _, a := range nw.Host.Addrs() {
			out = append(out, a.String()+"/p2p/"+id)
		}
		return out
	}
}

// startCluster starts this peer's cluster member on top of the node;
// packs is the link to a shared bucket (storageDeps), nil without one.
func startCluster(ctx context.Context, cfg Config, st *Stores, node *ipfs.Node, nw *p2p.Network, packs *cluster.SharedPacks, secret []byte, log *slog.Logger) (*cluster.Peer, error) {
	cc := cfg.Cluster
	cc.Secret = secret
	var err error
	if cc.Listen, err = clusterListen(cfg); err != nil {
		return nil, err
	}
	if cfg.ClusterAnnounce != "" {
		if cc.Announce, err = hostPort(cfg.ClusterAnnounce); err != nil {
			return nil, fmt.Errorf("cluster-announce: %w", err)
		}
		if !dialable(cc.Announce) {
			return nil, fmt.Errorf("cluster-announce %q: a wildcard address or port 0, which no peer can dial", cfg.ClusterAnnounce)
		}
	}
	// Bound here rather than by the cluster, so that the announced address
	// has the port actually bound (a --cluster-listen with port 0).
	ln, err := net.Listen("tcp", cc.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster listen on %s: %w", cc.Listen, err)
	}
	if cc.Announce == "" {
		cc.Announce = announceAddr(ctx, ln.Addr().String(), cc.Join)
	}
	if cc.Zone == "" {
		cc.Zone = ecsZone(ctx)
	}
	id := st.Repo.ID.String()
	blocksDir := st.BlocksDir
	peer, err := cluster.Start(ctx, cc, cluster.Deps{
		Dir: st.Repo.Dir("cluster"), ID: id, Node: node, Logger: log, Listener: ln, Packs: packs,
		SwarmAddrs: swarmAddrsOf(nw, id),
		FreeSpace: func() uint64 {
			var fs syscall.Statfs_t
			if syscall.Statfs(blocksDir, &fs) != nil {
				return 0
			}
			return fs.Bavail * uint64(fs.Bsize)
		},
	})
	if err != nil {
		ln.Close() // the cluster may have taken it over and closed it already
		return nil, err
	}
	return peer, nil
}

// clusterListen applies the default: the public cluster port online,
// loopback with a free port offline (an offline peer talks to no one).
func clusterListen(cfg Config) (string, error) {
	switch {
	case cfg.ClusterListen != "":
		return hostPort(cfg.ClusterListen)
	case cfg.Offline:
		return "127.0.0.1:0", nil
	}
	return "0.0.0.0:" + cluster.DefaultPort, nil
}

// announceAddr picks the address other peers dial when the cluster port is
// bound to every interface and none was given (bound is the listener's
// address, with the port actually bound): the local address this host uses
// to reach the join peers (on a host with several networks, the one they
// share), else its first global unicast address, else loopback (the peers
// of this host only, but never the wildcard: a peer dialing [::] reaches
// itself). A container on ECS or Kubernetes has one, and learns it this
// way without a per-task setting. Empty (the bound address) when the port
// is bound to one address.
func announceAddr(ctx context.Context, bound string, join []string) string {
	host, port, err := net.SplitHostPort(bound)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsUnspecified() {
		return ""
	}
	for _, j := range join {
		h, _, err := net.SplitHostPort(j)
		if err != nil {
			h = j // a bare name or address; multiaddrs are skipped below
		}
		if strings.HasPrefix(h, "/") {
			continue
		}
		// A UDP "connection" sends nothing: it only asks the kernel for the
		// route, and with it the source address.
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := (&net.Dialer{}).DialContext(dctx, "udp", net.JoinHostPort(h, port))
		cancel()
		if err != nil {
			continue
		}
		local := c.LocalAddr().(*net.UDPAddr).IP
		c.Close()
		if !local.IsLoopback() && !local.IsUnspecified() {
			return net.JoinHostPort(local.String(), port)
		}
	}
	addrs, _ := net.InterfaceAddrs()
	return interfaceAnnounce(addrs, port)
}

// interfaceAnnounce is the first global unicast address of addrs with
// port, else loopback.
func interfaceAnnounce(addrs []net.Addr, port string) string {
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
			return net.JoinHostPort(n.IP.String(), port)
		}
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// dialable reports whether host:port names one host and a port: not a
// wildcard address, not port 0.
func dialable(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "0" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsUnspecified()
}

// hostPort accepts host:port or a /ip4|/ip6|/dns…/tcp/… multiaddr.
func hostPort(addr string) (string, error) {
	if !strings.HasPrefix(addr, "/") {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", err
		}
		return addr, nil
	}
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return "", err
	}
	host := ""
	for _, p := range []int{ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6} {
		if v, err := m.ValueForProtocol(p); err == nil {
			host = v
		}
	}
	port, err := m.ValueForProtocol(ma.P_TCP)
	if host == "" || err != nil {
		return "", fmt.Errorf("%q: want /ip4|/ip6|/dns/<host>/tcp/<port>", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// clusterSecret reads the secret from the flag or the file, or loads (or
// creates, on first start) the one kept in the cluster directory. A
// generated secret is logged once: the other peers need it to join.
func clusterSecret(cfg Config, dir string, log *slog.Logger) ([]byte, error) {
	parse := func(what, s string) ([]byte, error) {
		b, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s: the cluster secret must be hex: %w", what, err)
		}
		if len(b) < 16 {
			return nil, fmt.Errorf("%s: the cluster secret must be at least 16 bytes (32 hex digits)", what)
		}
		return b, nil
	}
	switch {
	case cfg.ClusterSecret != "":
		return parse("cluster-secret", cfg.ClusterSecret)
	case cfg.ClusterSecretFile != "":
		raw, err := os.ReadFile(cfg.ClusterSecretFile)
		if err != nil {
			return nil, fmt.Errorf("cluster-secret-file: %w", err)
		}
		return parse("cluster-secret-file", string(raw))
	}
	path := filepath.Join(dir, "secret")
	if raw, err := os.ReadFile(path); err == nil {
		return parse(path, string(raw))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return nil, err
	}
	log.Info("generated a cluster secret: other peers join with --cluster-secret-file pointing to a copy of it", "file", path)
	return secret, nil
}

// ecsZone asks the ECS task metadata endpoint (present on Fargate) for the
// task's availability zone; empty elsewhere.
func ecsZone(ctx context.Context) string {
	base := os.Getenv("ECS_CONTAINER_METADATA_URI_V4")
	if base == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/task", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var task struct{ AvailabilityZone string }
	json.NewDecoder(resp.Body).Decode(&task)
	return task.AvailabilityZone
}
