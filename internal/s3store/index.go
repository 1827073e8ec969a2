package s3store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// The index lives in pebble, in the data directory:
//
//	b<multihash>                    → pack id, offset, size: where a block lives
//	l<pack id><offset, big endian>  → size, multihash: a pack's live blocks, in pack order
//	n<pack id>                      → the pack its writer wrote next (read-ahead follows it)
//	p<pack id>                      → the pack's sizes, live blocks and bytes, deletion time
//	s<pack id>                      → nothing: superseded by a compaction, never to be indexed again
//	w                               → the writer id of this directory
//
// Everything in it can be rebuilt from the bucket (see sync.go), so writes
// are not synced one by one: the packs in S3 are the durable copy. A block
// entry is written only once its pack is in S3, so none points at a pack
// that was never completed.
const (
	keyBlock  = 'b'
	keyLive   = 'l'
	keyNext   = 'n'
	keyPack   = 'p'
	keyGone   = 's'
	keyWriter = 'w'
)

// location is where a block lives.
type location struct {
	pack   packID
	offset int64
	size   int64
}

// packInfo is what the index keeps of a pack.
type packInfo struct {
	size       int64 // the object's
	dataLen    int64 // its blocks' bytes, live or not
	liveBlocks int64 // blocks the index points at
	liveBytes  int64
	deleteAt   int64 // unix nanoseconds when its object may be deleted; 0: it is not to be
}

type index struct {
	db     *pebble.DB
	dir    string
	opts   *pebble.Options // as the db was opened with, defaults filled in
	writer writerID
	mu     sync.RWMutex
	// packs mirrors the p records: every pack whose blocks the index may
	// point at, and the superseded ones still waiting for deletion.
	// Guarded by mu, as are all writes to db.
	packs map[packID]*packInfo
}

// indexCacheSize is the index's block cache. Every lookup reads the
// sstables' index and filter blocks: with pebble's default 8 MiB they
// were read back from disk once the index held about a million blocks
// (two thirds of a rebuild's CPU went there). The cache fills only as far
// as the index needs.
const indexCacheSize = 64 << 20

func openIndex(dir string) (*index, error) {
	cache := pebble.NewCache(indexCacheSize)
	defer cache.Unref()
	opts := &pebble.Options{Logger: quietLogger{}, Cache: cache}
	// A start that finds many packs beside a large index writes them in
	// batches of 16 MiB (bulkload.go), each a memtable of its own above
	// half this size; other writes are small. (A rebuild does not go
	// through memtables at all: it ingests a table.)
	opts.MemTableSize = 16 << 20
	// Bloom filters on every level: most "have?" questions (bitswap
	// wants from the whole network) are for blocks the store does not
	// hold. Lookups go through an iterator that reads the last level's
	// filters too (lookup).
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	opts.EnsureDefaults()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("s3store: open index: %w", err)
	}
	os.Remove(loadTablePath(dir)) // a table a crash left before a bulk load ingested it
	x := &index{db: db, dir: dir, opts: opts, packs: map[packID]*packInfo{}}
	if err := x.load(); err != nil {
		db.Close()
		return nil, err
	}
	return x, nil
}

func (x *index) load() error {
	w, closer, err := x.db.Get([]byte{keyWriter})
	switch {
	case err == nil:
		copy(x.writer[:], w)
		closer.Close()
	case errors.Is(err, pebble.ErrNotFound):
		rand.Read(x.writer[:])
		if err := x.db.Set([]byte{keyWriter}, x.writer[:], pebble.Sync); err != nil {
			return fmt.Errorf("s3store: index: %w", err)
		}
	default:
		return fmt.Errorf("s3store: index: %w", err)
	}
	it, err := x.db.NewIter(prefixRange(keyPack))
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		id := packID(it.Key()[1:])
		info, err := decodePackInfo(it.Value())
		if err != nil {
			return fmt.Errorf("s3store: index: pack %s: %w", id, err)
		}
		x.packs[id] = info
	}
	return it.Error()
}

func (x *index) close() error { return x.db.Close() }

// lookup finds a block. It seeks an iterator rather than calling Get:
// pebble's Get skips the bloom filters of the last level, which holds
// most of a large index, so every lookup of a block the store does not
// hold (most bitswap wants) would read a data block.
func (x *index) lookup(hash string) (location, bool, error) {
	it, err := x.db.NewIter(&pebble.IterOptions{UseL6Filters: true})
	if err != nil {
		return location{}, false, fmt.Errorf("s3store: index: %w", err)
	}
	loc, found, err := seekBlock(it, hash)
	return loc, found, errors.Join(err, it.Close())
}

// seekBlock looks a block up with an iterator.
func seekBlock(it *pebble.Iterator, hash string) (location, bool, error) {
	key := blockKey(hash)
	if !it.SeekPrefixGE(key) || !bytes.Equal(it.Key(), key) {
		if err := it.Error(); err != nil {
			return location{}, false, fmt.Errorf("s3store: index: %w", err)
		}
		return location{}, false, nil
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return location{}, false, fmt.Errorf("s3store: index: %w", err)
	}
	loc, err := decodeLocation(v)
	return loc, err == nil, err
}

// next returns the pack that the writer of id wrote right after it, if
// the index holds it and it is not waiting for deletion.
func (x *index) next(id packID) (packID, bool) {
	v, closer, err := x.db.Get(nextKey(id))
	if err != nil {
		return packID{}, false
	}
	var n packID
	ok := len(v) == len(n)
	copy(n[:], v)
	closer.Close()
	if !ok {
		return packID{}, false
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	info, known := x.packs[n]
	return n, known && info.deleteAt == 0
}

// pack returns what the index knows of a pack.
func (x *index) pack(id packID) (packInfo, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	info, ok := x.packs[id]
	if !ok {
		return packInfo{}, false
	}
	return *info, true
}

// superseded reports whether a compaction replaced the pack.
func (x *index) superseded(id packID) bool {
	_, closer, err := x.db.Get(goneKey(id))
	if err == nil {
		closer.Close()
	}
	return err == nil
}

// applyOpts says how a pack enters the index.
type applyOpts struct {
	// onlyMoved indexes only the pack's blocks that lived in a pack it
	// supersedes: this store's own compaction, where a block deleted
	// after the compaction copied it must stay deleted.
	onlyMoved bool
	// deleteAt schedules the deletion of the superseded packs' objects;
	// zero when another writer's compaction made the pack (that writer
	// deletes them).
	deleteAt time.Time
}

// apply enters a pack in the index: the packs it supersedes leave it
// first, then every block not yet indexed points at this pack (a block
// another pack already holds stays there; this pack's copy is dead
// weight). A pack the index knows already, or one superseded, is left
// alone.
func (x *index) apply(p *packIndex, opts applyOpts) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.packs[p.id]; ok || x.superseded(p.id) {
		return nil
	}
	b := x.db.NewIndexedBatch()
	defer b.Close()
	moved := map[string]bool{}
	var drop []packID
	for _, old := range p.supersedes {
		if err := b.Set(goneKey(old), nil, nil); err != nil {
			return err
		}
		info, ok := x.packs[old]
		if !ok {
			continue
		}
		live, err := x.liveLocked(old)
		if err != nil {
			return err
		}
		for _, e := range live {
			if err := b.Delete(liveKey(old, e.offset), nil); err != nil {
				return err
			}
			if err := b.Delete(blockKey(e.hash), nil); err != nil {
				return err
			}
			moved[e.hash] = true
		}
		if opts.deleteAt.IsZero() {
			drop = append(drop, old)
			if err := errors.Join(b.Delete(packKey(old), nil), b.Delete(nextKey(old), nil)); err != nil {
				return err
			}
			continue
		}
		next := *info
		next.liveBlocks, next.liveBytes, next.deleteAt = 0, 0, opts.deleteAt.UnixNano()
		if err := b.Set(packKey(old), next.encode(), nil); err != nil {
			return err
		}
	}
	info := &packInfo{size: p.size, dataLen: p.dataLen}
	for _, e := range p.blocks {
		if opts.onlyMoved && !moved[e.hash] {
			continue
		}
		if _, closer, err := b.Get(blockKey(e.hash)); err == nil {
			closer.Close()
			continue // held by another pack, or twice in this one
		} else if !errors.Is(err, pebble.ErrNotFound) {
			return err
		}
		loc := location{pack: p.id, offset: e.offset, size: e.size}
		if err := b.Set(blockKey(e.hash), loc.encode(), nil); err != nil {
			return err
		}
		if err := b.Set(liveKey(p.id, e.offset), encodeLive(e), nil); err != nil {
			return err
		}
		info.liveBlocks++
		info.liveBytes += e.size
	}
	if err := b.Set(packKey(p.id), info.encode(), nil); err != nil {
		return err
	}
	if err := setNext(b, p); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("s3store: index: %w", err)
	}
	x.packs[p.id] = info
	for _, old := range p.supersedes {
		if info, ok := x.packs[old]; ok {
			info.liveBlocks, info.liveBytes, info.deleteAt = 0, 0, opts.deleteAt.UnixNano()
		}
	}
	for _, old := range drop {
		delete(x.packs, old)
	}
	return nil
}

// remove drops a block from the index; its bytes stay in their pack until
// a compaction rewrites it.
func (x *index) remove(hash string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	loc, ok, err := x.lookup(hash)
	if err != nil || !ok {
		return err
	}
	b := x.db.NewBatch()
	defer b.Close()
	b.Delete(blockKey(hash), nil)
	b.Delete(liveKey(loc.pack, loc.offset), nil)
	info, known := x.packs[loc.pack]
	var next packInfo
	if known {
		next = *info
		next.liveBlocks--
		next.liveBytes -= loc.size
		b.Set(packKey(loc.pack), next.encode(), nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("s3store: index: %w", err)
	}
	if known {
		*info = next
	}
	return nil
}

// live returns the live blocks of a pack, in pack order.
func (x *index) live(id packID) ([]packEntry, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.liveLocked(id)
}

func (x *index) liveLocked(id packID) ([]packEntry, error) {
	lower := liveKey(id, 0)
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper(lower[:1+len(id)])})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []packEntry
	for it.First(); it.Valid(); it.Next() {
		e, err := decodeLive(it.Key(), it.Value())
		if err != nil {
			return nil, fmt.Errorf("s3store: index: pack %s: %w", id, err)
		}
		out = append(out, e)
	}
	return out, it.Error()
}

// scheduleDelete sets when a pack's object is to be deleted.
func (x *index) scheduleDelete(id packID, at time.Time) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	info, ok := x.packs[id]
	if !ok {
		return nil
	}
	next := *info
	next.deleteAt = at.UnixNano()
	if err := x.db.Set(packKey(id), next.encode(), pebble.NoSync); err != nil {
		return fmt.Errorf("s3store: index: %w", err)
	}
	*info = next
	return nil
}

// forget drops a pack whose object is gone. Its tombstone stays while the
// pack may still be listed.
func (x *index) forget(id packID) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	b := x.db.NewBatch()
	defer b.Close()
	b.Delete(packKey(id), nil)
	b.Delete(nextKey(id), nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("s3store: index: %w", err)
	}
	delete(x.packs, id)
	return nil
}

// forgetMissing drops a pack the bucket no longer holds, and every block
// entry that points at it: the store must not answer "have" for blocks it
// cannot serve.
func (x *index) forgetMissing(id packID) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	live, err := x.liveLocked(id)
	if err != nil {
		return 0, err
	}
	b := x.db.NewBatch()
	defer b.Close()
	for _, e := range live {
		b.Delete(blockKey(e.hash), nil)
		b.Delete(liveKey(id, e.offset), nil)
	}
	b.Delete(packKey(id), nil)
	b.Delete(nextKey(id), nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("s3store: index: %w", err)
	}
	delete(x.packs, id)
	return len(live), nil
}

// pruneTombstones removes the tombstones of packs no longer in the
// bucket: they can never be listed again.
func (x *index) pruneTombstones(listed map[packID]bool) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	it, err := x.db.NewIter(prefixRange(keyGone))
	if err != nil {
		return err
	}
	b := x.db.NewBatch()
	defer b.Close()
	for it.First(); it.Valid(); it.Next() {
		if id := packID(it.Key()[1:]); !listed[id] {
			b.Delete(bytes.Clone(it.Key()), nil)
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	return b.Commit(pebble.NoSync)
}

// sync makes every index write so far durable: before an object is
// deleted, the entries that moved its blocks elsewhere must be on disk.
func (x *index) sync() error {
	return x.db.LogData([]byte("sync"), pebble.Sync)
}

// eachFrom calls fn for every block whose multihash sorts after after,
// in order, until fn returns false.
func (x *index) eachFrom(after string, fn func(hash string, loc location) bool) error {
	opts := prefixRange(keyBlock)
	if after != "" {
		opts.LowerBound = append(blockKey(after), 0)
	}
	it, err := x.db.NewIter(opts)
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		loc, err := decodeLocation(it.Value())
		if err != nil {
			return err
		}
		if !fn(string(it.Key()[1:]), loc) {
			break
		}
	}
	return it.Error()
}

// packList returns a copy of every pack's record.
func (x *index) packList() map[packID]packInfo {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[packID]packInfo, len(x.packs))
	for id, info := range x.packs {
		out[id] = *info
	}
	return out
}

func blockKey(hash string) []byte { return append([]byte{keyBlock}, hash...) }

func packKey(id packID) []byte { return append([]byte{keyPack}, id[:]...) }

func goneKey(id packID) []byte { return append([]byte{keyGone}, id[:]...) }

func nextKey(id packID) []byte { return append([]byte{keyNext}, id[:]...) }

// setNext records, for read-ahead, that p follows the pack its writer
// wrote before it.
func setNext(b *pebble.Batch, p *packIndex) error {
	if p.prev == (packID{}) || p.prev == p.id {
		return nil
	}
	return b.Set(nextKey(p.prev), p.id[:], nil)
}

func liveKey(id packID, offset int64) []byte {
	k := append([]byte{keyLive}, id[:]...)
	return binary.BigEndian.AppendUint64(k, uint64(offset))
}

func prefixRange(prefix byte) *pebble.IterOptions {
	return &pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}}
}

// upper is the smallest key above every key that starts with prefix.
func upper(prefix []byte) []byte {
	u := bytes.Clone(prefix)
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] < 0xff {
			u[i]++
			return u[:i+1]
		}
	}
	return nil
}

var errBadRecord = errors.New("bad index record")

func (l location) encode() []byte {
	v := append([]byte(nil), l.pack[:]...)
	v = binary.AppendUvarint(v, uint64(l.offset))
	return binary.AppendUvarint(v, uint64(l.size))
}

func decodeLocation(v []byte) (location, error) {
	var l location
	if len(v) < len(l.pack) {
		return l, errBadRecord
	}
	copy(l.pack[:], v)
	r := bytes.NewReader(v[len(l.pack):])
	off, err1 := binary.ReadUvarint(r)
	size, err2 := binary.ReadUvarint(r)
	if err1 != nil || err2 != nil {
		return l, errBadRecord
	}
	l.offset, l.size = int64(off), int64(size)
	return l, nil
}

func encodeLive(e packEntry) []byte {
	v := binary.AppendUvarint(nil, uint64(e.size))
	return append(v, e.hash...)
}

func decodeLive(key, v []byte) (packEntry, error) {
	size, n := binary.Uvarint(v)
	if n <= 0 || len(key) != 1+16+8 {
		return packEntry{}, errBadRecord
	}
	return packEntry{hash: string(v[n:]), offset: int64(binary.BigEndian.Uint64(key[17:])), size: int64(size)}, nil
}

func (p packInfo) encode() []byte {
	var v []byte
	for _, n := range []int64{p.size, p.dataLen, p.liveBlocks, p.liveBytes, p.deleteAt} {
		v = binary.AppendVarint(v, n)
	}
	return v
}

func decodePackInfo(v []byte) (*packInfo, error) {
	var p packInfo
	r := bytes.NewReader(v)
	for _, f := range []*int64{&p.size, &p.dataLen, &p.liveBlocks, &p.liveBytes, &p.deleteAt} {
		n, err := binary.ReadVarint(r)
		if err != nil {
			return nil, errBadRecord
		}
		*f = n
	}
	return &p, nil
}

// quietLogger keeps pebble's informational chatter out of our logs.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
