// Package p2p builds the libp2p host of a peer: identity, transports (TCP and
// QUIC), connection and resource limits, an optional private swarm and the
// Amino DHT.
package p2p

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/routing"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-ipfs/flotilla/internal/version"
)

// Config is the swarm's part of a peer's settings.
type Config struct {
	// Listen are the multiaddrs the swarm binds (TCP and QUIC).
	Listen []string
	// Announce, when set, replaces the addresses the peer advertises:
	// behind NAT or on Fargate the bound address is not the reachable one.
	Announce []string
	// SwarmKey is the path of a private-network key (Kubo's swarm.key
	// format). Empty means the public network.
	SwarmKey string
	// Bootstrap peers to connect to at start (multiaddrs with /p2p/).
	Bootstrap []string
	// ConnLow and ConnHigh are the connection manager's water marks.
	ConnLow, ConnHigh int
	// DHT is "server" (answer queries, the default for a storage server),
	// "client", or "off".
	DHT string
	// NATPortMap asks the local router for a port mapping (UPnP/NAT-PMP).
	// Off by default: servers have public or load-balanced addresses, and
	// the discovery it does multicasts on the local network.
	NATPortMap bool
}

// DefaultConfig listens on 4001 on all interfaces, TCP and QUIC, and joins the
// public Amino DHT as a server, as a well-connected storage peer should.
func DefaultConfig() Config {
	return Config{
		Listen: []string{
			"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001",
			"/ip4/0.0.0.0/udp/4001/quic-v1", "/ip6/::/udp/4001/quic-v1",
		},
		Bootstrap: defaultBootstrap(),
		ConnLow:   600,
		ConnHigh:  900,
		DHT:       "server",
	}
}

// defaultBootstrap returns the public Amino bootstrappers (as libp2p ships them).
func defaultBootstrap() []string {
	var out []string
	for _, a := range dht.DefaultBootstrapPeers {
		out = append(out, a.String())
	}
	return out
}

// Validate checks every address.
func (c Config) Validate() error {
	for _, group := range [][]string{c.Listen, c.Announce, c.Bootstrap} {
		for _, a := range group {
			if a == "" {
				continue // an empty entry clears a list given in a flag
			}
			if _, err := ma.NewMultiaddr(a); err != nil {
				return fmt.Errorf("p2p: bad multiaddr %q: %w", a, err)
			}
		}
	}
	switch c.DHT {
	case "server", "client", "off":
	default:
		return fmt.Errorf("p2p: dht mode %q: want server, client or off", c.DHT)
	}
	if c.ConnLow < 0 || c.ConnHigh < c.ConnLow {
		return fmt.Errorf("p2p: connection water marks low=%d high=%d are inconsistent", c.ConnLow, c.ConnHigh)
	}
	return nil
}

// Network is a running host with its DHT (nil when the DHT is off).
type Network struct {
	Host host.Host
	DHT  *dht.IpfsDHT
	// Bandwidth counts the host's traffic by protocol (non-nil).
	Bandwidth *BandwidthCounter
}

// Start builds the host and, unless disabled, the DHT, then dials the
// bootstrap peers in the background.
func Start(ctx context.Context, cfg Config, key crypto.PrivKey, reg prometheus.Registerer) (*Network, error) {
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	// Scale the resource manager to the machine, as a server should,
	// rather than libp2p's conservative library defaults.
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return nil, err
	}
	bw := &BandwidthCounter{}
	listen, transports := cfg.Listen, libp2p.DefaultTransports
	var psk pnet.PSK
	if cfg.SwarmKey != "" {
		if psk, err = readSwarmKey(cfg.SwarmKey); err != nil {
			return nil, err
		}
		// QUIC cannot carry a private network (libp2p refuses the
		// combination), so a private swarm runs on TCP only.
		listen, transports = tcpOnly(listen), libp2p.Transport(tcp.NewTCPTransport)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen...),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		transports,
		libp2p.PrivateNetwork(psk),
		libp2p.DefaultMuxers,
		libp2p.DefaultSecurity,
		libp2p.UserAgent(version.AgentVersion()),
		libp2p.BandwidthReporter(bw),
	}
	if reg != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(reg))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	if cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	if len(cfg.Announce) > 0 {
		announce := make([]ma.Multiaddr, 0, len(cfg.Announce))
		for _, a := range cfg.Announce {
			if a == "" {
				continue
			}
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				return nil, err
			}
			announce = append(announce, m)
		}
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	var kad *dht.IpfsDHT
	if cfg.DHT != "off" {
		mode := dht.ModeServer
		if cfg.DHT == "client" {
			mode = dht.ModeClient
		}
		opts = append(opts, libp2p.Routing(func(h host.Host) (routing.PeerRouting, error) {
			d, err := dht.New(h, dht.Mode(mode), dht.BootstrapPeers(bootstrapInfos(cfg.Bootstrap)...))
			kad = d
			return d, err
		}))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	if kad != nil {
		if err := kad.Bootstrap(ctx); err != nil {
			h.Close()
			return nil, err
		}
	}
	return &Network{Host: h, DHT: kad, Bandwidth: bw}, nil
}

// Close stops the DHT and the host.
func (n *Network) Close() error {
	if n.DHT != nil {
		n.DHT.Close()
	}
	return n.Host.Close()
}

func bootstrapInfos(addrs []string) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, a := range addrs {
		if info, err := peer.AddrInfoFromString(a); err == nil {
			out = append(out, *info)
		}
	}
	return out
}

func readSwarmKey(path string) (pnet.PSK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("swarm key: %w", err)
	}
	defer f.Close()
	psk, err := pnet.DecodeV1PSK(io.Reader(f))
	if err != nil {
		return nil, fmt.Errorf("swarm key %s: %w", path, err)
	}
	return psk, nil
}

// tcpOnly drops the UDP (QUIC) addresses from a listen list.
func tcpOnly(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if m, err := ma.NewMultiaddr(a); err == nil {
			if _, err := m.ValueForProtocol(ma.P_UDP); err != nil {
				out = append(out, a)
			}
		}
	}
	return out
}
