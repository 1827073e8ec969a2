package s3store

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	mh "github.com/multiformats/go-multihash"
)

// Reading. A pack is read in ranges of ReadSize bytes, aligned to
// multiples of it: a block is served from the cached ranges that cover
// it, or the missing ones are fetched whole with one GET each and cached.
// The blocks of one add sit side by side in their pack, in the order the
// importer wrote them (leaves, then their parent), so reading a file back
// takes about one GET per ReadSize bytes, and the blocks read next are
// local already. Concurrent reads of one range share its GET.

const (
	// fetchTimeout bounds one shared GET, which runs on after the
	// caller that started it gave up, for the others waiting on it.
	fetchTimeout = 2 * time.Minute
	// readsAhead is how many ranges may be read ahead at once.
	readsAhead = 4
)

// readBlock reads a block and checks it against its multihash. A cached
// copy that fails the check is dropped and the block read again from S3;
// S3's copy failing it is an ErrCorrupt, and no bytes are returned. A
// cached copy already checked by this process is not hashed again: it is
// a file this process wrote or read back whole, as trustworthy as flatfs's.
func (s *Store) readBlock(ctx context.Context, hash string, loc location) ([]byte, error) {
	data, r, err := s.readRange(ctx, loc, true)
	if err != nil {
		return nil, err
	}
	if r.cached {
		s.metrics.cacheHits.add(1)
	} else {
		s.metrics.cacheMisses.add(1)
	}
	if r.cached && r.checked {
		return data, nil
	}
	if verify(hash, data) == nil {
		s.markChecked(loc)
		return data, nil
	}
	if r.cached {
		s.log.Warn("a cached range does not hash to its block; reading it again from S3", "pack", loc.pack.String(), "offset", loc.offset)
		s.dropRanges(loc)
		if data, _, err = s.readRange(ctx, loc, false); err != nil {
			return nil, err
		}
	}
	if err := verify(hash, data); err != nil {
		return nil, fmt.Errorf("s3store: %w: block %s (%d bytes at offset %d of pack %s in bucket %q): %v",
			ErrCorrupt, mh.Multihash(hash).B58String(), loc.size, loc.offset, s.packKey(loc.pack), s.cfg.Bucket, err)
	}
	s.markChecked(loc)
	return data, nil
}

// markChecked notes in the cache that the block at loc hashed right.
func (s *Store) markChecked(loc location) {
	s.eachRange(loc, func(name string, off int64, n int) { s.cache.markChecked(name, off, n) })
}

// eachRange calls fn with the cached range, the offset in it and the
// length of each part of the block at loc (one part unless the block
// crosses a range boundary).
func (s *Store) eachRange(loc location, fn func(name string, off int64, n int)) {
	end := loc.offset + loc.size
	for pos := loc.offset; pos < end; {
		start := pos / s.cfg.ReadSize * s.cfg.ReadSize
		stop := min(start+s.cfg.ReadSize, end)
		fn(cacheName(loc.pack, start), pos-start, int(stop-pos))
		pos = stop
	}
}

// verify checks that data hashes to the multihash.
func verify(hash string, data []byte) error {
	dec, err := mh.Decode([]byte(hash))
	if err != nil {
		return err
	}
	sum, err := mh.Sum(data, dec.Code, dec.Length)
	if err != nil {
		return fmt.Errorf("cannot check a block hashed with %s: %w", mh.Codes[dec.Code], err)
	}
	if string(sum) != hash {
		return fmt.Errorf("its bytes hash to %s", sum.B58String())
	}
	return nil
}

// rangeRead says where readRange's bytes came from.
type rangeRead struct {
	cached  bool // every part from the cache
	checked bool // every part from the cache, and checked before
}

// readRange returns the bytes at loc and where they came from (fromCache
// false: the cache is not read, only filled).
func (s *Store) readRange(ctx context.Context, loc location, fromCache bool) ([]byte, rangeRead, error) {
	info, known := s.idx.pack(loc.pack)
	if !known {
		// The pack left the index since the lookup (a compaction moved
		// the block; the old pack stays for a grace period): read just
		// the block.
		data, err := s.get(ctx, loc.pack, loc.offset, loc.size)
		return data, rangeRead{}, err
	}
	end := loc.offset + loc.size
	if end > info.dataLen {
		return nil, rangeRead{}, fmt.Errorf("s3store: %w: the index puts a block at %d-%d of pack %s, which has %d bytes of data", ErrCorrupt, loc.offset, end, loc.pack, info.dataLen)
	}
	out := make([]byte, loc.size)
	r := rangeRead{cached: true, checked: true}
	for pos := loc.offset; pos < end; {
		start := pos / s.cfg.ReadSize * s.cfg.ReadSize
		stop := min(start+s.cfg.ReadSize, info.dataLen)
		dst := out[pos-loc.offset : min(stop, end)-loc.offset]
		name := cacheName(loc.pack, start)
		hit, checked := false, false
		if fromCache {
			hit, checked = s.cache.read(name, pos-start, dst)
		}
		if !hit {
			r.cached = false
			fetched, err := s.fetch(ctx, loc.pack, start, stop)
			if err != nil {
				return nil, rangeRead{}, err
			}
			copy(dst, fetched[pos-start:])
		}
		r.checked = r.checked && checked
		s.readAhead(loc.pack, start, info.dataLen)
		pos += int64(len(dst))
	}
	r.checked = r.checked && r.cached
	return out, r, nil
}

// Read-ahead. A DAG read in order reads its blocks in the order they
// were written: side by side within a pack, and from one pack into the
// one its writer sealed next (an import seals its packs in the order of
// its blocks; each names the one before it, write.go). Once reads look
// sequential, the ranges that come next in that order are fetched in the
// background, so that the reader finds them local instead of waiting a
// round trip for each.
//
// Reads of a pack look sequential when a reader moves on to a range
// right after one it read last (one of the last recentRanges of the
// pack: a DAG reader also jumps ahead to the node above the leaves it
// reads, and back), or to the first range of a pack that read-ahead went
// into from the pack before. How far ahead to read grows by a range with
// each such step, up to aheadRanges, as an operating system's read-ahead
// does: a lone step in a random workload costs at most one range, a long
// sequential read keeps aheadRanges in flight. The window goes on from
// the end of a pack into the next (packAfter), so an import's packs of
// ~10 MiB (three ranges) cost the reader a wait at the start of the
// read, not for each pack; before, read-ahead started at a pack's second
// range and stopped at its end, and two GETs in three were waited for.
//
// Read-ahead fetches nothing that the sequence would not read next, so
// the GETs are those the reader would make, made earlier: at the end of
// a sequence, at most aheadRanges ranges that the reader then does not
// read. Ranges read ahead go through fetch, so a reader that arrives
// while one is in flight shares its GET.
const (
	// aheadRanges is the most ranges read ahead of a sequential reader.
	// Measured reading back 1 GiB imported with Kubo's defaults, GETs
	// delayed by 20 ms: 73-86 MiB/s reading ahead one range within a
	// pack; one range across packs, no better; two, 105-126; four,
	// 178-239, as fast as without the delay.
	aheadRanges = 4
	// recentRanges is how many of the ranges read last in each pack a
	// step forward is looked for among.
	recentRanges = 3
	// maxTrackedPacks bounds the memory of which ranges each pack had
	// read last.
	maxTrackedPacks = 4096
)

// readStreams is what read-ahead knows of the reads so far. Its zero
// value is ready to use.
type readStreams struct {
	mu       sync.Mutex
	packs    map[packID]*packReads // guarded by mu
	fetching map[rangeID]struct{}  // ranges being read ahead; guarded by mu
}

// packReads is what read-ahead knows of the reads of one pack.
type packReads struct {
	recent [recentRanges]int64 // the ranges readers read last, most recent first; -1: none
	// run is how many ranges to read ahead: it grows with each step
	// forward (or is carried over from the pack before), and is 0 while
	// reads do not look sequential.
	run int
}

// rangeID names a range: a pack and the offset the range starts at.
type rangeID struct {
	pack  packID
	start int64
}

// packLocked returns what is known of a pack's reads, making it known.
func (st *readStreams) packLocked(id packID) *packReads {
	if p, ok := st.packs[id]; ok {
		return p
	}
	if st.packs == nil || len(st.packs) >= maxTrackedPacks {
		st.packs = map[packID]*packReads{}
	}
	p := &packReads{}
	for i := range p.recent {
		p.recent[i] = -1
	}
	st.packs[id] = p
	return p
}

// readAhead notes that a reader read from the range of a pack at start,
// and if that continues a sequence, fetches the next ranges in the
// background.
func (s *Store) readAhead(id packID, start, dataLen int64) {
	st := &s.streams
	st.mu.Lock()
	p := st.packLocked(id)
	if slices.Contains(p.recent[:], start) {
		st.mu.Unlock()
		return // nothing new
	}
	stepped := start > 0 && slices.Contains(p.recent[:], start-s.cfg.ReadSize)
	first := p.recent[0] == -1
	copy(p.recent[1:], p.recent[:])
	p.recent[0] = start
	run := 0
	switch {
	case stepped || (start == 0 && p.run > 0):
		p.run = min(p.run+1, aheadRanges)
		run = p.run
	case first:
		// A first read elsewhere than where a sequence would enter the
		// pack (a DAG reader's jump to a node ahead): nothing to read
		// ahead from here, and no evidence against the sequence that
		// read-ahead carried into the pack.
	default:
		p.run = 0
	}
	st.mu.Unlock()

	pack, pos, end := id, start, dataLen
	for range run {
		pos += s.cfg.ReadSize
		if pos >= end {
			next, nextLen, ok := s.packAfter(pack)
			if !ok {
				return
			}
			st.mu.Lock()
			np := st.packLocked(next)
			np.run = max(np.run, run)
			st.mu.Unlock()
			pack, pos, end = next, 0, nextLen
		}
		s.fetchAhead(pack, pos, min(pos+s.cfg.ReadSize, end))
	}
}

// maxSmallPacks is how many small packs read-ahead steps over to find
// the next one of a sequence.
const maxSmallPacks = 8

// packAfter returns the pack that continues a sequential read of id: the
// next one its writer sealed that holds at least a read range. Smaller
// packs are not what a sequential write seals (a batch or a group of
// commits fills several ranges) but the tail of an import, its directory
// nodes, or a lone block stored meanwhile, which a reader of the DAG
// seldom wants: read ahead, each would cost a GET for nothing (reading
// back an import of two files, the two directory packs after them).
func (s *Store) packAfter(id packID) (packID, int64, bool) {
	for range maxSmallPacks {
		next, ok := s.idx.next(id)
		if !ok {
			return packID{}, 0, false
		}
		if info, _ := s.idx.pack(next); info.dataLen >= s.cfg.ReadSize {
			return next, info.dataLen, true
		}
		id = next
	}
	return packID{}, 0, false
}

// fetchAhead fetches a range in the background unless it is cached,
// being read ahead already, or every read-ahead slot is busy.
func (s *Store) fetchAhead(id packID, start, stop int64) {
	if s.cache.has(cacheName(id, start)) {
		return
	}
	st := &s.streams
	r := rangeID{id, start}
	st.mu.Lock()
	if _, busy := st.fetching[r]; busy {
		st.mu.Unlock()
		return
	}
	select {
	case s.aheadSlots <- struct{}{}:
	default:
		st.mu.Unlock()
		return // enough in flight; a later read tries again
	}
	if st.fetching == nil {
		st.fetching = map[rangeID]struct{}{}
	}
	st.fetching[r] = struct{}{}
	st.mu.Unlock()
	s.ahead.Add(1)
	go func() {
		defer s.ahead.Done()
		defer func() {
			st.mu.Lock()
			delete(st.fetching, r)
			st.mu.Unlock()
			<-s.aheadSlots
		}()
		if _, err := s.fetch(context.Background(), id, start, stop); err != nil {
			s.log.Debug("read-ahead failed", "pack", id.String(), "offset", start, "err", err)
		}
	}()
}

// dropRanges removes the cached ranges that cover loc.
func (s *Store) dropRanges(loc location) {
	for start := loc.offset / s.cfg.ReadSize * s.cfg.ReadSize; start < loc.offset+loc.size; start += s.cfg.ReadSize {
		s.cache.drop(cacheName(loc.pack, start))
	}
}

// fetch GETs the range [start, stop) of a pack and caches it. Concurrent
// fetches of one range make one request.
func (s *Store) fetch(ctx context.Context, id packID, start, stop int64) ([]byte, error) {
	name := cacheName(id, start)
	ch := s.reads.DoChan(name, func() (any, error) {
		// Shared by every caller waiting: one that leaves must not fail
		// the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		// A read ahead may have cached the range since the caller missed.
		if s.cache.has(name) {
			data := make([]byte, stop-start)
			if ok, _ := s.cache.read(name, 0, data); ok {
				return data, nil
			}
		}
		data, err := s.get(ctx, id, start, stop-start)
		if err != nil {
			return nil, err
		}
		s.cache.write(name, data)
		return data, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// get reads n bytes of a pack from off with a ranged GET.
func (s *Store) get(ctx context.Context, id packID, off, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	key := s.packKey(id)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("s3store: pack %s is missing from bucket %q: %w", key, s.cfg.Bucket, err)
		}
		return nil, fmt.Errorf("s3store: reading %d bytes at %d of pack %s: %w", n, off, key, err)
	}
	defer out.Body.Close()
	if out.ContentRange == nil && off != 0 {
		return nil, fmt.Errorf("s3store: reading pack %s: the server ignored the Range header", key)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(out.Body, buf); err != nil {
		return nil, fmt.Errorf("s3store: %w: pack %s ends before byte %d, where its index puts data: %v", ErrCorrupt, key, off+n, err)
	}
	return buf, nil
}

// getTail reads the last n bytes of a pack (all of it if shorter) with
// one suffix-ranged GET, and returns them with the object's size and
// metadata.
func (s *Store) getTail(ctx context.Context, id packID, n int64) ([]byte, int64, map[string]string, error) {
	key := s.packKey(id)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=-%d", n)),
	})
	if err != nil {
		if isNotFound(err) {
			return nil, 0, nil, fmt.Errorf("s3store: pack %s is missing from bucket %q: %w", key, s.cfg.Bucket, err)
		}
		return nil, 0, nil, fmt.Errorf("s3store: reading the index of pack %s: %w", key, err)
	}
	defer out.Body.Close()
	if out.ContentRange == nil {
		// A server that ignores ranges sends the whole object.
		obj, err := io.ReadAll(out.Body)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("s3store: reading the index of pack %s: %w", key, err)
		}
		return obj[max(0, int64(len(obj))-n):], int64(len(obj)), out.Metadata, nil
	}
	// Content-Range: bytes <first>-<last>/<size>
	_, total, _ := strings.Cut(aws.ToString(out.ContentRange), "/")
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("s3store: reading the index of pack %s: bad Content-Range %q", key, aws.ToString(out.ContentRange))
	}
	tail, err := io.ReadAll(io.LimitReader(out.Body, n))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("s3store: reading the index of pack %s: %w", key, err)
	}
	return tail, size, out.Metadata, nil
}
