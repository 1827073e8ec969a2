package restapi

import (
	"context"
	"errors"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// ErrNotFound is what a Cluster returns (wrapped) for a CID that is not in
// the pinset; the API answers 404.
var ErrNotFound = errors.New("pin not found")

// Cluster is what the REST API needs from the daemon's cluster peer. Reads
// see every write acknowledged before them, whichever peer took it.
type Cluster interface {
	// ID is this peer's ID.
	ID() string
	// Pin adds or updates a pin and returns it as committed, with its
	// allocations.
	Pin(ctx context.Context, p pin.Pin) (pin.Pin, error)
	// Unpin removes c from the pinset (ErrNotFound if it is not there).
	Unpin(ctx context.Context, c cid.Cid) error
	// Get returns the pin of c (ErrNotFound if there is none).
	Get(ctx context.Context, c cid.Cid) (pin.Pin, error)
	// List streams every pin in CID order.
	List(ctx context.Context, fn func(pin.Pin) error) error
	// Status is every member's view of c.
	Status(ctx context.Context, c cid.Cid) (PinInfo, error)
	// StatusAll streams every pin with every member's view, in CID order.
	StatusAll(ctx context.Context, fn func(PinInfo) error) error
	// Recover re-queues failed operations on c and returns its status.
	Recover(ctx context.Context, c cid.Cid) (PinInfo, error)
	// Members lists the cluster's peers.
	Members(ctx context.Context) ([]member.Member, error)
}

// PinInfo is a pin with what each member says of it.
type PinInfo struct {
	Pin   pin.Pin
	Peers []pin.PeerStatus
}

// Liveness is optional for a Cluster (checked at run time): the members
// as the leader last heard from them, with their free space and queue.
// With it /health/alerts and /monitor/metrics are served; without it they
// answer 501.
type Liveness interface {
	Liveness(ctx context.Context) ([]member.Member, error)
}

// DefaultDownAfter is how long a member may stay silent before it counts
// as down, when Deps.DownAfter is zero (the cluster's default).
const DefaultDownAfter = 4 * time.Second
