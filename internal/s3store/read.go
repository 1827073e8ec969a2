package s3store

import (
	"context"
	"fmt"
	"io"
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
// S3's copy failing it is an ErrCorrupt, and no bytes are returned.
func (s *Store) readBlock(ctx context.Context, hash string, loc location) ([]byte, error) {
	data, cached, err := s.readRange(ctx, loc, true)
	if err != nil {
		return nil, err
	}
	if cached {
		s.metrics.cacheHits.add(1)
	} else {
		s.metrics.cacheMisses.add(1)
	}
	if verify(hash, data) == nil {
		return data, nil
	}
	if cached {
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
	return data, nil
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

// readRange returns the bytes at loc and whether all of them came from the
// cache (fromCache false: the cache is not read, only filled).
func (s *Store) readRange(ctx context.Context, loc location, fromCache bool) ([]byte, bool, error) {
	info, known := s.idx.pack(loc.pack)
	if !known {
		// The pack left the index since the lookup (a compaction moved
		// the block; the old pack stays for a grace period): read just
		// the block.
		data, err := s.get(ctx, loc.pack, loc.offset, loc.size)
		return data, false, err
	}
	end := loc.offset + loc.size
	if end > info.dataLen {
		return nil, false, fmt.Errorf("s3store: %w: the index puts a block at %d-%d of pack %s, which has %d bytes of data", ErrCorrupt, loc.offset, end, loc.pack, info.dataLen)
	}
	out := make([]byte, loc.size)
	cached := true
	for pos := loc.offset; pos < end; {
		start := pos / s.cfg.ReadSize * s.cfg.ReadSize
		stop := min(start+s.cfg.ReadSize, info.dataLen)
		dst := out[pos-loc.offset : min(stop, end)-loc.offset]
		name := cacheName(loc.pack, start)
		if !fromCache || !s.cache.read(name, pos-start, dst) {
			cached = false
			r, err := s.fetch(ctx, loc.pack, start, stop)
			if err != nil {
				return nil, false, err
			}
			copy(dst, r[pos-start:])
		}
		s.readAhead(loc.pack, start, info.dataLen)
		pos += int64(len(dst))
	}
	return out, cached, nil
}

// Read-ahead. A DAG read in order reads its blocks in the order they
// were written: side by side within a pack, and from one pack into the
// one its writer sealed next (an import seals its packs in the order of
// its blocks; each names the one before it, write.go). Once reads look
// sequential, the next aheadRanges ranges in that order are fetched in
// the background, so that the reader finds them local instead of waiting
// a round trip per range. Reads look sequential when a reader moves to a
// range of a pack after reading the one before it, or to the first range
// of a pack that read-ahead went into from the pack before it. A pack's
// first range is read ahead once the reader nears the end of the pack
// before, so an import's packs of ~10 MiB (three ranges) cost the reader
// a wait only at the start of the read, not for two ranges in three.
//
// Read-ahead never fetches what the sequence would not read next: the
// requests are those the reader would have made, made earlier (with at
// most aheadRanges ranges at the end of a sequence that the reader then
// does not read). Ranges read ahead go through fetch, so a reader that
// arrives while one is in flight shares its GET.
const (
	// aheadRanges is how far ahead of a sequential reader ranges are
	// fetched.
	aheadRanges = 2
	// maxTrackedRanges bounds the memory of which ranges were read.
	maxTrackedRanges = 1 << 14
)

// rangeID names a range: a pack and the offset the range starts at.
type rangeID struct {
	pack  packID
	start int64
}

// readStreams is what read-ahead knows of the reads so far. Its zero
// value is ready to use.
type readStreams struct {
	mu       sync.Mutex
	read     map[rangeID]struct{} // ranges readers read from; guarded by mu
	entered  map[packID]struct{}  // packs read ahead into from the pack before; guarded by mu
	fetching map[rangeID]struct{} // ranges being read ahead; guarded by mu
}

// readAhead notes that a reader read from the range of a pack at start,
// and if that continues a sequence, fetches the next ranges in the
// background.
func (s *Store) readAhead(id packID, start, dataLen int64) {
	st := &s.streams
	st.mu.Lock()
	r := rangeID{id, start}
	if _, again := st.read[r]; again {
		st.mu.Unlock()
		return
	}
	if st.read == nil || len(st.read) >= maxTrackedRanges {
		st.read, st.entered = map[rangeID]struct{}{}, map[packID]struct{}{}
	}
	st.read[r] = struct{}{}
	_, stepped := st.read[rangeID{id, start - s.cfg.ReadSize}]
	_, entered := st.entered[id]
	st.mu.Unlock()
	if !(start > 0 && stepped) && !(start == 0 && entered) {
		return
	}
	pack, pos, end := id, start, dataLen
	for range aheadRanges {
		pos += s.cfg.ReadSize
		if pos >= end {
			next, ok := s.idx.next(pack)
			if !ok {
				return
			}
			info, _ := s.idx.pack(next)
			if info.dataLen == 0 {
				return
			}
			st.mu.Lock()
			st.entered[next] = struct{}{}
			st.mu.Unlock()
			pack, pos, end = next, 0, info.dataLen
		}
		s.fetchAhead(pack, pos, min(pos+s.cfg.ReadSize, end))
	}
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
			if data := make([]byte, stop-start); s.cache.read(name, 0, data) {
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
