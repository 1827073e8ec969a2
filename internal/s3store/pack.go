package s3store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	mh "github.com/multiformats/go-multihash"
)

// A pack is one S3 object holding many blocks, version 1:
//
//	data     the blocks' bytes, concatenated in index order from offset 0
//	index    uvarint block count; per block: uvarint multihash length,
//	         multihash, uvarint block size; then uvarint count of the packs
//	         this one supersedes, and their 16-byte ids
//	footer   24 bytes: data length (uint64, where the index starts), index
//	         length (uint32), CRC-32C of the index (uint32), all little
//	         endian, then the magic "FLOTPAK1"
//
// Offsets are implied: a block starts where the one before it ends, so the
// sizes must add up to the data length, and a pack cannot describe
// overlapping or out-of-range blocks. The index is at the end so a pack is
// written in one pass, and read with one ranged GET of its tail (a second
// one when its index is longer than the first read guessed). A pack does
// not say which CIDs its blocks belong to, only their multihashes, which is
// what the block store is keyed by; every block read is hashed against it.
//
// Superseded packs are those whose live blocks a compaction copied into
// this one: whoever indexes this pack drops them, and a rebuild skips them,
// even while they still exist during their grace period.

const (
	footerSize = 24
	packMagic  = "FLOTPAK1"
	// tailGuess is how much of a pack's end a rebuild reads first: the
	// index of a 64 MiB pack of 256 KiB blocks is about 10 KiB (37 bytes
	// a block). A pack of smaller blocks takes a second GET; reading more
	// of every pack to spare those made a rebuild of 3,900 packs of 256
	// blocks move four times the bytes for nothing.
	tailGuess = 16 << 10
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errMalformed marks a pack whose footer or index does not parse.
var errMalformed = errors.New("malformed pack")

// packID names a pack: the writer that made it (a random id each data
// directory draws once), then 8 random bytes. Writers never coordinate, so
// the random half keeps ids apart; the writer half tells a store which
// unfinished uploads are its own.
type packID [16]byte

// writerID is the first half of a packID.
type writerID [8]byte

func newPackID(w writerID) packID {
	var id packID
	copy(id[:8], w[:])
	if _, err := rand.Read(id[8:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return id
}

func (id packID) writer() writerID { return writerID(id[:8]) }

// String is the id as it appears in object keys: 16 hex digits of the
// writer, a dash, 16 of the random half.
func (id packID) String() string {
	return hex.EncodeToString(id[:8]) + "-" + hex.EncodeToString(id[8:])
}

// shard spreads the packs over 256 key prefixes, so that S3 can partition
// them (one shared prefix is what makes S3 answer 503 SlowDown): the first
// byte of the random half.
func (id packID) shard() string { return hex.EncodeToString(id[8:9]) }

func parsePackID(s string) (packID, error) {
	var id packID
	w, r, ok := strings.Cut(s, "-")
	if !ok || len(w) != 16 || len(r) != 16 {
		return id, fmt.Errorf("pack id %q: want 16 hex digits, a dash, 16 hex digits", s)
	}
	if _, err := hex.Decode(id[:8], []byte(w)); err != nil {
		return id, fmt.Errorf("pack id %q: %v", s, err)
	}
	if _, err := hex.Decode(id[8:], []byte(r)); err != nil {
		return id, fmt.Errorf("pack id %q: %v", s, err)
	}
	return id, nil
}

// packEntry is one block of a pack.
type packEntry struct {
	hash   string // the multihash's bytes
	offset int64
	size   int64
}

// packIndex is what a pack's index says, with the offsets worked out.
type packIndex struct {
	id         packID
	size       int64 // of the whole object
	dataLen    int64
	blocks     []packEntry
	supersedes []packID
	// prev is the pack its writer wrote just before it (zero: none
	// known). It is not part of the pack's format but a hint in the
	// object's metadata (prevMetadata), which read-ahead follows from
	// one pack to the next.
	prev packID
}

// packBuilder collects blocks into the data section of a pack. A pack
// holds each multihash once.
type packBuilder struct {
	data   []byte
	blocks []packEntry
	has    map[string]bool
}

func newPackBuilder() *packBuilder { return &packBuilder{has: map[string]bool{}} }

func (b *packBuilder) add(hash string, value []byte) {
	if b.has[hash] {
		return
	}
	b.has[hash] = true
	b.blocks = append(b.blocks, packEntry{hash: hash, offset: int64(len(b.data)), size: int64(len(value))})
	b.data = append(b.data, value...)
}

// remove drops a block added before (a batch that deletes what it put).
func (b *packBuilder) remove(hash string) {
	if !b.has[hash] {
		return
	}
	rest := newPackBuilder()
	for _, e := range b.blocks {
		if e.hash != hash {
			rest.add(e.hash, b.data[e.offset:e.offset+e.size])
		}
	}
	*b = *rest
}

func (b *packBuilder) len() int64 { return int64(len(b.data)) }

func (b *packBuilder) empty() bool { return len(b.blocks) == 0 }

// merge appends the blocks of other.
func (b *packBuilder) merge(other *packBuilder) {
	for _, e := range other.blocks {
		b.add(e.hash, other.data[e.offset:e.offset+e.size])
	}
}

// finish returns the whole pack object and its index. The builder must
// not be used afterwards: the object shares its data.
func (b *packBuilder) finish(id packID, supersedes []packID) ([]byte, *packIndex) {
	idx := encodeIndex(b.blocks, supersedes)
	obj := append(b.data, idx...)
	obj = appendFooter(obj, int64(len(b.data)), idx)
	return obj, &packIndex{id: id, size: int64(len(obj)), dataLen: int64(len(b.data)), blocks: b.blocks, supersedes: supersedes}
}

func encodeIndex(blocks []packEntry, supersedes []packID) []byte {
	var idx []byte
	idx = binary.AppendUvarint(idx, uint64(len(blocks)))
	for _, e := range blocks {
		idx = binary.AppendUvarint(idx, uint64(len(e.hash)))
		idx = append(idx, e.hash...)
		idx = binary.AppendUvarint(idx, uint64(e.size))
	}
	idx = binary.AppendUvarint(idx, uint64(len(supersedes)))
	for _, id := range supersedes {
		idx = append(idx, id[:]...)
	}
	return idx
}

func appendFooter(obj []byte, dataLen int64, idx []byte) []byte {
	obj = binary.LittleEndian.AppendUint64(obj, uint64(dataLen))
	obj = binary.LittleEndian.AppendUint32(obj, uint32(len(idx)))
	obj = binary.LittleEndian.AppendUint32(obj, crc32.Checksum(idx, crcTable))
	return append(obj, packMagic...)
}

// footer is the fixed end of a pack.
type footer struct {
	dataLen  int64
	indexLen int64
	crc      uint32
}

// parseFooter reads the footer at the end of tail, the last bytes of an
// object of objSize bytes, and checks that it fits the object.
func parseFooter(tail []byte, objSize int64) (footer, error) {
	if len(tail) < footerSize || objSize < footerSize {
		return footer{}, fmt.Errorf("%w: %d bytes, shorter than a footer", errMalformed, objSize)
	}
	b := tail[len(tail)-footerSize:]
	if string(b[16:]) != packMagic {
		return footer{}, fmt.Errorf("%w: no %s magic at the end", errMalformed, packMagic)
	}
	f := footer{
		dataLen:  int64(binary.LittleEndian.Uint64(b[0:8])),
		indexLen: int64(binary.LittleEndian.Uint32(b[8:12])),
		crc:      binary.LittleEndian.Uint32(b[12:16]),
	}
	if f.dataLen < 0 || f.dataLen > objSize || objSize-f.dataLen != f.indexLen+footerSize {
		return footer{}, fmt.Errorf("%w: data length %d and index length %d do not add up to the object's %d bytes", errMalformed, f.dataLen, f.indexLen, objSize)
	}
	return f, nil
}

// parseIndex decodes a pack's index, checked against its footer.
func parseIndex(id packID, raw []byte, f footer) (*packIndex, error) {
	if int64(len(raw)) != f.indexLen {
		return nil, fmt.Errorf("%w: index is %d bytes, footer says %d", errMalformed, len(raw), f.indexLen)
	}
	if crc32.Checksum(raw, crcTable) != f.crc {
		return nil, fmt.Errorf("%w: index checksum mismatch", errMalformed)
	}
	r := bytes.NewReader(raw)
	uvarint := func(what string) (uint64, error) {
		v, err := binary.ReadUvarint(r)
		if err != nil {
			return 0, fmt.Errorf("%w: reading %s: %v", errMalformed, what, err)
		}
		return v, nil
	}
	n, err := uvarint("the block count")
	if err != nil {
		return nil, err
	}
	// Each entry takes at least 4 bytes: bound the allocation by the input.
	if n > uint64(len(raw))/4 {
		return nil, fmt.Errorf("%w: %d blocks cannot fit in a %d-byte index", errMalformed, n, len(raw))
	}
	p := &packIndex{id: id, size: f.dataLen + f.indexLen + footerSize, dataLen: f.dataLen, blocks: make([]packEntry, 0, n)}
	var off int64
	for i := range n {
		hl, err := uvarint("a multihash length")
		if err != nil {
			return nil, err
		}
		if hl > uint64(r.Len()) {
			return nil, fmt.Errorf("%w: block %d: multihash length %d past the end of the index", errMalformed, i, hl)
		}
		h := make([]byte, hl)
		r.Read(h)
		if _, err := mh.Cast(h); err != nil {
			return nil, fmt.Errorf("%w: block %d: %v", errMalformed, i, err)
		}
		size, err := uvarint("a block size")
		if err != nil {
			return nil, err
		}
		if size > uint64(f.dataLen-off) {
			return nil, fmt.Errorf("%w: block %d: %d bytes at offset %d overrun the %d bytes of data", errMalformed, i, size, off, f.dataLen)
		}
		p.blocks = append(p.blocks, packEntry{hash: string(h), offset: off, size: int64(size)})
		off += int64(size)
	}
	if off != f.dataLen {
		return nil, fmt.Errorf("%w: blocks cover %d of %d bytes of data", errMalformed, off, f.dataLen)
	}
	ns, err := uvarint("the superseded count")
	if err != nil {
		return nil, err
	}
	if ns > uint64(r.Len())/16 || ns*16 != uint64(r.Len()) {
		return nil, fmt.Errorf("%w: %d superseded packs do not fit the %d bytes left", errMalformed, ns, r.Len())
	}
	for range ns {
		var old packID
		r.Read(old[:])
		if old == id {
			return nil, fmt.Errorf("%w: the pack supersedes itself", errMalformed)
		}
		p.supersedes = append(p.supersedes, old)
	}
	return p, nil
}

// decodePack parses a whole pack object (or one whose data section is
// elided: only the index and footer are read).
func decodePack(id packID, obj []byte) (*packIndex, error) {
	f, err := parseFooter(obj, int64(len(obj)))
	if err != nil {
		return nil, err
	}
	return parseIndex(id, obj[f.dataLen:f.dataLen+f.indexLen], f)
}
