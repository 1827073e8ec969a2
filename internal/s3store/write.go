package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	ds "github.com/ipfs/go-datastore"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-ipfs/flotilla/internal/batch"
)

// Writing. Every write, a Put or a batch's Commit, hands a pack builder to
// one group committer and waits for its answer, which comes once a pack
// holding its blocks is in S3 and in the index. While uploadsInFlight
// uploads run, the commits that arrive queue, and the next upload takes
// all of them (up to PackSize) in one pack: bitswap storing blocks one
// message at a time makes a PUT per group, not per block, and nothing is
// acknowledged before S3 has it. Alone, a commit waits for nothing.
//
// Two uploads at a time: an import commits four 8 MiB batches side by side
// (internal/importer). Measured on 256 MiB against versitygw on loopback,
// four uploads made 32 PUTs (each batch its own pack), two made 27 in 70 %
// of the time, one made 16 but took 2.3 times as long.
const (
	uploadsInFlight = 2
	partsInFlight   = 4 // per multipart upload
	commitQueue     = 1024
)

// commitReq is one commit waiting for its pack.
type commitReq struct {
	pack *packBuilder
	done chan error // buffered: the committer never blocks on an answer
}

func (s *Store) startGroupCommit() {
	s.group = batch.New(batch.Config[commitReq]{
		MaxWeight: int(s.cfg.PackSize),
		Weight:    func(r commitReq) int { return int(r.pack.len()) + 1 },
		InFlight:  uploadsInFlight,
		Queue:     commitQueue,
		Flush:     s.flushGroup,
		Drop:      func(r commitReq) { r.done <- ErrClosed },
	})
}

// commit writes a pack of the given blocks, grouped with whatever else is
// queued, and returns once it is durable. A caller that gives up (ctx)
// gets no acknowledgement; its blocks may still land.
func (s *Store) commit(ctx context.Context, p *packBuilder) error {
	r := commitReq{pack: p, done: make(chan error, 1)}
	if err := s.group.Submit(ctx, r); err != nil {
		if errors.Is(err, batch.ErrStopped) {
			return ErrClosed
		}
		return err
	}
	s.metrics.commits.Inc()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flushGroup writes one pack for a group of commits and answers them all.
// The upload is not tied to any one caller's context: it outlives a
// caller that gives up, and Close waits for it.
func (s *Store) flushGroup(group []commitReq) {
	p := group[0].pack
	if len(group) > 1 {
		p = newPackBuilder()
		for _, r := range group {
			p.merge(r.pack)
		}
	}
	id, prev := s.order.next(s.idx.writer)
	_, err := s.writePackAs(context.Background(), id, prev, p, nil, applyOpts{})
	for _, r := range group {
		r.done <- err
	}
}

// packOrder hands out the ids of the packs the group committer seals,
// each with the id of the one sealed before it. A pack names that one in
// its object's metadata (prevMetadata): an import's packs are sealed in
// the order of its blocks, so read-ahead follows a DAG read in order
// from one pack into the next (read.go).
type packOrder struct {
	mu   sync.Mutex
	last packID // guarded by mu
}

func (o *packOrder) next(w writerID) (id, prev packID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id = newPackID(w)
	prev, o.last = o.last, id
	return id, prev
}

// prevMetadata is the object metadata key (x-amz-meta-flotilla-prev)
// naming the pack its writer sealed just before a pack. It is a hint for
// read-ahead, not part of the pack: a server that drops it costs only
// read-ahead across packs.
const prevMetadata = "flotilla-prev"

// prevFrom reads the pack before id from an object's metadata: one of
// the same writer's, or none.
func prevFrom(meta map[string]string, id packID) packID {
	for k, v := range meta {
		if !strings.EqualFold(k, prevMetadata) {
			continue
		}
		prev, err := parsePackID(v)
		if err != nil || prev.writer() != id.writer() || prev == id {
			return packID{}
		}
		return prev
	}
	return packID{}
}

// writePack uploads a pack that follows no other (a compaction's) and
// then, only then, enters it in the index.
func (s *Store) writePack(ctx context.Context, p *packBuilder, supersedes []packID, opts applyOpts) (*packIndex, error) {
	return s.writePackAs(ctx, newPackID(s.idx.writer), packID{}, p, supersedes, opts)
}

// writePackAs uploads a pack as id, naming prev as the pack before it
// (zero: none), and then, only then, enters it in the index.
func (s *Store) writePackAs(ctx context.Context, id, prev packID, p *packBuilder, supersedes []packID, opts applyOpts) (*packIndex, error) {
	obj, pi := p.finish(id, supersedes)
	pi.prev = prev
	if err := s.upload(ctx, id, prev, obj); err != nil {
		return nil, err
	}
	if len(supersedes) > 0 {
		// A compaction whose caller gave up leaves the new pack unindexed:
		// its owner adopts it at the next Open, and in shared mode no one
		// does, the cluster having never recorded it (sync.go).
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if err := s.idx.apply(pi, opts); err != nil {
		return nil, fmt.Errorf("s3store: indexing pack %s: %w", id, err)
	}
	s.log.Debug("pack written", "pack", id.String(), "blocks", len(pi.blocks), "bytes", len(obj), "supersedes", len(supersedes))
	if s.onPack != nil {
		s.onPack(id.String())
	}
	return pi, nil
}

// upload puts a pack's object: with one PUT, or in parts from
// MultipartSize on. The SDK retries each request with jittered backoff.
func (s *Store) upload(ctx context.Context, id, prev packID, obj []byte) error {
	key := s.packKey(id)
	var meta map[string]string
	if prev != (packID{}) {
		meta = map[string]string{prevMetadata: prev.String()}
	}
	var err error
	if int64(len(obj)) < s.cfg.MultipartSize {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), Metadata: meta,
			Body: bytes.NewReader(obj), ContentLength: aws.Int64(int64(len(obj))),
		})
	} else {
		err = s.uploadParts(ctx, key, meta, obj)
	}
	if err != nil {
		return fmt.Errorf("s3store: writing pack %s (%d bytes) to bucket %q: %w", key, len(obj), s.cfg.Bucket, err)
	}
	return nil
}

// uploadParts is a multipart upload, several parts at once, each with a
// CRC-32 that S3 checks. A failed upload is aborted; one that a crash
// leaves behind is aborted at the next Open (abortUploads).
func (s *Store) uploadParts(ctx context.Context, key string, meta map[string]string, obj []byte) error {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), Metadata: meta, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return err
	}
	abort := func(err error) error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: created.UploadId,
		}); aerr != nil {
			s.log.Warn("aborting a failed multipart upload failed; the next open retries", "key", key, "err", aerr)
		}
		return err
	}
	size := s.cfg.PartSize
	parts := make([]types.CompletedPart, (int64(len(obj))+size-1)/size)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partsInFlight)
	for i := range parts {
		start := int64(i) * size
		part := obj[start:min(start+size, int64(len(obj)))]
		n := aws.Int32(int32(i + 1))
		g.Go(func() error {
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: created.UploadId, PartNumber: n,
				Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			})
			if err != nil {
				return fmt.Errorf("part %d: %w", *n, err)
			}
			parts[i] = types.CompletedPart{PartNumber: n, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return abort(err)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return abort(err)
	}
	return nil
}

// Batch returns a batch whose Commit returns once its blocks are in S3.
// A batch's blocks go into packs of their own: one is sealed and uploaded
// as soon as it reaches PackSize, while the batch goes on filling the
// next, so a large import streams to S3 with at most two packs in memory.
func (s *Store) Batch(ctx context.Context) (ds.Batch, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return &packBatch{s: s, pack: newPackBuilder(), deletes: map[string]bool{}, sealed: make(chan struct{}, 1)}, nil
}

// packBatch is a batch of writes. Like flatfs's, it takes concurrent Puts.
type packBatch struct {
	s      *Store
	sealed chan struct{} // a token per sealed pack uploading: one at a time
	wg     sync.WaitGroup

	mu      sync.Mutex
	pack    *packBuilder    // being filled; guarded by mu
	deletes map[string]bool // applied at Commit, after the puts; guarded by mu
	err     error           // the first failed upload of a sealed pack; guarded by mu
}

func (b *packBatch) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := b.s.enter(); err != nil {
		return err
	}
	defer b.s.leave()
	h, ok := blockHash(key)
	if !ok {
		return fmt.Errorf("s3store: key %s does not name a block (/<base32 multihash>)", key)
	}
	_, found, err := b.s.idx.lookup(h)
	if err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.deletes, h)
	if found {
		b.mu.Unlock()
		return nil
	}
	b.pack.add(h, value)
	var full *packBuilder
	if b.pack.len() >= b.s.cfg.PackSize {
		full, b.pack = b.pack, newPackBuilder()
	}
	err = b.err
	b.mu.Unlock()
	if err != nil {
		return err
	}
	if full != nil {
		return b.seal(ctx, full)
	}
	return nil
}

// seal uploads a full pack while the batch goes on, waiting first for the
// batch's previous one: a writer faster than S3 slows down instead of
// filling memory.
func (b *packBatch) seal(ctx context.Context, p *packBuilder) error {
	select {
	case b.sealed <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.sealed }()
		if err := b.s.commit(context.Background(), p); err != nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = err
			}
			b.mu.Unlock()
		}
	}()
	return nil
}

func (b *packBatch) Delete(ctx context.Context, key ds.Key) error {
	if b.s.cfg.Shared {
		return ErrSharedDelete
	}
	h, ok := blockHash(key)
	if !ok {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pack.remove(h)
	b.deletes[h] = true
	return nil
}

// Commit uploads what is left, waits for the sealed packs, then applies
// the deletes. It returns nil only once every block put is in S3.
func (b *packBatch) Commit(ctx context.Context) error {
	if err := b.s.enter(); err != nil {
		return err
	}
	defer b.s.leave()
	b.mu.Lock()
	p, deletes := b.pack, b.deletes
	b.pack, b.deletes = newPackBuilder(), map[string]bool{}
	b.mu.Unlock()
	var err error
	if !p.empty() {
		err = b.s.commit(ctx, p)
	}
	sealed := make(chan struct{})
	go func() { b.wg.Wait(); close(sealed) }()
	select {
	case <-sealed:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	err = errors.Join(err, b.err)
	b.err = nil
	b.mu.Unlock()
	if err != nil {
		return err
	}
	for h := range deletes {
		if err := b.s.idx.remove(h); err != nil {
			return err
		}
	}
	return nil
}
