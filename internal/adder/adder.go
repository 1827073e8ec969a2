// Package adder is the cluster-wide add, the REST API's /add: the one owner
// of its steps, from an upload to pinned ×N, as IPFS Cluster's adder.
//
//  1. Allocate: the leader says where the content will go, as it places
//     pins (cluster.Peer.Allocate); nothing is committed.
//  2. Import: files are imported on this peer with the importer that serves
//     `flotilla add` and Kubo's add (internal/importer, hence the same
//     CIDs), into a DAG service that hands every block on (dag.go); a CAR's
//     blocks are read as they are (car.go).
//  3. Stream: every block goes, as it is built, to the allocated peers on
//     one block stream (internal/blockstream), which writes this peer's
//     own node in process when it is one of them. On a shared S3 bucket
//     the stream goes to this peer's node alone: the bucket is every
//     peer's, so each block is written once (SharedStorage).
//  4. Close: every allocated peer acknowledges its blocks durable, and
//     marks the roots received, kept from garbage collection.
//  5. Pin: each root is committed with those allocations (cluster.Peer.Pin);
//     the allocated peers' trackers find every block on disk.
//
// Memory stays flat whatever the upload's size: the multipart body is read
// as the importer asks for bytes, and the stream holds a bounded budget per
// peer.
package adder

import (
	"context"
	"errors"
	"slices"

	"github.com/ipfs/boxo/files"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
)

// Cluster is what an add needs of the cluster peer; *cluster.Peer is one.
type Cluster interface {
	// ID is this peer's ID.
	ID() string
	// Allocate returns the peers a pin with p's options would be
	// allocated to now. Nothing is committed; p.Cid may be undefined.
	Allocate(ctx context.Context, p pin.Pin) ([]string, error)
	// StreamBlocks opens a block stream to peers (members' IDs; this
	// peer's own stands for its node).
	StreamBlocks(ctx context.Context, peers []string) (*blockstream.Stream, error)
	// Pin commits p; with Allocations set, the leader keeps them while
	// they are alive.
	Pin(ctx context.Context, p pin.Pin) (pin.Pin, error)
}

// SharedStorage is an optional interface of the Cluster: SharedStorage
// reports whether every peer's blocks live in one shared S3 bucket
// (--s3-shared). An add then writes each block once, on this peer, into
// the bucket, and the allocations learn of its packs through the cluster
// (records committed before each write returns) instead of being sent
// the blocks, each of which would write them to the bucket again.
type SharedStorage interface {
	SharedStorage() bool
}

// Deps are what an Adder works with.
type Deps struct {
	Cluster Cluster
	// Node is this peer's node: its garbage collection waits for an add,
	// and it holds the blocks the importer reads back.
	Node *ipfs.Node
	// SwarmAddrs are the node's addresses (with /p2p/ID), given as origins
	// when the allocations must fetch from a peer they do not include
	// (Local with user allocations elsewhere); none offline.
	SwarmAddrs func() []string
}

// Adder adds uploads to the cluster.
type Adder struct {
	deps Deps
}

var _ restapi.Adder = (*Adder)(nil)

// New returns an Adder over deps.
func New(deps Deps) *Adder {
	return &Adder{deps: deps}
}

// Add adds the upload: the steps of the package documentation. emit gets
// every entry imported, with the allocations, and the progress reports;
// an error from it stops the add.
func (a *Adder) Add(ctx context.Context, upload files.Directory, req restapi.AddRequest, emit func(restapi.Added) error) error {
	self := a.deps.Cluster.ID()
	allocs, err := a.deps.Cluster.Allocate(ctx, req.Pin)
	if err != nil {
		return err
	}
	pn := req.Pin
	dests := allocs
	if req.Local {
		// As IPFS Cluster: the blocks stay here, and this peer takes the
		// last allocation unless the user chose the peers.
		if !slices.Contains(allocs, self) && len(pn.UserAllocations) == 0 {
			allocs[len(allocs)-1] = self
		}
		if !slices.Contains(allocs, self) && a.deps.SwarmAddrs != nil {
			pn.Origins = append(pn.Origins, a.deps.SwarmAddrs()...)
		}
		dests = []string{self}
	}
	if sh, ok := a.deps.Cluster.(SharedStorage); ok && sh.SharedStorage() {
		// Written once, here; the allocations' trackers find every
		// block in their index when the pin reaches them.
		dests = []string{self}
	}

	// A local garbage collection waits until the roots are pinned (the
	// peers receiving blocks hold it off while their streams last).
	unlock := a.deps.Node.PinLock(ctx)
	defer unlock()
	stream, err := a.deps.Cluster.StreamBlocks(ctx, dests)
	if err != nil {
		return err
	}
	defer stream.Abort()

	// An output the client can no longer take stops the import.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	send := func(out restapi.Added) {
		if err := emit(out); err != nil {
			cancel(err)
		}
	}
	var roots []cid.Cid
	if req.CAR {
		roots, err = addCAR(ctx, stream, upload, allocs, send)
	} else {
		roots, err = a.addFiles(ctx, stream, upload, req.Import, !slices.Contains(dests, self), allocs, send)
	}
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if err != nil {
		return err
	}
	// The peers keep the imported DAGs, which they hold whole, for their
	// pins, and pin them without reading them back; a CAR may be partial,
	// and what is not pinned is not kept.
	var whole []cid.Cid
	if !req.CAR && !req.NoPin {
		whole = roots
	}
	if _, err := stream.Close(ctx, whole...); err != nil {
		return err
	}
	if req.NoPin {
		return nil
	}
	for _, root := range roots {
		p := pn
		p.Cid, p.Allocations = root, slices.Clone(allocs)
		if _, err := a.deps.Cluster.Pin(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// addFiles imports the upload as `flotilla add` does, each top-level entry
// a root (or one root with wrap-with-directory). scratch says this peer is
// no destination of the stream (see streamDAG).
func (a *Adder) addFiles(ctx context.Context, stream *blockstream.Stream, upload files.Directory, s importer.Settings,
	scratch bool, allocs []string, send func(restapi.Added)) ([]cid.Cid, error) {
	dag := newStreamDAG(stream, a.deps.Node, scratch)
	rs, err := importer.Add(ctx, dag, upload, s, func(e importer.Event) {
		out := restapi.Added{Name: e.Name, Cid: e.Cid, Size: e.Size, Bytes: uint64(e.Bytes)}
		if e.Cid.Defined() {
			out.Allocations = allocs
		}
		send(out)
	})
	if err != nil {
		return nil, err
	}
	roots := make([]cid.Cid, len(rs))
	for i, r := range rs {
		roots[i] = r.Node.Cid()
	}
	return roots, nil
}
