package s3store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func TestPackRoundTrip(t *testing.T) {
	p := newPackBuilder()
	blocks := makeBlocks(40, 5, 300)
	for _, b := range blocks {
		p.add(mustHash(t, b), b.data)
	}
	p.add(mustHash(t, blocks[0]), blocks[0].data) // twice: stored once
	empty := keyOf(nil)
	p.add(mustHash(t, testBlock{key: empty}), nil) // a block of no bytes
	w := writerID{9}
	id, old := newPackID(w), newPackID(w)
	obj, built := p.finish(id, []packID{old})

	got, err := decodePack(id, obj)
	if err != nil {
		t.Fatalf("decodePack: %v", err)
	}
	if got.size != int64(len(obj)) || got.dataLen != 1500 || len(got.blocks) != 6 || len(got.supersedes) != 1 || got.supersedes[0] != old {
		t.Fatalf("decoded %+v, want 6 blocks over 1500 bytes superseding %s", got, old)
	}
	for i, e := range got.blocks {
		if e != built.blocks[i] {
			t.Errorf("block %d decoded as %+v, built as %+v", i, e, built.blocks[i])
		}
		if i < len(blocks) && !bytes.Equal(obj[e.offset:e.offset+e.size], blocks[i].data) {
			t.Errorf("block %d: the bytes at its offset are not its data", i)
		}
	}
	if id.writer() != w {
		t.Errorf("writer of %s = %x, want %x", id, id.writer(), w)
	}
	if back, err := parsePackID(id.String()); err != nil || back != id {
		t.Errorf("parsePackID(%q) = %s, %v", id, back, err)
	}
}

func TestPackIDParse(t *testing.T) {
	for _, s := range []string{"", "0123456789abcdef", "0123456789abcdef-0123", "0123456789abcdeg-0123456789abcdef", "0123456789abcdef_0123456789abcdef"} {
		if _, err := parsePackID(s); err == nil {
			t.Errorf("parsePackID(%q) succeeded", s)
		}
	}
}

// Damaged packs are refused with errMalformed, whatever is damaged.
func TestMalformedPacks(t *testing.T) {
	p := newPackBuilder()
	for _, b := range makeBlocks(41, 3, 100) {
		p.add(mustHash(t, b), b.data)
	}
	id := newPackID(writerID{})
	good, built := p.finish(id, nil)
	dataLen := built.dataLen
	idx := good[dataLen : len(good)-footerSize]
	withIndex := func(idx []byte) []byte { // a well-formed footer around idx
		obj := append(bytes.Clone(good[:dataLen]), idx...)
		return appendFooter(obj, dataLen, idx)
	}
	long := slices.Clone(built.blocks)
	long[0].size++
	short := slices.Clone(built.blocks)
	short[2].size--
	for name, obj := range map[string][]byte{
		"empty":           nil,
		"short":           good[:10],
		"truncated":       good[1:],
		"no magic":        append(bytes.Clone(good[:len(good)-1]), 'X'),
		"bad crc":         append(append(bytes.Clone(good[:dataLen]), idx[0]^1), good[dataLen+1:]...),
		"count too big":   withIndex(append(binary.AppendUvarint(nil, 1<<40), idx[1:]...)),
		"blocks too long": withIndex(encodeIndex(long, nil)),
		"blocks short":    withIndex(encodeIndex(short, nil)),
		"trailing bytes":  withIndex(append(bytes.Clone(idx), 0)),
		"bad multihash":   withIndex([]byte{1, 2, 0x12, 0x05, 0xac, 0x02, 0}), // sha2-256 of 5 bytes, none given
		"bad superseded":  withIndex(append(bytes.Clone(idx[:len(idx)-1]), 1, 2, 3)),
		"self-superseded": withIndex(encodeIndex(built.blocks, []packID{id})),
	} {
		if _, err := decodePack(id, obj); !errors.Is(err, errMalformed) {
			t.Errorf("decodePack(%s) error = %v, want errMalformed", name, err)
		}
	}
}

// FuzzPackTrailer feeds arbitrary objects to the footer and index parser:
// it must not panic or allocate without bound, and what it accepts must
// have blocks that tile the data section and re-encode to the same index.
func FuzzPackTrailer(f *testing.F) {
	p := newPackBuilder()
	for _, b := range makeBlocks(42, 4, 50) {
		h, _ := blockHash(b.key)
		p.add(h, b.data)
	}
	id := newPackID(writerID{})
	good, _ := p.finish(id, []packID{newPackID(writerID{1})})
	f.Add(good)
	f.Add(good[200:]) // the index and footer alone
	f.Add(appendFooter(nil, 0, encodeIndex(nil, nil)))
	f.Fuzz(func(t *testing.T, obj []byte) {
		pi, err := decodePack(id, obj)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v is not errMalformed", err)
			}
			return
		}
		var off int64
		for _, e := range pi.blocks {
			if e.offset != off || e.size < 0 {
				t.Fatalf("block at %d (%d bytes), want it at %d", e.offset, e.size, off)
			}
			off += e.size
		}
		if off != pi.dataLen || pi.size != int64(len(obj)) {
			t.Fatalf("blocks cover %d bytes of %d, object %d of %d", off, pi.dataLen, pi.size, len(obj))
		}
		idx := encodeIndex(pi.blocks, pi.supersedes)
		again, err := decodePack(id, appendFooter(append(bytes.Clone(obj[:pi.dataLen]), idx...), pi.dataLen, idx))
		if err != nil {
			t.Fatalf("re-encoded pack does not decode: %v", err)
		}
		if !slices.Equal(again.blocks, pi.blocks) || !slices.Equal(again.supersedes, pi.supersedes) {
			t.Fatalf("re-encoded pack decodes differently")
		}
	})
}
