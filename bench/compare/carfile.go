package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/flotilla-ipfs/flotilla/bench/internal/payload"
)

// blockSize is the size of each block the pin workloads pin: small, so
// that the figures are about the pinning machinery, not about moving
// bytes.
const blockSize = 256

// writeBlocksCAR writes n distinct raw blocks of blockSize bytes to a
// CARv1 file at path and returns their CIDs, in order. The same seed
// gives the same blocks.
func writeBlocksCAR(path, seed string, n int) ([]string, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	rng := payload.NewReader(seed)
	cids := make([]string, 0, n)
	for i := range n {
		data := make([]byte, blockSize)
		k := copy(data, fmt.Sprintf("bench-compare %s block %d\n", seed, i))
		if _, err := io.ReadFull(rng, data[k:]); err != nil {
			return nil, err
		}
		sum, err := mh.Sum(data, mh.SHA2_256, -1)
		if err != nil {
			return nil, err
		}
		c := cid.NewCidV1(cid.Raw, sum)
		if i == 0 {
			if err := writeCARHeader(w, c); err != nil {
				return nil, err
			}
		}
		if err := writeCARSection(w, c.Bytes(), data); err != nil {
			return nil, err
		}
		cids = append(cids, c.String())
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return cids, f.Close()
}

// writeCARHeader writes a CARv1 header naming one root: the dag-cbor map
// {"roots": [root], "version": 1}, keys in dag-cbor order (length first).
func writeCARHeader(w io.Writer, root cid.Cid) error {
	link := append([]byte{0}, root.Bytes()...) // CID links are tag 42 over 0x00 + binary CID
	var h []byte
	h = append(h, 0xa2)               // map, 2 entries
	h = append(h, 0x65)               // text, 5 bytes
	h = append(h, "roots"...)         //
	h = append(h, 0x81, 0xd8, 0x2a)   // array of 1; tag 42
	h = cborBytesHeader(h, len(link)) // byte string
	h = append(h, link...)            //
	h = append(h, 0x67)               // text, 7 bytes
	h = append(h, "version"...)       //
	h = append(h, 0x01)               // unsigned 1
	return writeCARSection(w, h, nil)
}

// cborBytesHeader appends the head of a CBOR byte string of n bytes.
func cborBytesHeader(b []byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, 0x40|byte(n))
	case n < 256:
		return append(b, 0x58, byte(n))
	default:
		return append(b, 0x59, byte(n>>8), byte(n))
	}
}

// writeCARSection writes the varint length of a+b, then a and b.
func writeCARSection(w io.Writer, a, b []byte) error {
	var v [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(v[:], uint64(len(a)+len(b)))
	for _, p := range [][]byte{v[:k], a, b} {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}
