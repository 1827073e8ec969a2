package s3store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Compaction. Deleting a block only drops it from the index; its bytes
// stay in their pack, which S3 bills for. Compact rewrites the packs whose
// live fraction fell under a threshold: their live blocks are copied into
// new packs whose index names the packs they supersede, the index moves
// the blocks there, and the old objects are deleted once a grace period
// has passed, so that a read that looked a block up before the move (or a
// peer that has not heard of it yet) still finds the old pack. The
// pending deletions are in the index (packInfo.deleteAt), so a restart
// carries them out; and because the new pack names the old ones, a
// rebuild from the bucket skips them even before they are deleted.

// CompactStats says what a Compact did.
type CompactStats struct {
	Rewritten      int   // packs whose live blocks were copied into new packs
	Written        int   // new packs
	Moved          int64 // bytes of live blocks copied
	Deleted        int   // pack objects deleted, their grace period over
	ReclaimedBytes int64 // bytes of the objects deleted
}

// Compact rewrites every pack whose live bytes are less than threshold
// (0 to 1) of its data, scheduling the old objects for deletion after
// grace, then deletes the objects whose grace period is over (from this
// call, with grace 0, or from earlier ones). Compactions run one at a
// time; reads and writes go on meanwhile.
func (s *Store) Compact(ctx context.Context, threshold float64, grace time.Duration) (CompactStats, error) {
	if err := s.enter(); err != nil {
		return CompactStats{}, err
	}
	defer s.leave()
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	st, err := s.rewrite(ctx, nil, nil, threshold, grace)
	if err != nil {
		return st, err
	}
	err = s.deleteDue(ctx, &st)
	return st, err
}

// Collect is the compaction of a shared bucket, whose blocks no one peer
// may delete (Delete refuses): the caller marked the blocks every peer of
// the cluster needs, and keep reports them (by multihash, as bytes in a
// string). Every pack whose kept bytes are less than threshold of its data
// is rewritten with only those; the blocks left behind leave the index,
// and removed is told of each. The old objects are scheduled for deletion
// after grace, which DeleteSuperseded carries out: not here, since the
// other peers learn of the new packs only after this returns, and read
// the old ones until then.
//
// The caller must keep every writer of the bucket from making a block
// needed meanwhile (the cluster holds every peer's pin lock): a block that
// an add finds in a pack being rewritten is not written again, and would
// be lost with the pack.
//
// It returns how many packs were rewritten (CompactStats are logged).
func (s *Store) Collect(ctx context.Context, keep func(multihash string) bool, removed func(multihash string), threshold float64, grace time.Duration) (rewritten int, err error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	st, err := s.rewrite(ctx, keep, removed, threshold, grace)
	if st.Rewritten > 0 || err != nil {
		s.log.Info("packs compacted", "rewritten", st.Rewritten, "written", st.Written, "moved_bytes", st.Moved, "err", err)
	}
	return st.Rewritten, err
}

// DeleteSuperseded deletes the objects of superseded packs whose grace
// period is over, and returns how many it deleted.
func (s *Store) DeleteSuperseded(ctx context.Context) (deleted int, err error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	var st CompactStats
	err = s.deleteDue(ctx, &st)
	if st.Deleted > 0 || err != nil {
		s.log.Info("superseded packs deleted", "packs", st.Deleted, "bytes", st.ReclaimedBytes, "err", err)
	}
	return st.Deleted, err
}

// rewrite rewrites the packs whose live bytes, counting only the blocks
// keep reports (nil: every block the index holds), are less than
// threshold of their data, and schedules the old objects for deletion
// after grace. Blocks not kept are told to removed (nil: no one).
// compactMu is held.
func (s *Store) rewrite(ctx context.Context, keep func(string) bool, removed func(string), threshold float64, grace time.Duration) (CompactStats, error) {
	var st CompactStats
	kept := func(e packEntry) bool { return keep == nil || keep(e.hash) }
	type source struct {
		id      packID
		live    []packEntry // kept, in pack order
		size    int64
		dropped []string // live, not kept
	}
	var sources []source
	for id, info := range s.idx.packList() {
		if info.deleteAt != 0 || info.dataLen == 0 {
			continue
		}
		if keep == nil && float64(info.liveBytes) >= threshold*float64(info.dataLen) {
			continue // no need to read its live blocks
		}
		live, err := s.idx.live(id)
		if err != nil {
			return st, err
		}
		src := source{id: id}
		for _, e := range live {
			if kept(e) {
				src.live = append(src.live, e)
				src.size += e.size
			} else {
				src.dropped = append(src.dropped, e.hash)
			}
		}
		if float64(src.size) >= threshold*float64(info.dataLen) {
			continue
		}
		if keep != nil {
			// The new pack takes every kept block of the old one, not
			// only those this index points there: another peer's index
			// may point a block two packs hold at this one, and drops
			// it when the new pack supersedes this one.
			if err := s.keptOf(ctx, &src.live, &src.size, id, keep); err != nil {
				return st, err
			}
		}
		sources = append(sources, src)
	}
	slices.SortFunc(sources, func(a, b source) int { return strings.Compare(a.id.String(), b.id.String()) })
	deleteAt := s.now().Add(grace)
	// Each source goes whole into one new pack (even with no live block
	// left, so that the new pack names it): a pack naming a superseded
	// one must hold all of its kept blocks.
	p, group := newPackBuilder(), []source(nil)
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		empty := p.empty()
		ids := make([]packID, len(group))
		for i, src := range group {
			ids[i] = src.id
		}
		pi, err := s.writePack(ctx, p, ids, applyOpts{onlyMoved: true, deleteAt: deleteAt})
		if err != nil {
			return err
		}
		for _, src := range group {
			for _, h := range src.dropped {
				if removed != nil {
					removed(h)
				}
			}
		}
		if empty {
			// A pack of no blocks only names the packs it supersedes:
			// once they are gone it is useless, so it goes a grace
			// period after them.
			if err := s.idx.scheduleDelete(pi.id, deleteAt.Add(grace)); err != nil {
				return err
			}
		}
		st.Written++
		st.Rewritten += len(group)
		p, group = newPackBuilder(), nil
		return nil
	}
	for _, src := range sources {
		if !p.empty() && p.len()+src.size > s.cfg.PackSize {
			if err := flush(); err != nil {
				return st, err
			}
		}
		if err := s.copyLive(ctx, src.id, src.live, p); err != nil {
			return st, err
		}
		st.Moved += src.size
		group = append(group, src)
	}
	return st, flush()
}

// keptOf sets *live to the blocks of pack id that keep reports, read from
// the pack's own index, in pack order, and *size to their bytes.
func (s *Store) keptOf(ctx context.Context, live *[]packEntry, size *int64, id packID, keep func(string) bool) error {
	p, err := s.readPackIndex(ctx, id)
	if err != nil {
		return fmt.Errorf("s3store: compacting pack %s: %w", id, err)
	}
	*live, *size = nil, 0
	for _, e := range p.blocks {
		if keep(e.hash) {
			*live = append(*live, e)
			*size += e.size
		}
	}
	slices.SortFunc(*live, func(a, b packEntry) int { return int(a.offset - b.offset) })
	return nil
}

// copyLive reads a pack's live blocks into p, with one GET per run of
// blocks less than ReadSize apart, bypassing the cache, and checks each
// against its multihash.
func (s *Store) copyLive(ctx context.Context, id packID, live []packEntry, p *packBuilder) error {
	for i := 0; i < len(live); {
		j, end := i+1, live[i].offset+live[i].size
		for j < len(live) && live[j].offset-end < s.cfg.ReadSize {
			end = live[j].offset + live[j].size
			j++
		}
		data, err := s.get(ctx, id, live[i].offset, end-live[i].offset)
		if err != nil {
			return fmt.Errorf("s3store: compacting pack %s: %w", id, err)
		}
		for _, e := range live[i:j] {
			b := data[e.offset-live[i].offset:][:e.size]
			if err := verify(e.hash, b); err != nil {
				return fmt.Errorf("s3store: compacting pack %s: %w: block at offset %d: %v", s.packKey(id), ErrCorrupt, e.offset, err)
			}
			p.add(e.hash, b)
		}
		i = j
	}
	return nil
}

// deleteDue deletes the objects of superseded packs whose grace period is
// over, once the index entries that moved their blocks are on disk.
func (s *Store) deleteDue(ctx context.Context, st *CompactStats) error {
	now := s.now().UnixNano()
	var due []packID
	packs := s.idx.packList()
	for id, info := range packs {
		if info.deleteAt != 0 && info.deleteAt <= now {
			due = append(due, id)
		}
	}
	if len(due) == 0 {
		return nil
	}
	// In the order they were scheduled, the packs that only name others
	// last: while a superseded pack exists, so must the pack naming it.
	slices.SortFunc(due, func(a, b packID) int {
		if d := packs[a].deleteAt - packs[b].deleteAt; d != 0 {
			return int(min(max(d, -1), 1))
		}
		return int(min(max(packs[b].dataLen-packs[a].dataLen, -1), 1))
	})
	if err := s.idx.sync(); err != nil {
		return fmt.Errorf("s3store: index: %w", err)
	}
	for _, id := range due {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.packKey(id))})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("s3store: deleting superseded pack %s: %w", s.packKey(id), err)
		}
		if err := s.idx.forget(id); err != nil {
			return err
		}
		s.cache.dropPack(id)
		st.Deleted++
		st.ReclaimedBytes += packs[id].size
	}
	return nil
}
