// Package member describes what a peer knows of another: its identity,
// where it runs and how loaded it is.
package member

import "time"

// Member is a peer of the cluster.
type Member struct {
	ID   string // libp2p peer ID
	Name string // human name (--peername)
	Zone string // failure domain
	// ClusterAddr is where its cluster port answers (host:port).
	ClusterAddr string
	// SwarmAddrs are its IPFS swarm multiaddrs, for bitswap.
	SwarmAddrs []string
	// FreeSpace is the free bytes of its block store's disk.
	FreeSpace uint64
	// QueueLen is how many pin operations it has waiting.
	QueueLen int
	// Held is how many pins its node holds, as it last reported.
	Held int
	// Errors is how many of its pin operations failed for good (pin_error,
	// unpin_error) and wait for a recover, as it last reported.
	Errors int
	// Version is the flotilla version it runs, as it last reported (empty:
	// not reported yet).
	Version string
	// LastSeen is when the leader last heard from it (zero: never).
	LastSeen time.Time
}

// Alive reports whether the member was heard from within timeout.
func (m Member) Alive(now time.Time, timeout time.Duration) bool {
	return !m.LastSeen.IsZero() && now.Sub(m.LastSeen) <= timeout
}
