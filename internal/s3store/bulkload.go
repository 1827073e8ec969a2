package s3store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// bulkBatchBytes is how large a bulk load's batch grows before it is
// committed: large batches cost pebble far less per key than one batch
// per pack, and a batch this size (over half the memtable) goes in as a
// memtable of its own instead of being copied into the current one.
const bulkBatchBytes = 16 << 20

// bulkLoad enters many packs found in the bucket at once: a rebuild of
// an empty index, or a start that finds packs it does not know (a
// shared bucket after a long absence). Only packs that supersede none
// go through it; the others are applied one by one afterwards (apply),
// since they move blocks that the load may just have entered.
//
// A block that another pack holds already stays there, as with apply,
// but finding out costs far less. apply asks pebble for each block of a
// pack: a rebuild of a million blocks made a million point lookups, each
// reading index and filter blocks from disk once the index outgrew the
// block cache (two thirds of the rebuild's CPU). Here seen, a set of
// multihashes, answers from memory. When the index holds few blocks
// beside those to load (none, in a rebuild), seen starts with all of
// them, read in one scan, and then holds every block the index will
// hold: no lookup at all, and the load is kept in memory and written at
// the end as one sorted sstable that pebble ingests (no write-ahead log,
// no memtable; into an empty index, no compaction rewriting it either).
// Into a large index, seen holds only the blocks the load entered, the
// others are looked up through an iterator that reads the bloom filters
// of every level, and the load goes in large batches.
//
// seen costs a map entry per block. Its keys for the packs loaded are
// the multihash strings of their indexes, which the caller holds anyway.
//
// Not safe for concurrent use. Nothing else may write to the index while
// a load runs (Open runs it before the store serves anything).
type bulkLoad struct {
	x *index
	// seen holds the blocks the load entered and, if complete, every
	// block the index held when the load began.
	seen     map[string]struct{}
	complete bool

	// Complete: the packs to ingest.
	loaded []*loadedPack // in the order added

	// Not complete: the batch being built.
	batch *pebble.Batch
	it    *pebble.Iterator // for lookups; nil until needed, and after each commit

	// The packs loaded and not yet written: ingested at the end, or
	// written with the batch.
	packs map[packID]*packInfo
}

// loadedPack is a pack waiting in memory to be ingested.
type loadedPack struct {
	p    *packIndex
	info *packInfo
	kept []int32 // the indexes in p.blocks of the blocks it holds; nil: all of them
}

// scanFactor bounds the blocks a bulk load reads from the index to fill
// seen, per block it loads: scanning costs a fraction of a microsecond a
// block, a lookup a few.
const scanFactor = 4

// startLoad begins a bulk load of about blocks blocks.
func (x *index) startLoad(blocks int) (*bulkLoad, error) {
	var held int64
	for _, info := range x.packList() {
		held += info.liveBlocks
	}
	l := &bulkLoad{x: x, packs: map[packID]*packInfo{}}
	if held > scanFactor*int64(blocks) {
		l.seen, l.batch = map[string]struct{}{}, x.db.NewBatch()
		return l, nil
	}
	l.seen, l.complete = make(map[string]struct{}, int(held)+blocks), true
	err := x.eachFrom("", func(hash string, _ location) bool {
		l.seen[hash] = struct{}{}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: index: %w", err)
	}
	return l, nil
}

// add enters a pack that supersedes none. A pack the index knows
// already, or one superseded, is left alone.
func (l *bulkLoad) add(p *packIndex) error {
	if len(p.supersedes) > 0 {
		return fmt.Errorf("s3store: index: pack %s supersedes others: it cannot be bulk loaded", p.id)
	}
	if _, ok := l.x.pack(p.id); ok || l.x.superseded(p.id) {
		return nil
	}
	if _, ok := l.packs[p.id]; ok {
		return nil
	}
	if l.complete {
		l.addToIngest(p)
		return nil
	}
	b := l.batch
	info := &packInfo{size: p.size, dataLen: p.dataLen}
	for _, e := range p.blocks {
		held, err := l.holds(e.hash)
		if err != nil {
			return err
		}
		if held {
			continue // held by another pack, or twice in this one
		}
		loc := location{pack: p.id, offset: e.offset, size: e.size}
		if err := errors.Join(
			b.Set(blockKey(e.hash), loc.encode(), nil),
			b.Set(liveKey(p.id, e.offset), encodeLive(e), nil),
		); err != nil {
			return err
		}
		l.seen[e.hash] = struct{}{}
		info.liveBlocks++
		info.liveBytes += e.size
	}
	if err := errors.Join(b.Set(packKey(p.id), info.encode(), nil), setNext(b, p)); err != nil {
		return err
	}
	l.packs[p.id] = info
	if b.Len() >= bulkBatchBytes {
		return l.commit()
	}
	return nil
}

// addToIngest keeps a pack for the ingestion, with the blocks it holds:
// those that neither the index nor a pack added before holds.
func (l *bulkLoad) addToIngest(p *packIndex) {
	lp := &loadedPack{p: p, info: &packInfo{size: p.size, dataLen: p.dataLen}}
	for i, e := range p.blocks {
		if _, ok := l.seen[e.hash]; ok {
			if lp.kept == nil {
				lp.kept = make([]int32, i, len(p.blocks))
				for j := range lp.kept {
					lp.kept[j] = int32(j)
				}
			}
			continue
		}
		l.seen[e.hash] = struct{}{}
		if lp.kept != nil {
			lp.kept = append(lp.kept, int32(i))
		}
		lp.info.liveBlocks++
		lp.info.liveBytes += e.size
	}
	l.loaded = append(l.loaded, lp)
	l.packs[p.id] = lp.info
}

// holds reports whether a block is in the index or in the batch being
// built.
func (l *bulkLoad) holds(hash string) (bool, error) {
	if _, ok := l.seen[hash]; ok {
		return true, nil
	}
	if l.it == nil {
		it, err := l.x.db.NewIter(&pebble.IterOptions{UseL6Filters: true})
		if err != nil {
			return false, fmt.Errorf("s3store: index: %w", err)
		}
		l.it = it
	}
	_, found, err := seekBlock(l.it, hash)
	return found, err
}

// commit writes the batch built so far.
func (l *bulkLoad) commit() error {
	if l.it != nil {
		// An iterator sees the index as it was when it was made.
		if err := l.it.Close(); err != nil {
			return fmt.Errorf("s3store: index: %w", err)
		}
		l.it = nil
	}
	if len(l.packs) == 0 {
		return nil
	}
	l.x.mu.Lock()
	defer l.x.mu.Unlock()
	if err := l.batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("s3store: index: %w", err)
	}
	for id, info := range l.packs {
		l.x.packs[id] = info
	}
	l.batch.Reset()
	clear(l.packs)
	return nil
}

// finish writes what is left and releases the load.
func (l *bulkLoad) finish(ctx context.Context) error {
	defer l.close()
	if l.complete {
		return l.ingest(ctx)
	}
	return l.commit()
}

// close releases the load; what was not written is dropped.
func (l *bulkLoad) close() {
	if l.it != nil {
		l.it.Close()
		l.it = nil
	}
	if l.batch != nil {
		l.batch.Close()
		l.batch = nil
	}
	l.loaded = nil
}

// loadTablePath is where a bulk load writes its sstable before pebble
// ingests it: beside the index's directory, which is pebble's own.
func loadTablePath(indexDir string) string {
	return filepath.Join(filepath.Dir(indexDir), "index-load.sst")
}

// ingest writes the packs kept in memory as one sstable, its keys in
// order (b, l, n, p), and has pebble ingest it.
func (l *bulkLoad) ingest(ctx context.Context) error {
	if len(l.loaded) == 0 {
		return nil
	}
	slices.SortFunc(l.loaded, func(a, b *loadedPack) int { return bytes.Compare(a.p.id[:], b.p.id[:]) })
	path := loadTablePath(l.x.dir)
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("s3store: index: %w", err)
	}
	defer os.Remove(path)
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), l.x.opts.MakeWriterOptions(len(l.x.opts.Levels)-1, l.x.db.TableFormat()))
	if err := l.writeTable(w); err != nil {
		w.Close()
		return fmt.Errorf("s3store: index: writing a bulk load: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("s3store: index: writing a bulk load: %w", err)
	}
	l.x.mu.Lock()
	defer l.x.mu.Unlock()
	if err := l.x.db.Ingest(ctx, []string{path}); err != nil {
		return fmt.Errorf("s3store: index: ingesting a bulk load: %w", err)
	}
	for id, info := range l.packs {
		l.x.packs[id] = info
	}
	return nil
}

// blockRef is a block kept by the load, for sorting. Sorting by the
// multihashes themselves chased a pointer per comparison and took half
// of the ingestion: most comparisons are settled by the first eight
// bytes, kept beside the pointers.
type blockRef struct {
	head uint64 // the multihash's first 8 bytes, big endian (zero padded)
	e    *packEntry
	pack *packID
}

func newBlockRef(e *packEntry, pack *packID) blockRef {
	var b [8]byte
	copy(b[:], e.hash)
	return blockRef{binary.BigEndian.Uint64(b[:]), e, pack}
}

func compareBlockRefs(a, b blockRef) int {
	if c := cmp.Compare(a.head, b.head); c != 0 {
		return c
	}
	return strings.Compare(a.e.hash, b.e.hash)
}

func (l *bulkLoad) writeTable(w *sstable.Writer) error {
	var key, val []byte
	// b: every block kept, in multihash order.
	refs := make([]blockRef, 0, len(l.seen))
	for _, lp := range l.loaded {
		lp.eachKept(func(e *packEntry) { refs = append(refs, newBlockRef(e, &lp.p.id)) })
	}
	slices.SortFunc(refs, compareBlockRefs)
	for _, r := range refs {
		key = append(append(key[:0], keyBlock), r.e.hash...)
		val = append(val[:0], r.pack[:]...)
		val = binary.AppendUvarint(val, uint64(r.e.offset))
		val = binary.AppendUvarint(val, uint64(r.e.size))
		if err := w.Set(key, val); err != nil {
			return err
		}
	}
	refs = nil
	// l: each pack's blocks, in pack order.
	for _, lp := range l.loaded {
		var err error
		lp.eachKept(func(e *packEntry) {
			if err != nil {
				return
			}
			key = binary.BigEndian.AppendUint64(append(append(key[:0], keyLive), lp.p.id[:]...), uint64(e.offset))
			val = append(binary.AppendUvarint(val[:0], uint64(e.size)), e.hash...)
			err = w.Set(key, val)
		})
		if err != nil {
			return err
		}
	}
	// n: the pack each writer wrote next, by the pack before it.
	var links [][2]packID
	for _, lp := range l.loaded {
		if p := lp.p; p.prev != (packID{}) && p.prev != p.id {
			links = append(links, [2]packID{p.prev, p.id})
		}
	}
	slices.SortStableFunc(links, func(a, b [2]packID) int { return bytes.Compare(a[0][:], b[0][:]) })
	for i, link := range links {
		if i > 0 && links[i-1][0] == link[0] {
			continue // two packs name the same one before them: keep one
		}
		if err := w.Set(nextKey(link[0]), link[1][:]); err != nil {
			return err
		}
	}
	// p: the packs.
	for _, lp := range l.loaded {
		if err := w.Set(packKey(lp.p.id), lp.info.encode()); err != nil {
			return err
		}
	}
	return nil
}

// eachKept calls fn for each block the pack holds, in pack order.
func (lp *loadedPack) eachKept(fn func(e *packEntry)) {
	if lp.kept == nil {
		for i := range lp.p.blocks {
			fn(&lp.p.blocks[i])
		}
		return
	}
	for _, i := range lp.kept {
		fn(&lp.p.blocks[i])
	}
}
