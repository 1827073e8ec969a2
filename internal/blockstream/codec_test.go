package blockstream

import (
	"bufio"
	"bytes"
	"errors"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
)

// Frames round-trip, and no input makes readFrame panic or hand out a
// block over the size limit.
func FuzzReadFrame(f *testing.F) {
	var stream []byte
	for _, data := range [][]byte{nil, []byte("a"), bytes.Repeat([]byte("x"), 300)} {
		b := blocks.NewBlock(data)
		stream = append(appendFrameHeader(stream, b), data...)
	}
	f.Add(appendTrailer(bytes.Clone(stream), []cid.Cid{blocks.NewBlock(nil).Cid(), emptyDir}))
	f.Add(stream[:len(stream)-1])
	f.Add([]byte{0x80})
	f.Add([]byte{34, 0x12, 0x20})
	f.Add([]byte{0, 1, 34})
	f.Fuzz(func(t *testing.T, in []byte) {
		read := func(in []byte) []frame {
			r := bufio.NewReader(bytes.NewReader(in))
			var out []frame
			for {
				f, err := readFrame(r, func(n int) []byte { return make([]byte, n) })
				if err == io.EOF {
					return out
				}
				if err != nil {
					if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrStreamCut) {
						t.Fatalf("readFrame error %v is neither ErrBadFrame nor ErrStreamCut", err)
					}
					return nil
				}
				if !f.end && len(f.block.RawData()) > block.MaxSize {
					t.Fatalf("block of %d bytes", len(f.block.RawData()))
				}
				out = append(out, f)
			}
		}
		got := read(in)
		var again []byte
		for _, f := range got {
			if f.end {
				again = appendTrailer(again, f.roots)
			} else {
				again = append(appendFrameHeader(again, f.block), f.block.RawData()...)
			}
		}
		back := read(again)
		if len(back) != len(got) {
			t.Fatalf("%d frames re-read as %d", len(got), len(back))
		}
		for i, f := range got {
			g := back[i]
			if f.end != g.end || len(f.roots) != len(g.roots) ||
				!f.end && (!g.block.Cid().Equals(f.block.Cid()) || !bytes.Equal(g.block.RawData(), f.block.RawData())) {
				t.Fatalf("frame %d changed on re-encoding", i)
			}
			for j := range f.roots {
				if !f.roots[j].Equals(g.roots[j]) {
					t.Fatalf("trailer root %d changed on re-encoding", j)
				}
			}
		}
	})
}

// emptyDir is the empty UnixFS directory: a CIDv0 in a trailer.
var emptyDir = cid.MustParse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
