// Package blockstream carries blocks from one peer to others while they are
// produced: the blocks of a cluster-wide add travel to the allocated peers
// as the importer builds them, before the pin is committed, so that each of
// them holds the whole DAG when the pin reaches its tracker and fetches
// nothing (IPFS Cluster's BlockStreamer, adder/util.go, does the same over
// libp2p). The cluster also uses it to send a DAG to a peer without a swarm.
//
// A stream to one peer is one long-lived call whose body is a sequence of
// frames (codec.go)
//
//	uvarint(len(cid)) cid uvarint(len(data)) data
//
// ended by a trailer naming the roots whose whole DAG the stream carried
//
//	uvarint(0) uvarint(count) { uvarint(len(cid)) cid }
//
// The receiving peer (Receive) verifies every block against its CID,
// writes them in batches as durably as a local add, and answers with an
// Ack once the last one is durable. It then marks the roots received
// (Store.MarkReceived): its garbage collection keeps them until their pin
// arrives, and its tracker pins them without reading the DAG back.
//
// The sender (Open, Stream) fans blocks out to several peers at once, this
// one's own Store included. Nothing is buffered beyond a fixed budget per
// peer: a slow replica slows the add down (its connection stops taking
// bytes, Put waits for budget), it does not grow memory. The block bytes
// are shared by every peer's queue, so a stream holds at most streamBudget
// of them however many peers it reaches.
//
// The package knows nothing of the cluster that opens streams: the cluster
// carries a stream's body to a peer (Deps.Send: POST /v1/blocks over its
// transport), answers a received one (Receive's Ack or error, through its
// error table) and names the destinations (member IDs and addresses).
package blockstream

import (
	"context"
	"io"
	"log/slog"
	"time"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
)

// Store is a peer's node as the end of block streams: where the blocks of
// a stream land, durably, and where the roots of the DAGs a stream carried
// whole wait for their pin. *ipfs.Node is one (guarded in the daemon).
type Store interface {
	// PinLock holds garbage collection off until unlock is called; a
	// stream's blocks are written and its roots marked under it.
	PinLock(ctx context.Context) (unlock func())
	// PutBlocks writes blocks as they are (verified, or built here).
	PutBlocks(ctx context.Context, bs []blocks.Block) error
	// SyncBlocks makes every block written so far durable.
	SyncBlocks(ctx context.Context) error
	// MarkReceived keeps the DAGs of roots from garbage collection for
	// ttl, or until their pin takes the mark.
	MarkReceived(roots []cid.Cid, ttl time.Duration)
}

// SendFunc carries a stream to the peer at addr: body is the stream's
// frames, read until the trailer; the answer is the peer's Ack, once every
// block is durable there, or the failure it reported. It returns when ctx
// ends, the stream having failed or been aborted.
type SendFunc func(ctx context.Context, addr string, body io.Reader) (Ack, error)

// Ack is a receiving peer's answer to a whole stream: every block is
// durable. Its JSON is what the peer answers on the wire.
type Ack struct {
	Blocks int64 `json:"blocks"`
	Bytes  int64 `json:"bytes"`
}

// Dest is a peer a stream goes to.
type Dest struct {
	// ID names the peer in Close's answer and in failures.
	ID string
	// Addr is where Send reaches the peer; empty for this peer itself,
	// whose Store is written in process.
	Addr string
}

// Deps are what a stream's sender works with.
type Deps struct {
	// Store is this peer's node: written in process when it is one of the
	// destinations (a Dest without Addr).
	Store Store
	// Send carries the stream to each other destination.
	Send SendFunc
	// Log reports peers whose stream failed while others held on; nil
	// discards.
	Log *slog.Logger
}

const (
	// streamBudget bounds the block bytes queued for one peer and not yet
	// handed to its connection: enough to ride out the pauses of a peer
	// committing a batch (receiveBatchBytes) while the importer goes on.
	streamBudget = 32 << 20
	// streamQueue bounds the blocks queued for one peer, whatever their
	// size (streamBudget bounds their bytes).
	streamQueue = 1024
	// receivedFor is how long a received DAG waits for its pin, kept from
	// garbage collection: the adder pins right after the acknowledgements.
	receivedFor = 2 * time.Minute
	// Batches of a receiving peer: the importer's sizes (see
	// importer/writer.go), with fewer commits in flight since a peer may
	// receive several streams at once.
	receiveBatchBytes  = 8 << 20
	receiveBatchBlocks = 256
	receiveInFlight    = 2
)
