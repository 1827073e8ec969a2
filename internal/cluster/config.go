// Package cluster is a peer of a flotilla cluster: it joins the others,
// keeps the replicated pinset through raft, places pins on peers by zone and
// free space, pins what is allocated to it, and repairs the cluster when a
// peer dies. Every peer accepts writes and forwards them to the leader.
package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Config holds a peer's cluster settings.
type Config struct {
	// Listen is the cluster port (host:port): raft and peer RPC, TLS with
	// the cluster secret.
	Listen string
	// Announce is the address other peers dial; empty: the bound address.
	Announce string
	// Secret authenticates every cluster connection (at least 16 bytes).
	Secret []byte
	// Join lists peers to join through: host:port, DNS names (resolved
	// again at every attempt) or /ip4|/dns/…/tcp/… multiaddrs.
	Join []string
	// BootstrapExpect, when > 0, makes this many fresh peers that find each
	// other through Join form a cluster together, with no designated
	// first peer.
	BootstrapExpect int
	// PeerName and Zone describe this peer to the others.
	PeerName string
	Zone     string
	// ReplicationMin and ReplicationMax are the defaults of pins that do
	// not say (-1: everywhere).
	ReplicationMin int
	ReplicationMax int
	// RepairAfter is how long an allocated peer may be down before its
	// pins are allocated elsewhere.
	RepairAfter time.Duration
	// DeadNodeTimeout is how long a peer may be down before it is removed
	// from the cluster, so that replaced peers never erode the quorum.
	DeadNodeTimeout time.Duration
	// Heartbeat is how often peers report to the leader; a peer missing
	// DownAfter worth of heartbeats is down.
	Heartbeat time.Duration
	DownAfter time.Duration
	// PinConcurrency is how many tracker workers fetch and pin at once,
	// each up to 128 pins in one bitswap session. More workers replicate
	// faster and take more of the disk from the raft log: on one shared
	// disk, 32 halved the rate of acknowledged pins against 8.
	PinConcurrency int
	// PinTimeout bounds one attempt at fetching a pin's DAG.
	PinTimeout time.Duration
	// MaxVoters is the largest voting set; further peers join as
	// non-voters.
	MaxVoters int
	// TrailingLogs is how many raft entries a snapshot keeps for lagging
	// peers; a peer further behind (or new) installs the snapshot.
	TrailingLogs uint64
	// GCGrace is how long the packs a garbage collection of a shared
	// bucket replaced stay in the bucket, for the reads that looked their
	// blocks up before; a later collection deletes them.
	GCGrace time.Duration
}

// DefaultConfig mirrors the daemon's flag defaults.
func DefaultConfig() Config {
	return Config{
		Listen:          "0.0.0.0:9096",
		ReplicationMin:  2,
		ReplicationMax:  3,
		RepairAfter:     5 * time.Minute,
		DeadNodeTimeout: 30 * time.Minute,
		Heartbeat:       time.Second,
		DownAfter:       4 * time.Second,
		PinConcurrency:  8,
		PinTimeout:      10 * time.Minute,
		MaxVoters:       5,
		TrailingLogs:    2048,
		GCGrace:         time.Hour,
	}
}

// Validate checks the settings, all but the secret (read from its file
// later, and checked by Start): a process validates them before it opens
// anything.
func (c Config) Validate() error {
	var errs []error
	p := pin.Pin{Mode: pin.Recursive, ReplicationMin: c.ReplicationMin, ReplicationMax: c.ReplicationMax}
	if (p.ReplicationMin == pin.Everywhere) != (p.ReplicationMax == pin.Everywhere) || p.ReplicationMin != pin.Everywhere && (p.ReplicationMin < 1 || p.ReplicationMax < p.ReplicationMin) {
		errs = append(errs, fmt.Errorf("replication min %d / max %d: want 1 <= min <= max, or -1 for both", c.ReplicationMin, c.ReplicationMax))
	}
	if c.BootstrapExpect > 0 && len(c.Join) == 0 {
		errs = append(errs, errors.New("bootstrap-expect needs --join addresses to find the other peers"))
	}
	if c.Heartbeat <= 0 || c.DownAfter < c.Heartbeat {
		errs = append(errs, fmt.Errorf("heartbeat %s and down-after %s are inconsistent", c.Heartbeat, c.DownAfter))
	}
	if c.RepairAfter < c.DownAfter || c.DeadNodeTimeout < c.RepairAfter {
		errs = append(errs, fmt.Errorf("repair-after %s must lie between down-after %s and dead-node-timeout %s", c.RepairAfter, c.DownAfter, c.DeadNodeTimeout))
	}
	if c.GCGrace < 0 {
		errs = append(errs, fmt.Errorf("gc grace %s: must not be negative", c.GCGrace))
	}
	if c.MaxVoters < 1 || c.PinConcurrency < 1 {
		errs = append(errs, errors.New("max voters and pin concurrency must be positive"))
	}
	return errors.Join(errs...)
}
