package adder

import (
	"context"
	"errors"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// Bounds of the streamDAG's memory: the CIDs remembered to skip the
// duplicates MFS sends, and the scratch nodes kept in memory before they
// are written to the blockstore in one batch.
const (
	recentCids   = 4096
	scratchBytes = 16 << 20
)

// streamDAG is the importer's DAG service for a cluster add: every node
// goes to the stream. The importer writes file blocks in batches
// (AddMany) and hands the rest one by one (Add): directories, symlinks,
// and each file's root again, when MFS links it. Only the latter are read
// back (MFS loads directories and files' roots to list them), so when this
// peer is no destination, they are kept as scratch: in memory, then in the
// local blockstore, unpinned (garbage for the next collection). The
// duplicates of MFS are not sent twice.
type streamDAG struct {
	stream  *blockstream.Stream
	node    *ipfs.Node
	scratch bool // this peer is no destination

	mu     sync.Mutex
	recent map[cid.Cid]bool      // CIDs sent by Add lately; guarded by mu
	order  []cid.Cid             // recent's CIDs, oldest first; guarded by mu
	mem    map[cid.Cid]ipld.Node // scratch nodes not written yet; guarded by mu
	size   int                   // bytes in mem; guarded by mu
}

var _ ipld.DAGService = (*streamDAG)(nil)

func newStreamDAG(stream *blockstream.Stream, node *ipfs.Node, scratch bool) *streamDAG {
	return &streamDAG{stream: stream, node: node, scratch: scratch, recent: map[cid.Cid]bool{}, mem: map[cid.Cid]ipld.Node{}}
}

func (d *streamDAG) Add(ctx context.Context, nd ipld.Node) error {
	if d.scratch {
		if err := d.keep(ctx, nd); err != nil {
			return err
		}
	}
	d.mu.Lock()
	if !d.recent[nd.Cid()] {
		d.recent[nd.Cid()] = true
		d.order = append(d.order, nd.Cid())
		if len(d.order) > recentCids {
			delete(d.recent, d.order[0])
			d.order = d.order[1:]
		}
	}
	d.mu.Unlock()
	return d.stream.Put(ctx, []blocks.Block{nd})
}

func (d *streamDAG) AddMany(ctx context.Context, nds []ipld.Node) error {
	bs := make([]blocks.Block, 0, len(nds))
	d.mu.Lock()
	for _, nd := range nds {
		if !d.recent[nd.Cid()] {
			bs = append(bs, nd)
		}
	}
	d.mu.Unlock()
	return d.stream.Put(ctx, bs)
}

// keep holds a scratch node, writing the ones held so far to the
// blockstore in one batch once they weigh scratchBytes.
func (d *streamDAG) keep(ctx context.Context, nd ipld.Node) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.mem[nd.Cid()]; !ok {
		d.mem[nd.Cid()] = nd
		d.size += len(nd.RawData())
	}
	if d.size < scratchBytes {
		return nil
	}
	bs := make([]blocks.Block, 0, len(d.mem))
	for _, n := range d.mem {
		bs = append(bs, n)
	}
	if err := d.node.PutBlocks(ctx, bs); err != nil {
		return err
	}
	d.mem, d.size = map[cid.Cid]ipld.Node{}, 0
	return nil
}

func (d *streamDAG) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	d.mu.Lock()
	nd, ok := d.mem[c]
	d.mu.Unlock()
	if ok {
		return nd, nil
	}
	return d.node.LocalDAG.Get(ctx, c)
}

func (d *streamDAG) GetMany(ctx context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	out := make(chan *ipld.NodeOption, len(cs))
	go func() {
		defer close(out)
		for _, c := range cs {
			nd, err := d.Get(ctx, c)
			out <- &ipld.NodeOption{Node: nd, Err: err}
		}
	}()
	return out
}

var errNoRemove = errors.New("an add's DAG service does not remove blocks")

func (d *streamDAG) Remove(context.Context, cid.Cid) error       { return errNoRemove }
func (d *streamDAG) RemoveMany(context.Context, []cid.Cid) error { return errNoRemove }
