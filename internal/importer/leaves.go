package importer

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"

	chunker "github.com/ipfs/boxo/chunker"
	dag "github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	pb "github.com/ipfs/boxo/ipld/unixfs/pb"
	cid "github.com/ipfs/go-cid"
)

// Hashing every leaf is most of an import's CPU time in user space, and
// boxo's layouts hash each leaf when they create it, one at a time. The layouts must build
// the tree in order, but a leaf's CID depends only on its bytes, so the work
// can be done ahead: a hashAhead splitter reads chunks before the layout asks
// for them and hashes them on every core, and the CID builder given to the
// layout (a memoBuilder) answers with the CID already computed when it is
// asked to hash exactly those bytes. The layout itself is boxo's, untouched,
// so the DAG is the one Kubo builds.

// readAheadPerWorker bounds the chunks read but not yet consumed by the
// layout: enough to keep every worker busy while the layout waits for a
// write slot, small enough to keep memory flat (2 MiB per core with the
// default 256 KiB chunks, 8 MiB with unixfs-v1-2025's 1 MiB).
const readAheadPerWorker = 8

// memoWindow is how many handed-out chunks stay answerable. The balanced
// layout asks for a leaf's CID after it has taken the next chunk (a
// non-raw leaf is hashed when its parent links it), so it must hold at
// least two.
const memoWindow = 4

// leafKind says what the layout hashes for a chunk: the chunk itself
// (raw leaves) or a dag-pb node wrapping it in a UnixFS node of a type
// that depends on the layout.
type leafKind struct {
	raw      bool
	unixType pb.Data_DataType // for non-raw leaves: TFile (balanced), TRaw (trickle)
}

// chunk is one chunk read ahead and, once done is closed, its leaf's CID.
type chunk struct {
	data   []byte
	err    error         // from the splitter; io.EOF at the end
	done   chan struct{} // closed when input, sum and sumErr are set
	input  []byte        // the bytes the layout will hash
	sum    cid.Cid
	sumErr error
}

// hashAhead is a chunker.Splitter that reads from inner on its own
// goroutine and hashes leaves on worker goroutines. NextBytes hands chunks
// out in order and keeps them answerable by the memo. It is used by one
// goroutine, the layout's.
type hashAhead struct {
	ctx     context.Context
	inner   chunker.Splitter
	ordered chan *chunk
	quit    chan struct{}
	wg      sync.WaitGroup // reader and workers
	memo    *leafMemo
	report  func(int64) // bytes handed out so far, on the layout's goroutine
	read    int64
	last    int64 // read at the last report
	err     error // the splitter's last word (io.EOF at the end), repeated
}

// newHashAhead starts the reader and the workers; stop must be called. The
// leaves are hashed with leafBuilder, the builder the layout will use for
// them (already set to their codec).
func newHashAhead(ctx context.Context, inner chunker.Splitter, kind leafKind, leafBuilder cid.Builder, memo *leafMemo, report func(int64)) *hashAhead {
	workers := runtime.GOMAXPROCS(0)
	h := &hashAhead{
		ctx:     ctx,
		inner:   inner,
		ordered: make(chan *chunk, workers*readAheadPerWorker),
		quit:    make(chan struct{}),
		memo:    memo,
		report:  report,
	}
	work := make(chan *chunk, workers*readAheadPerWorker)
	h.wg.Add(1 + workers)
	go func() {
		defer h.wg.Done()
		defer close(work)
		defer close(h.ordered)
		for {
			data, err := inner.NextBytes()
			c := &chunk{data: data, err: err, done: make(chan struct{})}
			if err != nil {
				close(c.done)
			}
			select {
			case h.ordered <- c:
			case <-h.quit:
				return
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			work <- c // workers always drain work: this waits for a hash at most
		}
	}()
	for range workers {
		go func() {
			defer h.wg.Done()
			for c := range work {
				c.input, c.sum, c.sumErr = hashLeaf(c.data, kind, leafBuilder)
				close(c.done)
			}
		}()
	}
	return h
}

// hashLeaf computes what the layout will compute for a leaf holding data:
// the same boxo calls on the same bytes, so the memo can only ever hand
// back the CID the layout would have computed.
func hashLeaf(data []byte, kind leafKind, b cid.Builder) ([]byte, cid.Cid, error) {
	if kind.raw {
		c, err := b.Sum(data)
		return data, c, err
	}
	fsn := ft.NewFSNode(kind.unixType)
	fsn.SetData(data)
	fileData, err := fsn.GetBytes()
	if err != nil {
		return nil, cid.Undef, err
	}
	nd := dag.NodeWithData(fileData)
	if err := nd.SetCidBuilder(b); err != nil {
		return nil, cid.Undef, err
	}
	enc, err := nd.EncodeProtobuf(false)
	if err != nil {
		return nil, cid.Undef, err
	}
	return enc, nd.Cid(), nil
}

// NextBytes returns the next chunk and makes its leaf answerable.
// boxo's layouts keep asking after io.EOF, so the end is repeated.
func (h *hashAhead) NextBytes() ([]byte, error) {
	if h.err != nil {
		return nil, h.err
	}
	c, ok := <-h.ordered
	if !ok {
		// The reader gave up because the import was cancelled.
		h.err = h.ctx.Err()
		return nil, h.err
	}
	if c.err != nil {
		h.err = c.err
		if c.err == io.EOF && h.read != h.last {
			h.report(h.read)
		}
		return nil, c.err
	}
	h.memo.push(c)
	h.read += int64(len(c.data))
	if h.read-h.last >= progressStep {
		h.last = h.read
		h.report(h.read)
	}
	return c.data, nil
}

// Reader returns the inner splitter's reader, as boxo's filestore support
// looks at it.
func (h *hashAhead) Reader() io.Reader { return h.inner.Reader() }

// stop ends the reader and the workers and waits for them, so that nothing
// reads the file after its import returns. It is safe to call after EOF.
func (h *hashAhead) stop() {
	close(h.quit)
	// Unblock a reader waiting for room in ordered.
	for range h.ordered {
	}
	h.wg.Wait()
	h.memo.clear()
}

// leafMemo holds the last chunks handed to the layout with their leaves'
// CIDs. It is shared by the memoBuilders of one file import.
type leafMemo struct {
	codec uint64 // the leaves' codec: only builders for it may answer from the memo

	mu     sync.Mutex
	recent []*chunk // oldest first, at most memoWindow
	hits   int      // for tests: leaves answered from the memo
}

func (m *leafMemo) push(c *chunk) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recent) == memoWindow {
		copy(m.recent, m.recent[1:])
		m.recent = m.recent[:memoWindow-1]
	}
	m.recent = append(m.recent, c)
}

// clear drops the chunks, so that nodes that outlive the import (the root
// keeps its builder) do not keep their bytes alive.
func (m *leafMemo) clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recent = nil
}

// lookup returns the CID computed ahead for exactly these bytes. Raw leaves
// are the very slices handed out, which bytes.Equal recognises without
// reading them; dag-pb leaves are compared in full, which costs a fraction
// of hashing them.
func (m *leafMemo) lookup(data []byte) (cid.Cid, bool) {
	m.mu.Lock()
	var found *chunk
	for _, c := range m.recent {
		<-c.done // the layout only asks for chunks it was handed, so this is brief
		if len(c.input) == len(data) && c.sumErr == nil && bytes.Equal(c.input, data) {
			found = c
			break
		}
	}
	if found != nil {
		m.hits++
	}
	m.mu.Unlock()
	if found == nil {
		return cid.Undef, false
	}
	return found.sum, true
}

// memoBuilder is the CID builder handed to the layout: it hashes as base
// does, answering from the memo for the leaves' codec.
type memoBuilder struct {
	base cid.Builder
	memo *leafMemo
}

var _ cid.Builder = memoBuilder{}

// Sum returns base's CID of data, computed ahead when data is a leaf.
func (b memoBuilder) Sum(data []byte) (cid.Cid, error) {
	if b.base.GetCodec() == b.memo.codec {
		if c, ok := b.memo.lookup(data); ok {
			return c, nil
		}
	}
	return b.base.Sum(data)
}

// GetCodec returns base's codec.
func (b memoBuilder) GetCodec() uint64 { return b.base.GetCodec() }

// WithCodec keeps the memo only for the leaves' codec: the layout's other
// nodes get a plain builder and never look.
func (b memoBuilder) WithCodec(c uint64) cid.Builder {
	nb := b.base.WithCodec(c)
	if c != b.memo.codec {
		return nb
	}
	return memoBuilder{base: nb, memo: b.memo}
}
