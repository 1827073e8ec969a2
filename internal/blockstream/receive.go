package blockstream

import (
	"bufio"
	"context"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	"golang.org/x/sync/errgroup"
)

// Receive reads one stream from body into store and answers it: every
// block verified against its CID (block.Verify), written in batches
// while the reading goes on, and synced; then the roots of the trailer
// are marked received. A failure wraps ErrBadFrame or block.ErrBad
// for a stream the sender must not send again, ErrStreamCut for one that
// ended early. Blocks written before a failure stay, unpinned, for the
// next garbage collection.
func Receive(ctx context.Context, store Store, body io.Reader) (Ack, error) {
	// A garbage collection waits until the stream ends, as it waits for a
	// local add; then the roots' marks keep the blocks until the pin.
	unlock := store.PinLock(ctx)
	defer unlock()
	ack, roots, err := receiveBlocks(ctx, body, func(ctx context.Context, bs []blocks.Block) error {
		for _, b := range bs {
			if err := block.Verify(b); err != nil {
				return err
			}
		}
		return store.PutBlocks(ctx, bs)
	})
	if err == nil {
		err = store.SyncBlocks(ctx)
	}
	if err != nil {
		return Ack{}, err
	}
	// Still under the pin lock: no collection ran since the first block
	// was written.
	store.MarkReceived(roots, receivedFor)
	return ack, nil
}

// batchBufs hold the bytes of a receiving batch, its blocks side by side:
// a stream allocates nothing per block, and the buffers are reused across
// batches and streams. A batch is committed before its buffer could
// overflow (receiveBatchBytes, plus one block at most).
var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, receiveBatchBytes+block.MaxSize)
	return &b
}}

// receiveBlocks reads frames from body and hands them to put in batches,
// a few batches at a time, while it reads on: when put falls behind, the
// reading stops and so, through the connection, does the sender. Blocks
// live in pooled buffers: put must not keep them after it returns.
func receiveBlocks(ctx context.Context, body io.Reader, put func(context.Context, []blocks.Block) error) (Ack, []cid.Cid, error) {
	var ack Ack
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
			err = fmt.Errorf("%w: no trailer", ErrStreamCut)
		}
		if err == nil && f.end {
			if _, err = br.ReadByte(); err == io.EOF {
				roots = f.roots
				break
			}
			err = fmt.Errorf("%w: data after the trailer", ErrBadFrame)
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
