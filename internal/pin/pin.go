// Package pin is the cluster's domain vocabulary for pins: what a pin asks
// for, and what a peer reports about it. No I/O and no wire format here: the
// raft log and the APIs encode these types in their own packages.
package pin

import (
	"errors"
	"fmt"
	"time"

	cid "github.com/ipfs/go-cid"
)

// Mode says how much of the DAG a pin keeps.
type Mode string

// Pin modes.
const (
	Recursive Mode = "recursive"
	Direct    Mode = "direct"
)

// Everywhere as a replication factor means "on every peer".
const Everywhere = -1

// Pin is one entry of the replicated pinset.
type Pin struct {
	Cid  cid.Cid
	Name string
	Mode Mode
	// ReplicationMin and ReplicationMax bound the number of allocations;
	// Everywhere (-1) for both means every peer; 0 for both means the
	// cluster's defaults, decided by the leader.
	ReplicationMin int
	ReplicationMax int
	// Allocations are the peers chosen to hold the pin, decided by the
	// leader before the pin enters the log.
	Allocations []string
	// UserAllocations are peers the user asked for; placement takes them
	// first.
	UserAllocations []string
	Metadata        map[string]string
	// ExpireAt, when set, is when the pin is removed by the cluster.
	ExpireAt time.Time
	// Origins are multiaddrs of peers that have the content, dialled
	// when fetching it.
	Origins []string
	// PinUpdate is a previous root whose blocks speed up fetching this one.
	PinUpdate cid.Cid
	Timestamp time.Time
}

// Errors of pin validation; wrap them to add detail.
var (
	ErrInvalid = errors.New("invalid pin")
)

// Validate checks the options a client can get wrong.
func (p Pin) Validate(now time.Time) error {
	if !p.Cid.Defined() {
		return fmt.Errorf("%w: no CID", ErrInvalid)
	}
	if p.Mode != Recursive && p.Mode != Direct {
		return fmt.Errorf("%w: unknown mode %q (want recursive or direct)", ErrInvalid, p.Mode)
	}
	min, max := p.ReplicationMin, p.ReplicationMax
	switch {
	case min == 0 && max == 0:
		// The cluster's defaults apply.
	case (min == Everywhere) != (max == Everywhere):
		return fmt.Errorf("%w: replication min %d and max %d: -1 (everywhere) must be used for both", ErrInvalid, min, max)
	case min != Everywhere && (min < 1 || max < min):
		return fmt.Errorf("%w: replication min %d and max %d: want 1 <= min <= max", ErrInvalid, min, max)
	}
	if !p.ExpireAt.IsZero() && !p.ExpireAt.After(now) {
		return fmt.Errorf("%w: expire-at %s is in the past", ErrInvalid, p.ExpireAt.Format(time.RFC3339))
	}
	return nil
}

// Expired reports whether the pin's expiry has passed.
func (p Pin) Expired(now time.Time) bool {
	return !p.ExpireAt.IsZero() && !now.Before(p.ExpireAt)
}

// AllocatedTo reports whether peer is one of the allocations.
func (p Pin) AllocatedTo(peer string) bool {
	for _, a := range p.Allocations {
		if a == peer {
			return true
		}
	}
	return false
}

// Status is what one peer reports about one pin.
type Status string

// Statuses, as IPFS Cluster names them.
const (
	StatusPinQueued   Status = "pin_queued"
	StatusPinning     Status = "pinning"
	StatusPinned      Status = "pinned"
	StatusPinError    Status = "pin_error"
	StatusUnpinQueued Status = "unpin_queued"
	StatusUnpinning   Status = "unpinning"
	StatusUnpinned    Status = "unpinned"
	StatusUnpinError  Status = "unpin_error"
	StatusRemote      Status = "remote" // not allocated to this peer
	StatusClusterErr  Status = "cluster_error"
)

// PeerStatus is one peer's view of one pin.
type PeerStatus struct {
	Peer   string
	Status Status
	Error  string
	Since  time.Time
}
