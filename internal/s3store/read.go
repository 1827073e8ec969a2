package s3store

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
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
	// maxTrackedPacks bounds the memory of which range of each pack was
	// read last.
	maxTrackedPacks = 4096
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

// readAhead fetches the range after start in the background when the
// reads of a pack step forward from one range to the next: a DAG read in
// order, whose next blocks are then local by the time they are asked for,
// instead of each range costing the reader a round trip.
func (s *Store) readAhead(id packID, start, dataLen int64) {
	s.aheadMu.Lock()
	prev, seen := s.lastRange[id]
	if len(s.lastRange) >= maxTrackedPacks {
		clear(s.lastRange)
	}
	s.lastRange[id] = start
	s.aheadMu.Unlock()
	next := start + s.cfg.ReadSize
	if !seen || prev != start-s.cfg.ReadSize || next >= dataLen || s.cache.has(cacheName(id, next)) {
		return
	}
	select {
	case s.aheadSlots <- struct{}{}:
	default:
		return // enough in flight
	}
	s.ahead.Add(1)
	go func() {
		defer s.ahead.Done()
		defer func() { <-s.aheadSlots }()
		if _, err := s.fetch(context.Background(), id, next, min(next+s.cfg.ReadSize, dataLen)); err != nil {
			s.log.Debug("read-ahead failed", "pack", id.String(), "offset", next, "err", err)
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
