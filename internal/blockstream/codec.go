package blockstream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
)

// The wire format of a stream (see the package documentation): frames of
// a CID and a block's bytes, each length a uvarint, then a trailer that
// starts with a zero length and lists the roots.

const (
	// maxFrameCid bounds a frame's CID length, far above any real CID.
	maxFrameCid = 256
	// maxTrailerRoots bounds the roots a stream may name; a stream with
	// more names none (its peers then read the DAGs back when pinning).
	maxTrailerRoots = 1 << 16
)

// ErrBadFrame marks a malformed stream (the receiver refuses it, as a
// client's error); ErrStreamCut one that ended inside a frame or whose
// connection failed (a sender that gave up).
var (
	ErrBadFrame  = errors.New("malformed block stream")
	ErrStreamCut = errors.New("block stream cut short")
)

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
	if size > block.MaxSize {
		return frame{}, fmt.Errorf("%w: block %s is %d bytes: %w", ErrBadFrame, c, size, block.ErrTooBig)
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
		return cid.Undef, fmt.Errorf("%w: CID of %d bytes", ErrBadFrame, n)
	}
	var cb [maxFrameCid]byte
	if _, err := io.ReadFull(r, cb[:n]); err != nil {
		return cid.Undef, frameErr(err)
	}
	c, err := cid.Cast(cb[:n])
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	return c, nil
}

func readTrailer(r *bufio.Reader) (frame, error) {
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return frame{}, frameErr(err)
	}
	if count > maxTrailerRoots {
		return frame{}, fmt.Errorf("%w: %d roots", ErrBadFrame, count)
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
		return fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", ErrStreamCut, err)
}
