package s3store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// The index follows the bucket. At every Open the store lists its prefix
// and reads the index of each pack it does not know (one ranged GET of
// the pack's tail, two when the index is longer than tailGuess). For an
// empty data directory that is a rebuild; otherwise it finds the packs
// that a crash uploaded before it could index them, and, in shared mode,
// those other peers wrote while this one was down. Packs only ever leave
// the bucket through a compaction, whose new pack names them (pack.go), so
// the result does not depend on the order packs are read in.
const (
	// indexReadsInFlight is how many pack indexes a rebuild reads at once.
	indexReadsInFlight = 32
	// abandonedAfter is when another writer's unfinished multipart
	// upload counts as abandoned in shared mode (the bucket's lifecycle
	// rule should abort them sooner).
	abandonedAfter = 24 * time.Hour
	// adoptGrace is the grace period of packs superseded by a pack of
	// this store's that an interrupted compaction left unindexed.
	adoptGrace = time.Hour
)

// abortUploads aborts the multipart uploads of packs that were never
// completed: this store's (it has none in flight while it opens), and in
// a prefix of its own anyone's; in shared mode other writers' only once
// they are a day old, since they may be in flight.
func (s *Store) abortUploads(ctx context.Context) error {
	pages := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(s.prefix + "packs/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3store: listing unfinished uploads in bucket %q: %w", s.cfg.Bucket, err)
		}
		for _, u := range page.Uploads {
			key := aws.ToString(u.Key)
			id, ok := s.parsePackKey(key)
			ours := ok && id.writer() == s.idx.writer
			old := u.Initiated != nil && s.now().Sub(*u.Initiated) > abandonedAfter
			if !ours && s.cfg.Shared && !old {
				continue
			}
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.cfg.Bucket), Key: u.Key, UploadId: u.UploadId,
			}); err != nil && !isNotFound(err) {
				return fmt.Errorf("s3store: aborting the unfinished upload of %s: %w", key, err)
			}
			s.log.Info("aborted an unfinished pack upload", "key", key)
		}
	}
	return nil
}

// syncPacks brings the index up to the packs in the bucket.
func (s *Store) syncPacks(ctx context.Context) error {
	listed, err := s.listPacks(ctx)
	if err != nil {
		return err
	}
	known := s.idx.packList()
	var unknown []packID
	for id := range listed {
		if _, ok := known[id]; !ok && !s.idx.superseded(id) {
			unknown = append(unknown, id)
		}
	}
	start := time.Now()
	indexes, err := s.readIndexes(ctx, unknown)
	if err != nil {
		return err
	}
	// A known pack may be gone because a compaction (another peer's, in
	// shared mode) superseded it; otherwise it is missing. If every known
	// pack is missing, this is most likely not the bucket the index was
	// built from: stop before mixing two buckets' packs.
	superseded := map[packID]bool{}
	for _, p := range indexes {
		for _, old := range p.supersedes {
			superseded[old] = true
		}
	}
	var missing []packID
	accounted := 0
	for id, info := range known {
		switch {
		case info.deleteAt != 0:
		case listed[id] || superseded[id]:
			accounted++
		default:
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 && accounted == 0 {
		return fmt.Errorf("s3store: the index knows %d packs and bucket %q holds none of them under %q: is this the right bucket and prefix? (to start afresh from this bucket, empty the data directory)",
			len(missing), s.cfg.Bucket, s.prefix)
	}
	fetched := time.Since(start)
	if err := s.enterPacks(ctx, indexes); err != nil {
		return err
	}
	if len(indexes) > 0 {
		s.log.Info("indexed packs found in the bucket", "packs", len(indexes),
			"took", time.Since(start).Round(time.Millisecond), "reading their indexes", fetched.Round(time.Millisecond))
	}
	for id, info := range known {
		if listed[id] || superseded[id] {
			continue
		}
		if info.deleteAt != 0 {
			// Deleted, and a crash came before the index forgot it.
			if err := s.idx.forget(id); err != nil {
				return err
			}
			continue
		}
		n, err := s.idx.forgetMissing(id)
		if err != nil {
			return err
		}
		s.log.Warn("a pack is missing from the bucket: its blocks are gone from this store", "pack", s.packKey(id), "blocks", n)
	}
	return s.idx.pruneTombstones(listed)
}

// enterPacks enters in the index the packs found in the bucket: those
// that supersede none in one bulk load, then the others one by one, each
// after the packs it supersedes (supersededFirst), so that it moves
// their blocks and, if it is this store's, schedules their deletion.
func (s *Store) enterPacks(ctx context.Context, indexes []*packIndex) error {
	var plain, superseding []*packIndex
	blocks := 0
	for _, p := range indexes {
		if len(p.supersedes) > 0 && s.cfg.Shared {
			// A shared bucket's compactions drop blocks for every peer,
			// safely only while the cluster holds every peer's adds off
			// (Collect): a peer enters their packs when the cluster
			// records them. One found here unindexed is either recorded
			// (the cluster's records enter it once this peer follows
			// them) or was left by a collection that failed before it
			// could record it, and entering it now could drop blocks
			// that were pinned since.
			s.log.Debug("a compaction's pack found in the bucket is left to the cluster's records", "pack", s.packKey(p.id))
			continue
		}
		if len(p.supersedes) > 0 {
			superseding = append(superseding, p)
			continue
		}
		plain = append(plain, p)
		blocks += len(p.blocks)
	}
	if len(plain) > 0 {
		load, err := s.idx.startLoad(blocks)
		if err != nil {
			return err
		}
		for _, p := range plain {
			if err := load.add(p); err != nil {
				load.close()
				return err
			}
		}
		if err := load.finish(ctx); err != nil {
			return err
		}
	}
	for _, p := range supersededFirst(superseding) {
		if err := s.idx.apply(p, s.adoptOpts(p)); err != nil {
			return err
		}
	}
	return nil
}

// adoptOpts says how a pack found in the bucket enters the index: the
// packs that a compaction of this store's superseded are this store's to
// delete.
func (s *Store) adoptOpts(p *packIndex) applyOpts {
	if p.id.writer() == s.idx.writer && len(p.supersedes) > 0 {
		return applyOpts{deleteAt: s.now().Add(adoptGrace)}
	}
	return applyOpts{}
}

// supersededFirst orders packs so that each comes after those it
// supersedes: the superseding one then moves their blocks and, if it is
// this store's, schedules their deletion.
func supersededFirst(packs []*packIndex) []*packIndex {
	byID := map[packID]*packIndex{}
	for _, p := range packs {
		byID[p.id] = p
	}
	depth := map[packID]int{}
	var depthOf func(p *packIndex, seen map[packID]bool) int
	depthOf = func(p *packIndex, seen map[packID]bool) int {
		if d, ok := depth[p.id]; ok {
			return d
		}
		seen[p.id] = true
		d := 0
		for _, old := range p.supersedes {
			if q, ok := byID[old]; ok && !seen[old] {
				d = max(d, depthOf(q, seen)+1)
			}
		}
		depth[p.id] = d
		return d
	}
	for _, p := range packs {
		depthOf(p, map[packID]bool{})
	}
	out := slices.Clone(packs)
	slices.SortStableFunc(out, func(a, b *packIndex) int { return depth[a.id] - depth[b.id] })
	return out
}

// listPacks lists the prefix. Every object there must be a pack: a prefix
// shared with other data is an error, not a warning, because the store
// treats the prefix as its own (a rebuild trusts what it finds there, and
// unfinished uploads under it are aborted), and an operator who pointed
// two things at one prefix wants to know before either loses data.
func (s *Store) listPacks(ctx context.Context) (map[packID]bool, error) {
	listed := map[packID]bool{}
	var foreign []string
	nforeign := 0
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(s.prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3store: listing bucket %q: %w", s.cfg.Bucket, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if id, ok := s.parsePackKey(key); ok {
				listed[id] = true
				continue
			}
			if strings.HasSuffix(key, "/") && aws.ToInt64(o.Size) == 0 {
				continue // a "folder" that a console made
			}
			nforeign++
			if len(foreign) < 3 {
				foreign = append(foreign, key)
			}
		}
	}
	if nforeign > 0 {
		where := "the bucket"
		if s.prefix != "" {
			where = fmt.Sprintf("prefix %q", s.prefix)
		}
		return nil, fmt.Errorf("s3store: %s of bucket %q holds %d objects that are not flotilla packs (such as %q): give the store a prefix of its own (--s3-prefix)",
			where, s.cfg.Bucket, nforeign, foreign)
	}
	return listed, nil
}

// readIndexes reads the index of each pack, several at once.
func (s *Store) readIndexes(ctx context.Context, ids []packID) ([]*packIndex, error) {
	slices.SortFunc(ids, func(a, b packID) int { return strings.Compare(a.String(), b.String()) })
	out := make([]*packIndex, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(indexReadsInFlight)
	for i, id := range ids {
		g.Go(func() error {
			p, err := s.readPackIndex(gctx, id)
			out[i] = p
			return err
		})
	}
	return out, g.Wait()
}

// readPackIndex reads a pack's index from the end of its object.
func (s *Store) readPackIndex(ctx context.Context, id packID) (*packIndex, error) {
	tail, size, meta, err := s.getTail(ctx, id, tailGuess)
	if err != nil {
		return nil, err
	}
	bad := func(err error) error {
		return fmt.Errorf("s3store: pack %s in bucket %q: %w", s.packKey(id), s.cfg.Bucket, err)
	}
	f, err := parseFooter(tail, size)
	if err != nil {
		return nil, bad(err)
	}
	var raw []byte
	if n := f.indexLen + footerSize; n <= int64(len(tail)) {
		raw = tail[int64(len(tail))-n : int64(len(tail))-footerSize]
	} else if raw, err = s.get(ctx, id, f.dataLen, f.indexLen); err != nil {
		return nil, err
	}
	p, err := parseIndex(id, raw, f)
	if err != nil {
		return nil, bad(err)
	}
	p.prev = prevFrom(meta, id)
	return p, nil
}

// AddPack enters in the index a pack that another writer put in the
// bucket (shared mode: the cluster tells each peer of every pack written),
// reading its index from S3. A pack known already, or superseded, is left
// alone; one that supersedes packs moves their blocks to itself.
func (s *Store) AddPack(ctx context.Context, id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	pid, err := parsePackID(id)
	if err != nil {
		return fmt.Errorf("s3store: %w", err)
	}
	if _, ok := s.idx.pack(pid); ok || s.idx.superseded(pid) {
		return nil
	}
	p, err := s.readPackIndex(ctx, pid)
	if err != nil {
		return err
	}
	return s.idx.apply(p, s.adoptOpts(p))
}
