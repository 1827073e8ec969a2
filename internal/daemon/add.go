package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	car "github.com/ipld/go-car/v2"

	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
)

// clusterAdder serves the REST API's /add on this peer: the upload is
// imported here with the importer that serves `flotilla add` and Kubo's
// add (hence the same CIDs), into a DAG service that hands every block to
// a cluster.BlockStream towards the allocated peers; the roots are pinned
// with those allocations once every peer acknowledged its blocks. Memory
// stays flat whatever the upload's size: the multipart body is read as
// the importer asks for bytes, and the stream holds a bounded budget per
// peer (see internal/cluster/blocks.go).
type clusterAdder struct {
	peer *cluster.Peer
	node *ipfs.Node
	// swarmAddrs are this node's addresses (with /p2p/ID), given as
	// origins when the allocations must fetch from a peer they do not
	// include (local=true with user allocations elsewhere).
	swarmAddrs func() []string
}

var _ restapi.Adder = clusterAdder{}

// swarmAddrsOf lists a node's swarm addresses with its peer ID (none
// offline).
func swarmAddrsOf(nw *p2p.Network, id string) func() []string {
	return func() []string {
		if nw == nil {
			return nil
		}
		var out []string
		for _, a := range nw.Host.Addrs() {
			out = append(out, a.String()+"/p2p/"+id)
		}
		return out
	}
}

// carBatchBytes and carBatchBlocks size the batches a CAR upload is handed
// to the stream in: the importer's (importer/writer.go).
const (
	carBatchBytes  = 8 << 20
	carBatchBlocks = 256
)

func (a clusterAdder) Add(ctx context.Context, upload files.Directory, req restapi.AddRequest, emit func(restapi.Added) error) (err error) {
	self := a.peer.ID()
	allocs, err := a.peer.Allocate(ctx, req.Pin)
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
		if !slices.Contains(allocs, self) {
			pn.Origins = append(pn.Origins, a.swarmAddrs()...)
		}
		dests = []string{self}
	}

	// A local garbage collection waits until the roots are pinned (the
	// peers receiving blocks hold it off while their streams last).
	unlock := a.node.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	stream, err := a.peer.StreamBlocks(ctx, dests)
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
		roots, err = a.addCAR(ctx, stream, upload, allocs, send)
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
		if _, err := a.peer.Pin(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// addFiles imports the upload as `flotilla add` does, each top-level entry
// a root (or one root with wrap-with-directory).
func (a clusterAdder) addFiles(ctx context.Context, stream *cluster.BlockStream, upload files.Directory, s importer.Settings,
	scratch bool, allocs []string, send func(restapi.Added)) ([]cid.Cid, error) {
	dag := &streamDAG{stream: stream, node: a.node, scratch: scratch, recent: map[cid.Cid]bool{}, mem: map[cid.Cid]ipld.Node{}}
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

// addCAR streams the blocks of the one CAR file of the upload, each
// verified against its CID by the CAR reader, as IPFS Cluster's CAR adder
// (one file, one root; the DAG need not be complete).
func (a clusterAdder) addCAR(ctx context.Context, stream *cluster.BlockStream, upload files.Directory, allocs []string, send func(restapi.Added)) ([]cid.Cid, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", restapi.ErrBadUpload, fmt.Sprintf(format, args...))
	}
	it := upload.Entries()
	if !it.Next() {
		if err := it.Err(); err != nil {
			return nil, err
		}
		return nil, bad("no CAR file in the upload")
	}
	name := it.Name()
	f, ok := it.Node().(files.File)
	if _, link := it.Node().(*files.Symlink); !ok || link {
		return nil, bad("%s: expected a CAR file, not a directory or a symlink", name)
	}
	defer f.Close()
	br, err := car.NewBlockReader(f, car.MaxAllowedSectionSize(ipfs.MaxBlockSize+1024))
	if err != nil {
		return nil, badCAR(err)
	}
	if len(br.Roots) != 1 {
		return nil, bad("only CAR files with a single root are supported, this one has %d", len(br.Roots))
	}
	root := br.Roots[0]
	var total, size uint64
	batch := make([]blocks.Block, 0, carBatchBlocks)
	batchBytes := 0
	flush := func() error {
		err := stream.Put(ctx, batch)
		batch, batchBytes = batch[:0], 0
		return err
	}
	for {
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badCAR(err)
		}
		if len(b.RawData()) > ipfs.MaxBlockSize {
			return nil, bad("block %s is %d bytes: %v", b.Cid(), len(b.RawData()), ipfs.ErrBlockTooBig)
		}
		total += uint64(len(b.RawData()))
		if b.Cid().Equals(root) {
			size = unixfsSize(b)
		}
		batch = append(batch, b)
		batchBytes += len(b.RawData())
		if batchBytes >= carBatchBytes || len(batch) >= carBatchBlocks {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if it.Next() {
		return nil, bad("only one CAR file can be added at a time")
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	send(restapi.Added{Name: name, Cid: root, Bytes: total, Size: size, Allocations: allocs})
	return []cid.Cid{root}, nil
}

// badCAR reports a CAR the reader refused; failures to read the upload
// itself come wrapped already.
func badCAR(err error) error {
	if errors.Is(err, restapi.ErrBadUpload) {
		return err
	}
	return fmt.Errorf("%w: invalid CAR: %v", restapi.ErrBadUpload, err)
}

// unixfsSize is the file size of a UnixFS root, 0 for anything else (as
// IPFS Cluster reports a CAR's root).
func unixfsSize(b blocks.Block) uint64 {
	if b.Cid().Type() != cid.DagProtobuf {
		return 0
	}
	pn, err := merkledag.DecodeProtobuf(b.RawData())
	if err != nil {
		return 0
	}
	fsn, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return 0
	}
	return fsn.FileSize()
}

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
	stream  *cluster.BlockStream
	node    *ipfs.Node
	scratch bool // this peer is no destination

	mu     sync.Mutex
	recent map[cid.Cid]bool // CIDs sent by Add lately; guarded by mu
	order  []cid.Cid        // recent's CIDs, oldest first; guarded by mu
	mem    map[cid.Cid]ipld.Node
	size   int // bytes in mem; guarded by mu
}

var _ ipld.DAGService = (*streamDAG)(nil)

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
	if err := d.node.Blocks.PutMany(ctx, bs); err != nil {
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
