package pinsvc

import (
	"context"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Cluster is what the Pinning Service API needs from the daemon's cluster
// peer (*cluster.Peer satisfies it as it is). Reads see every write
// acknowledged before them, whichever peer took it: requests made through
// one peer are seen through any other.
type Cluster interface {
	// Get returns the pin of c (pin.ErrNotFound if there is none).
	Get(ctx context.Context, c cid.Cid) (pin.Pin, error)
	// Pin adds or updates a pin and returns it as committed, with its
	// allocations (before the content is fetched). The cluster decides
	// what the request leaves zero; with PinUpdate set it is an update of
	// that pin, whose options fill in the ones the request leaves zero
	// (pin.ErrNotFound if that pin is not there).
	Pin(ctx context.Context, p pin.Pin) (pin.Pin, error)
	// Unpin removes c from the pinset (pin.ErrNotFound if it is not there).
	Unpin(ctx context.Context, c cid.Cid) error
	// Status is every member's view of c (pin.ErrNotFound if c is not in
	// the pinset).
	Status(ctx context.Context, c cid.Cid) (pin.Info, error)
	// StatusAll streams every pin with every member's view.
	StatusAll(ctx context.Context, fn func(pin.Info) error) error
	// Members lists the cluster's peers with their swarm addresses.
	Members(ctx context.Context) ([]member.Member, error)
	Records
}

// Records is a small replicated key-value store beside the pinset, where
// the API keeps its pin requests. A record (key and value) holds at least
// maxRecord bytes.
type Records interface {
	// PutRecord stores value under key, cluster-wide.
	PutRecord(ctx context.Context, key string, value []byte) error
	// DeleteRecord removes the record key (no error if it is absent).
	DeleteRecord(ctx context.Context, key string) error
	// Record returns the value of key and whether it exists.
	Record(ctx context.Context, key string) ([]byte, bool, error)
	// Records streams the records whose keys start with prefix, in key
	// order, from the first key above after ("": from the first).
	Records(ctx context.Context, prefix, after string, fn func(key string, value []byte) error) error
}
