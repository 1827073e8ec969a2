package blockstream

import (
	"context"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/sync/semaphore"
)

// Stream sends blocks to a fixed set of peers. It is made for one add:
// Put from any number of goroutines, then Close once (after every Put has
// returned), or Abort.
type Stream struct {
	deps   Deps
	ctx    context.Context
	cancel context.CancelFunc
	local  *localSink    // nil when this peer is not a destination
	remote []*remoteSink // one per other peer
	roots  []cid.Cid     // set by Close before the queues close

	closeOnce sync.Once
}

// localSink is this peer's own Store as a destination.
type localSink struct {
	id  string
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
	queue    chan blocks.Block   // closed by Stream.Close
	queued   atomic.Int64        // blocks queued, for the peer's acknowledgement
	done     chan struct{}       // closed when the call returned; err is set then
	err      error
}

func (r *remoteSink) fail(err error) {
	r.err = err
	r.cancel()
}

// Open starts a stream to every peer of to (the first of each ID): the
// calls to other peers start at once and carry blocks as Put queues them.
// When this peer is a destination (a Dest without Addr), its Store is
// written in process: the caller then holds the Store's pin lock from the
// first Put to Close, as an add does, so that no garbage collection runs
// before the roots are marked.
func Open(ctx context.Context, deps Deps, to []Dest) (*Stream, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{deps: deps, ctx: ctx, cancel: cancel}
	seen := map[string]bool{}
	for _, d := range to {
		if seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		if d.Addr == "" {
			s.local = &localSink{id: d.ID}
			continue
		}
		rctx, rcancel := context.WithCancel(ctx)
		s.remote = append(s.remote, &remoteSink{id: d.ID, addr: d.Addr, ctx: rctx, cancel: rcancel,
			budget: semaphore.NewWeighted(streamBudget), queue: make(chan blocks.Block, streamQueue), done: make(chan struct{})})
	}
	switch {
	case s.local == nil && len(s.remote) == 0:
		cancel()
		return nil, errors.New("stream blocks: no destination")
	case s.local != nil && deps.Store == nil, len(s.remote) > 0 && deps.Send == nil:
		cancel()
		return nil, errors.New("stream blocks: no store for this peer, or no way to reach the others")
	}
	for _, r := range s.remote {
		go s.send(r)
	}
	return s, nil
}

// send runs the call to one peer until the peer acknowledges the stream or
// either side gives up.
func (s *Stream) send(r *remoteSink) {
	defer close(r.done)
	ack, err := s.deps.Send(r.ctx, r.addr, &frameReader{s: s, r: r})
	if err != nil {
		r.fail(err)
		return
	}
	if n := r.queued.Load(); ack.Blocks != n {
		r.fail(fmt.Errorf("acknowledged %d blocks of %d sent", ack.Blocks, n))
	}
}

// Put hands blocks to every destination still receiving: it writes them
// to the local Store, if this peer is one, and queues them for the others,
// waiting while a peer's queue is full. A peer whose stream fails is
// dropped (it will fetch the blocks after the pin, see Close); Put fails
// only when no destination is left, or ctx ends.
func (s *Stream) Put(ctx context.Context, bs []blocks.Block) error {
	out := make([]blocks.Block, 0, len(bs))
	for _, b := range bs {
		if len(b.RawData()) > block.MaxSize {
			return fmt.Errorf("block %s is %d bytes: %w", b.Cid(), len(b.RawData()), block.ErrTooBig)
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
		if err := s.deps.Store.PutBlocks(ctx, out); err != nil {
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
func (s *Stream) live() int {
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
func (s *Stream) failures() error {
	var errs []error
	if s.local != nil {
		if err := s.local.failed(); err != nil {
			errs = append(errs, fmt.Errorf("peer %s (local): %w", s.local.id, err))
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
// that all its blocks are durable (the local Store is synced). It returns
// the peers that hold every block. As IPFS Cluster's adder, it fails only
// when none does: a peer whose stream failed is logged and, once pinned,
// fetches the blocks from those that hold them. roots are the DAGs whose
// every block went through Put (none for a partial DAG): the peers keep
// them for their pin and pin them without a walk.
func (s *Stream) Close(ctx context.Context, roots ...cid.Cid) ([]string, error) {
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
		if err := s.deps.Store.SyncBlocks(ctx); err != nil {
			s.local.fail(err)
		} else {
			s.deps.Store.MarkReceived(s.roots, receivedFor)
			held = append(held, s.local.id)
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
		s.deps.Log.Warn("block stream failed on some peers: they will fetch the blocks once pinned", "held", held, "err", err)
	}
	return held, nil
}

// Abort stops every stream and waits for the calls to return. Blocks a
// peer already stored stay there, unpinned, for its garbage collection.
// It is safe after Close.
func (s *Stream) Abort() {
	s.cancel()
	for _, r := range s.remote {
		<-r.done
	}
}

// frameReader is the body of a stream's call: it encodes queued blocks
// as frames on the transport's demand, and releases their budget once
// their bytes are handed over; the trailer follows the last one.
type frameReader struct {
	s    *Stream
	r    *remoteSink
	done bool   // the trailer is out
	hdr  []byte // the rest of the current frame's header
	data []byte // the rest of the current frame's block
	held int64  // budget of the current frame
}

var _ io.Reader = (*frameReader)(nil)

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
