package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/flotilla-ipfs/flotilla/internal/clusternet"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// The blocks of a cluster-wide add travel to the allocated peers while the
// importer produces them, before the pin is committed, so that each
// allocated peer holds the whole DAG when the pin reaches its tracker and
// fetches nothing (IPFS Cluster's BlockStreamer, adder/util.go, does the
// same over libp2p). Each peer gets one long-lived POST /v1/blocks whose
// body is a stream of frames
//
//	uvarint(len(cid)) cid uvarint(len(data)) data
//
// ended by a trailer naming the roots whose whole DAG the stream carried
//
//	uvarint(0) uvarint(count) { uvarint(len(cid)) cid }
//
// The peer verifies every block against its CID, writes them in batches
// as durably as a local add, and answers once the last one is durable. It
// then marks the roots received (ipfs.Node.MarkReceived): its garbage
// collection keeps them until their pin arrives, and the tracker pins them
// without reading the DAG back.
// Nothing is buffered beyond a fixed budget per peer: a slow replica slows
// the add down (its connection stops taking bytes, Put waits for budget),
// it does not grow memory. The block bytes are shared by every peer's
// queue, so an add holds at most streamBudget of them however many peers
// it streams to.

const (
	// streamBudget bounds the block bytes queued for one peer and not yet
	// handed to its connection: enough to ride out the pauses of a peer
	// committing a batch (receiveBatchBytes) while the importer goes on.
	streamBudget = 32 << 20
	// streamQueue bounds the blocks queued for one peer, whatever their
	// size (streamBudget bounds their bytes).
	streamQueue = 1024
	// maxFrameCid bounds a frame's CID length, far above any real CID.
	maxFrameCid = 256
	// maxTrailerRoots bounds the roots a stream may name; an add with
	// more sends none (its peers then read the DAGs back when pinning).
	maxTrailerRoots = 1 << 16
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

// errBadFrame marks a malformed block stream; errStreamCut one that ended
// inside a frame or whose connection failed (a sender that gave up).
var (
	errBadFrame  = errors.New("malformed block stream")
	errStreamCut = errors.New("block stream cut short")
)

// BlockStream sends blocks to a fixed set of peers. It is made for one
// add: Put from any number of goroutines, then Close once (after every Put
// has returned), or Abort.
type BlockStream struct {
	p      *Peer
	ctx    context.Context
	cancel context.CancelFunc
	hc     *http.Client
	local  *localSink    // nil when this peer is not a destination
	remote []*remoteSink // one per other peer
	roots  []cid.Cid     // set by Close before the queues close

	closeOnce sync.Once
}

// localSink is this peer's own blockstore as a destination.
type localSink struct {
	mu  sync.Mutex
	err error // the first failed write; guarded by mu
}

func (l *localSink) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *localSink) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

// remoteSink is the stream to one other peer.
type remoteSink struct {
	id, addr string
	ctx      context.Context // ends when this stream fails or the add is aborted
	cancel   context.CancelFunc
	budget   *semaphore.Weighted // bytes queued and not yet handed to the connection
	queue    chan blocks.Block   // closed by BlockStream.Close
	queued   atomic.Int64        // blocks queued, for the peer's acknowledgement
	done     chan struct{}       // closed when the call returned; err is set then
	err      error
}

func (r *remoteSink) fail(err error) {
	r.err = err
	r.cancel()
}

// StreamBlocks opens a block stream to peers (IDs of members; this peer's
// own ID stands for its local blockstore, written in process: the caller
// then holds the node's pin lock from the first Put to Close, as an add
// does, so that no garbage collection runs before the roots are marked).
// Calls to the other peers start at once and carry blocks as Put queues
// them.
func (p *Peer) StreamBlocks(ctx context.Context, peers []string) (*BlockStream, error) {
	addrOf, err := p.memberAddrs()
	if err != nil {
		return nil, err
	}
	for _, id := range peers {
		if _, ok := addrOf[id]; !ok && id != p.deps.ID {
			// The leader allocated to a member this peer has not applied
			// yet (it restarted, or lags): catch up once and look again.
			if err := p.sync(ctx); err != nil {
				return nil, err
			}
			if addrOf, err = p.memberAddrs(); err != nil {
				return nil, err
			}
			break
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &BlockStream{p: p, ctx: ctx, cancel: cancel}
	// Its own client, so that a long stream neither holds nor waits for
	// a connection of the pool the short calls share; one connection per
	// peer, closed with the stream.
	s.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return p.net.Dial(ctx, addr, clusternet.ProtoRPC)
		},
		DisableKeepAlives: true,
		WriteBufferSize:   256 << 10,
	}}
	seen := map[string]bool{}
	for _, id := range peers {
		if seen[id] {
			continue
		}
		seen[id] = true
		if id == p.deps.ID {
			s.local = &localSink{}
			continue
		}
		addr, ok := addrOf[id]
		if !ok {
			cancel()
			return nil, fmt.Errorf("stream blocks: %s is not a member of the cluster", id)
		}
		rctx, rcancel := context.WithCancel(ctx)
		r := &remoteSink{id: id, addr: addr, ctx: rctx, cancel: rcancel, budget: semaphore.NewWeighted(streamBudget),
			queue: make(chan blocks.Block, streamQueue), done: make(chan struct{})}
		s.remote = append(s.remote, r)
		go s.send(r, &frameReader{s: s, r: r})
	}
	if s.local == nil && len(s.remote) == 0 {
		cancel()
		return nil, errors.New("stream blocks: no destination")
	}
	return s, nil
}

// memberAddrs maps the members' IDs to their cluster addresses.
func (p *Peer) memberAddrs() (map[string]string, error) {
	ms, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	addrOf := make(map[string]string, len(ms))
	for _, m := range ms {
		addrOf[m.ID] = m.ClusterAddr
	}
	return addrOf, nil
}

// send runs the call to one peer until the peer acknowledges the stream or
// either side gives up.
func (s *BlockStream) send(r *remoteSink, body *frameReader) {
	defer close(r.done)
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPost, "http://"+r.addr+"/v1/blocks", body)
	if err != nil {
		r.fail(err)
		return
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		r.fail(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		r.fail(readError(r.addr, resp))
		return
	}
	var ack blocksAck
	if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
		r.fail(fmt.Errorf("reading the acknowledgement: %w", err))
		return
	}
	if n := r.queued.Load(); ack.Blocks != n {
		r.fail(fmt.Errorf("acknowledged %d blocks of %d sent", ack.Blocks, n))
	}
}

// Put hands blocks to every destination still receiving: it writes them
// to the local blockstore, if this peer is one, and queues them for the
// others, waiting while a peer's queue is full. A peer whose stream fails
// is dropped (it will fetch the blocks after the pin, see Close); Put
// fails only when no destination is left, or ctx ends.
func (s *BlockStream) Put(ctx context.Context, bs []blocks.Block) error {
	out := make([]blocks.Block, 0, len(bs))
	for _, b := range bs {
		if len(b.RawData()) > ipfs.MaxBlockSize {
			return fmt.Errorf("block %s is %d bytes: %w", b.Cid(), len(b.RawData()), ipfs.ErrBlockTooBig)
		}
		if b.Cid().Prefix().MhType == mh.IDENTITY {
			continue // the data is in the CID: never stored, never sent
		}
		if _, ok := b.(*blocks.BasicBlock); !ok {
			// An ipld.Node may change after it was added (MFS edits
			// its directories in place): what is sent is the block as
			// it was handed over.
			var err error
			if b, err = blocks.NewBlockWithCid(b.RawData(), b.Cid()); err != nil {
				return err
			}
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return ctx.Err()
	}
	for _, r := range s.remote {
		r.enqueue(ctx, out)
	}
	if s.local != nil && s.local.failed() == nil {
		if err := s.p.deps.Node.Blocks.PutMany(ctx, out); err != nil {
			s.local.fail(err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if s.live() == 0 {
		return fmt.Errorf("every destination failed: %w", s.failures())
	}
	return nil
}

func (r *remoteSink) enqueue(ctx context.Context, bs []blocks.Block) {
	for _, b := range bs {
		n := int64(len(b.RawData()))
		if r.budget.Acquire(r.ctx, n) != nil {
			return // this peer failed: it is skipped from now on
		}
		select {
		case r.queue <- b:
			r.queued.Add(1)
		case <-r.ctx.Done():
			r.budget.Release(n)
			return
		case <-ctx.Done():
			r.budget.Release(n)
			return
		}
	}
}

// live counts the destinations that still receive every block.
func (s *BlockStream) live() int {
	n := 0
	if s.local != nil && s.local.failed() == nil {
		n++
	}
	for _, r := range s.remote {
		if r.ctx.Err() == nil {
			n++
		}
	}
	return n
}

// failures joins the errors of the destinations that failed so far.
func (s *BlockStream) failures() error {
	var errs []error
	if s.local != nil {
		if err := s.local.failed(); err != nil {
			errs = append(errs, fmt.Errorf("peer %s (local): %w", s.p.deps.ID, err))
		}
	}
	for _, r := range s.remote {
		select {
		case <-r.done:
			if r.err != nil {
				errs = append(errs, fmt.Errorf("peer %s: %w", r.id, r.err))
			}
		default:
			if r.ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("peer %s: %w", r.id, r.ctx.Err()))
			}
		}
	}
	return errors.Join(errs...)
}

// Close ends every peer's stream and waits until each one acknowledged
// that all its blocks are durable (the local blockstore is synced). It
// returns the peers that hold every block. As IPFS Cluster's adder, it
// fails only when none does: a peer whose stream failed is logged and,
// once pinned, fetches the blocks from those that hold them. roots are
// the DAGs whose every block went through Put (none for a partial DAG):
// the peers keep them for their pin and pin them without a walk.
func (s *BlockStream) Close(ctx context.Context, roots ...cid.Cid) ([]string, error) {
	s.closeOnce.Do(func() {
		if len(roots) <= maxTrailerRoots {
			s.roots = roots
		}
		for _, r := range s.remote {
			close(r.queue)
		}
	})
	defer s.Abort()
	var held []string
	if s.local != nil && s.local.failed() == nil {
		if err := s.p.deps.Node.SyncBlocks(ctx); err != nil {
			s.local.fail(err)
		} else {
			s.p.deps.Node.MarkReceived(s.roots, receivedFor)
			held = append(held, s.p.deps.ID)
		}
	}
	for _, r := range s.remote {
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.err == nil {
			held = append(held, r.id)
		}
	}
	if len(held) == 0 {
		return nil, fmt.Errorf("no allocated peer received the blocks: %w", s.failures())
	}
	if err := s.failures(); err != nil {
		s.p.log.Warn("block stream failed on some peers: they will fetch the blocks once pinned", "held", held, "err", err)
	}
	return held, nil
}

// Abort stops every stream and waits for the calls to return. Blocks a
// peer already stored stay there, unpinned, for its garbage collection.
// It is safe after Close.
func (s *BlockStream) Abort() {
	s.cancel()
	for _, r := range s.remote {
		<-r.done
	}
	s.hc.CloseIdleConnections()
}

// frameReader is the body of a stream's call: it encodes queued blocks
// as frames on the transport's demand, and releases their budget once
// their bytes are handed over; the trailer follows the last one.
type frameReader struct {
	s    *BlockStream
	r    *remoteSink
	done bool   // the trailer is out
	hdr  []byte // the rest of the current frame's header
	data []byte // the rest of the current frame's block
	held int64  // budget of the current frame
}

func (f *frameReader) Read(p []byte) (int, error) {
	if len(f.hdr) == 0 && len(f.data) == 0 {
		if f.held > 0 {
			f.r.budget.Release(f.held)
			f.held = 0
		}
		select {
		case b, ok := <-f.r.queue:
			if !ok {
				if f.done {
					return 0, io.EOF
				}
				f.done = true
				f.hdr = appendTrailer(f.hdr[:0], f.s.roots)
				break
			}
			f.hdr = appendFrameHeader(f.hdr[:0], b)
			f.data = b.RawData()
			f.held = int64(len(f.data))
		case <-f.r.ctx.Done():
			return 0, f.r.ctx.Err()
		}
	}
	n := copy(p, f.hdr)
	f.hdr = f.hdr[n:]
	m := copy(p[n:], f.data)
	f.data = f.data[m:]
	return n + m, nil
}

// appendFrameHeader appends what precedes a block's bytes in a frame.
func appendFrameHeader(dst []byte, b blocks.Block) []byte {
	c := b.Cid().Bytes()
	dst = binary.AppendUvarint(dst, uint64(len(c)))
	dst = append(dst, c...)
	return binary.AppendUvarint(dst, uint64(len(b.RawData())))
}

// appendTrailer appends the frame that ends a stream.
func appendTrailer(dst []byte, roots []cid.Cid) []byte {
	dst = binary.AppendUvarint(dst, 0)
	dst = binary.AppendUvarint(dst, uint64(len(roots)))
	for _, c := range roots {
		dst = binary.AppendUvarint(dst, uint64(c.ByteLen()))
		dst = append(dst, c.Bytes()...)
	}
	return dst
}

// frame is a block, or (end set) the trailer with its roots.
type frame struct {
	block blocks.Block
	end   bool
	roots []cid.Cid
}

// readFrame reads one frame, a block's bytes in a slice from alloc. io.EOF
// means the connection ended between two frames.
func readFrame(r *bufio.Reader, alloc func(n int) []byte) (frame, error) {
	n, err := binary.ReadUvarint(r)
	if err == io.EOF {
		return frame{}, io.EOF
	}
	if err != nil {
		return frame{}, frameErr(err)
	}
	if n == 0 {
		return readTrailer(r)
	}
	c, err := readCid(r, n)
	if err != nil {
		return frame{}, err
	}
	size, err := binary.ReadUvarint(r)
	if err != nil {
		return frame{}, frameErr(err)
	}
	if size > ipfs.MaxBlockSize {
		return frame{}, fmt.Errorf("%w: block %s is %d bytes: %w", errBadFrame, c, size, ipfs.ErrBlockTooBig)
	}
	data := alloc(int(size))
	if _, err := io.ReadFull(r, data); err != nil {
		return frame{}, frameErr(err)
	}
	b, err := blocks.NewBlockWithCid(data, c)
	return frame{block: b}, err
}

func readCid(r *bufio.Reader, n uint64) (cid.Cid, error) {
	if n == 0 || n > maxFrameCid {
		return cid.Undef, fmt.Errorf("%w: CID of %d bytes", errBadFrame, n)
	}
	var cb [maxFrameCid]byte
	if _, err := io.ReadFull(r, cb[:n]); err != nil {
		return cid.Undef, frameErr(err)
	}
	c, err := cid.Cast(cb[:n])
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %v", errBadFrame, err)
	}
	return c, nil
}

func readTrailer(r *bufio.Reader) (frame, error) {
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return frame{}, frameErr(err)
	}
	if count > maxTrailerRoots {
		return frame{}, fmt.Errorf("%w: %d roots", errBadFrame, count)
	}
	f := frame{end: true, roots: make([]cid.Cid, 0, min(count, 64))}
	for range count {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return frame{}, frameErr(err)
		}
		c, err := readCid(r, n)
		if err != nil {
			return frame{}, err
		}
		f.roots = append(f.roots, c)
	}
	return f, nil
}

// errVarintOverflow is encoding/binary's error for an overlong varint,
// which it does not export.
var _, errVarintOverflow = binary.ReadUvarint(bytes.NewReader(bytes.Repeat([]byte{0xff}, binary.MaxVarintLen64+1)))

// frameErr reports a failure to read inside a frame: an overlong varint
// is malformed, anything else (an end of stream, a broken connection) a
// stream cut short.
func frameErr(err error) error {
	if errors.Is(err, errVarintOverflow) {
		return fmt.Errorf("%w: %w", errBadFrame, err)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", errStreamCut, err)
}

// blocksAck is a peer's answer to a whole stream: every block is durable.
type blocksAck struct {
	Blocks int64 `json:"blocks"`
	Bytes  int64 `json:"bytes"`
}

// serveBlocks receives a block stream (POST /v1/blocks). It reads its own
// body, a stream of any length, unlike the other methods (see rpcHandler).
func (p *Peer) serveBlocks(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// A failure is answered while the sender may still be sending, so the
	// sender reads the reason rather than a broken pipe.
	http.NewResponseController(w).EnableFullDuplex()
	node := p.deps.Node
	// A garbage collection waits until the stream ends, as it waits for a
	// local add; then the roots' marks keep the blocks until the pin.
	unlock := node.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	ack, roots, err := receiveBlocks(ctx, r.Body, func(ctx context.Context, bs []blocks.Block) error {
		for _, b := range bs {
			if err := ipfs.VerifyBlock(b); err != nil {
				return err
			}
		}
		return node.Blocks.PutMany(ctx, bs)
	})
	if err == nil {
		err = node.SyncBlocks(ctx)
	}
	if err == nil {
		// Still under the pin lock: no collection ran since the first
		// block was written.
		node.MarkReceived(roots, receivedFor)
	}
	if err != nil {
		if errors.Is(err, errStreamCut) || ctx.Err() != nil {
			p.log.Info("block stream abandoned by its sender", "err", err)
		} else {
			_, status := errorKind(err)
			p.log.Warn("block stream refused", "status", status, "err", err)
		}
		writeError(w, err, "")
		http.NewResponseController(w).Flush()
		io.Copy(io.Discard, r.Body) // until the sender reads the answer and hangs up
		return
	}
	writeJSON(w, http.StatusOK, ack)
}

// batchBufs hold the bytes of a receiving batch, its blocks side by side:
// a stream allocates nothing per block, and the buffers are reused across
// batches and streams. A batch is committed before its buffer could
// overflow (receiveBatchBytes, plus one block at most).
var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, receiveBatchBytes+ipfs.MaxBlockSize)
	return &b
}}

// receiveBlocks reads frames from body and hands them to put in batches,
// a few batches at a time, while it reads on: when put falls behind, the
// reading stops and so, through the connection, does the sender. Blocks
// live in pooled buffers: put must not keep them after it returns.
func receiveBlocks(ctx context.Context, body io.Reader, put func(context.Context, []blocks.Block) error) (blocksAck, []cid.Cid, error) {
	var ack blocksAck
	var roots []cid.Cid
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(receiveInFlight)
	br := bufio.NewReaderSize(body, 256<<10)
	buf := batchBufs.Get().(*[]byte)
	var batch []blocks.Block
	commit := func() {
		if len(batch) == 0 {
			return
		}
		bs, b := batch, buf
		batch, buf = nil, batchBufs.Get().(*[]byte)
		g.Go(func() error {
			defer func() { *b = (*b)[:0]; batchBufs.Put(b) }()
			return put(gctx, bs)
		})
	}
	alloc := func(n int) []byte {
		start := len(*buf)
		if cap(*buf)-start < n {
			return make([]byte, n) // not reached: batches are committed before
		}
		*buf = (*buf)[:start+n]
		return (*buf)[start : start+n : start+n]
	}
	defer func() { *buf = (*buf)[:0]; batchBufs.Put(buf) }()
	for gctx.Err() == nil {
		f, err := readFrame(br, alloc)
		if err == io.EOF {
			err = fmt.Errorf("%w: no trailer", errStreamCut)
		}
		if err == nil && f.end {
			if _, err = br.ReadByte(); err == io.EOF {
				roots = f.roots
				break
			}
			err = fmt.Errorf("%w: data after the trailer", errBadFrame)
		}
		if err != nil {
			g.Wait()
			return ack, nil, err
		}
		b := f.block
		batch = append(batch, b)
		ack.Blocks++
		ack.Bytes += int64(len(b.RawData()))
		if len(*buf) >= receiveBatchBytes || len(batch) >= receiveBatchBlocks {
			commit()
		}
	}
	commit()
	if err := g.Wait(); err != nil {
		return ack, nil, err
	}
	return ack, roots, ctx.Err()
}
