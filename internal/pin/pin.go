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

// Pin is one entry of the replicated pinset, and a request for one. What a
// request leaves zero the leader decides (WithDefaults, Update) before the
// pin enters the log: a pin of the pinset has every option set.
type Pin struct {
	Cid  cid.Cid
	Name string
	Mode Mode // empty in a request: Recursive, or the mode of the pin updated
	// ReplicationMin and ReplicationMax bound the number of allocations;
	// Everywhere (-1) for both means every peer. In a request, 0 for a
	// bound leaves it to the cluster's defaults.
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
	// A request with PinUpdate set (and not equal to Cid) is an update of
	// that pin: see Update.
	PinUpdate cid.Cid
	Timestamp time.Time
}

// Errors about pins; wrap them to add detail. Every layer, from the state
// to the APIs, reports these same values: an API maps them to its answers.
var (
	// ErrInvalid: the pin asks for what cannot be (a client's error).
	ErrInvalid = errors.New("invalid pin")
	// ErrNotFound: the pinset holds no pin of the CID.
	ErrNotFound = errors.New("pin not found")
	// ErrUnavailable: the pinset cannot be changed or read consistently
	// now (no leader answers); the client may try again later.
	ErrUnavailable = errors.New("cluster unavailable")
)

// Validate checks the options a client can get wrong. An API checks a
// request at its edge; the cluster's leader checks the pin it completes
// from a request (WithDefaults, Update) before placing it, whichever peer
// took the request.
func (p Pin) Validate(now time.Time) error {
	if !p.Cid.Defined() {
		return fmt.Errorf("%w: no CID", ErrInvalid)
	}
	if p.Mode != "" && p.Mode != Recursive && p.Mode != Direct {
		return fmt.Errorf("%w: unknown mode %q (want recursive or direct)", ErrInvalid, p.Mode)
	}
	min, max := p.ReplicationMin, p.ReplicationMax
	switch {
	case min == 0 && max == 0:
		// The cluster's defaults apply.
	case min == 0 || max == 0:
		// One bound is given, the cluster's default completes the other
		// (see WithDefaults).
		if given := min + max; given != Everywhere && given < 1 {
			return fmt.Errorf("%w: replication min %d and max %d: want 1 <= min <= max", ErrInvalid, min, max)
		}
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

// WithDefaults returns p with what it leaves to the cluster decided: the
// mode (recursive) and the replication, from the cluster's defaults defMin
// and defMax in a cluster of members peers. With neither bound given, the
// defaults apply, capped by the cluster's size (a lone peer holds its pins
// alone; a member that is down still counts, so a pin never silently gets
// fewer replicas than the cluster can give). With one bound given, the
// other is its default moved to meet the given one, as IPFS Cluster
// completes a half-given replication: min 1 with defaults 2..3 is 1..3, max
// 1 is 1..1, and Everywhere for either is Everywhere for both.
func (p Pin) WithDefaults(defMin, defMax, members int) Pin {
	if p.Mode == "" {
		p.Mode = Recursive
	}
	switch rmin, rmax := p.ReplicationMin, p.ReplicationMax; {
	case rmin == 0 && rmax == 0:
		p.ReplicationMin, p.ReplicationMax = defMin, defMax
		if defMin != Everywhere {
			p.ReplicationMin = max(1, min(defMin, members))
			p.ReplicationMax = max(p.ReplicationMin, min(defMax, members))
		}
	case rmin == 0:
		switch {
		case rmax == Everywhere:
			p.ReplicationMin = Everywhere
		case defMin == Everywhere || defMin > rmax:
			p.ReplicationMin = rmax
		default:
			p.ReplicationMin = defMin
		}
	case rmax == 0:
		switch {
		case rmin == Everywhere:
			p.ReplicationMax = Everywhere
		case defMax == Everywhere || defMax < rmin:
			p.ReplicationMax = rmin
		default:
			p.ReplicationMax = defMax
		}
	}
	return p
}

// Update returns the pin that the request p, an update of prev (p.PinUpdate
// is prev.Cid), asks for: prev under p's CID, with each option that p sets
// (not zero) in place of prev's. As IPFS Cluster's PinUpdate, prev's
// allocations become the new pin's user allocations, so that it goes where
// prev's blocks are and its peers fetch only the difference. Which options
// a client may set is its API's business: the REST API's pin update sets
// the name and the expiry, the Kubo RPC API's none.
func (p Pin) Update(prev Pin) Pin {
	next := prev
	next.Cid, next.PinUpdate, next.Timestamp = p.Cid, p.PinUpdate, time.Time{}
	next.Allocations, next.UserAllocations = p.Allocations, prev.Allocations
	if p.Name != "" {
		next.Name = p.Name
	}
	if p.Mode != "" {
		next.Mode = p.Mode
	}
	if p.ReplicationMin != 0 || p.ReplicationMax != 0 {
		next.ReplicationMin, next.ReplicationMax = p.ReplicationMin, p.ReplicationMax
	}
	if len(p.UserAllocations) > 0 {
		next.UserAllocations = p.UserAllocations
	}
	if p.Metadata != nil {
		next.Metadata = p.Metadata
	}
	if !p.ExpireAt.IsZero() {
		next.ExpireAt = p.ExpireAt
	}
	if len(p.Origins) > 0 {
		next.Origins = p.Origins
	}
	return next
}

// IsUpdate reports whether the request p updates another pin, the one of
// p.PinUpdate.
func (p Pin) IsUpdate() bool {
	return p.PinUpdate.Defined() && !p.PinUpdate.Equals(p.Cid)
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

// Info is a pin with what each peer reports of it.
type Info struct {
	Pin   Pin
	Peers []PeerStatus
}

// PeerStatus is one peer's view of one pin.
type PeerStatus struct {
	Peer   string
	Status Status
	Error  string
	Since  time.Time
}
