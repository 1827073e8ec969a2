package restapi

import (
	"context"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Cluster is what the REST API needs from the daemon's cluster peer
// (*cluster.Peer satisfies it as it is). Reads see every write acknowledged
// before them, whichever peer took it. A CID outside the pinset is
// pin.ErrNotFound (wrapped): the API answers 404.
type Cluster interface {
	// ID is this peer's ID.
	ID() string
	// Pin adds or updates a pin and returns it as committed, with its
	// allocations. The cluster decides what the request leaves zero, and
	// resolves an update (p.PinUpdate set) against the pin it updates.
	Pin(ctx context.Context, p pin.Pin) (pin.Pin, error)
	// PinMany is Pin for many pins at once (one placement pass, one log
	// entry): errs[i] says why pins[i] was refused; an error return means
	// none was committed.
	PinMany(ctx context.Context, pins []pin.Pin) (placed []pin.Pin, errs []error, err error)
	// Unpin removes c from the pinset (pin.ErrNotFound if it is not there).
	Unpin(ctx context.Context, c cid.Cid) error
	// Get returns the pin of c (pin.ErrNotFound if there is none).
	Get(ctx context.Context, c cid.Cid) (pin.Pin, error)
	// List streams every pin in CID order.
	List(ctx context.Context, fn func(pin.Pin) error) error
	// Status is every member's view of c.
	Status(ctx context.Context, c cid.Cid) (pin.Info, error)
	// StatusAll streams every pin with every member's view, in CID order.
	StatusAll(ctx context.Context, fn func(pin.Info) error) error
	// Recover re-queues failed operations on c and returns its status.
	Recover(ctx context.Context, c cid.Cid) (pin.Info, error)
	// Members lists the cluster's peers.
	Members(ctx context.Context) ([]member.Member, error)
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
