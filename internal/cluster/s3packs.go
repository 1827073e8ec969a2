package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// With a shared S3 bucket (--s3-shared) every peer writes its packs to the
// same bucket and prefix, so that a block is stored once whatever the
// replication, and each peer must learn of the packs the others write
// (docs/storage-s3.md). Records in the replicated state tell them, rather
// than notices on the cluster transport, for two reasons:
//
//   - Order. A peer records a pack before the write that made it returns
//     (SharedPacks.Written is the store's OnPack), so a pin of what was
//     written reaches every peer after the record. And before a peer's
//     store says it lacks a block, it catches up on the records it has
//     applied (CatchUp is the store's OnMiss). A peer allocated a pin
//     therefore finds its blocks in its own index and fetches nothing over
//     bitswap; a notice could arrive after the pin, and the blocks would be
//     fetched and written to the bucket a second time.
//   - Completeness. A peer that was down or cut off applies the records it
//     missed from the log or a snapshot when it comes back; notices sent
//     while it was away would be lost until it lists the bucket again.
//
// The cost is a raft entry per batch of packs (a pack holds up to 64 MiB;
// an import's are 8–16 MiB). The records are
//
//	s3pack/<peer ID>/<sequence, 16 hex digits> → pack ids, one per line
//
// Each peer numbers its own records upwards, so the others follow each
// writer with a cursor and read only what is new.
const (
	packRecordPrefix = "s3pack/"
	// packsPerRecord keeps a record far below maxRecordSize (a pack id is
	// 33 bytes).
	packsPerRecord = 1000
	// packRecordWait bounds how long a write waits for its pack's record.
	// Past it the write is acknowledged anyway (it is durable in S3); a pin
	// that overtakes the record may then fetch blocks another peer holds.
	packRecordWait = 5 * time.Second
	// packFollowEvery is how often the records are followed when no miss
	// asked, so that a peer knows the others' packs before it is asked
	// for them, and how often a failed record is tried again.
	packFollowEvery = time.Second
)

// PackIndex is what the cluster needs of a block store whose packs the
// peers share; *s3store.Store is one.
type PackIndex interface {
	// AddPack enters a pack another peer wrote into the local index.
	AddPack(ctx context.Context, id string) error
	// Collect rewrites the packs of which less than threshold is kept
	// (keep: by multihash, as bytes in a string) with the kept blocks
	// only, tells removed of each block dropped, and schedules the old
	// packs' deletion after grace. The caller holds every writer off
	// (sharedgc.go).
	Collect(ctx context.Context, keep func(multihash string) bool, removed func(multihash string), threshold float64, grace time.Duration) (rewritten int, err error)
	// DeleteSuperseded deletes the packs this store's collections
	// replaced, once their grace is over.
	DeleteSuperseded(ctx context.Context) (deleted int, err error)
}

// SharedPacks tells the cluster of the packs this peer writes to a shared
// bucket and brings this peer's index up to the packs the others wrote.
// The block store reports to it from the moment it opens (Written,
// CatchUp), before the cluster peer exists; Run does the work once the
// peer runs. Until then written packs wait in a queue, and misses find
// nothing new.
type SharedPacks struct {
	log    *slog.Logger
	signal chan struct{} // something was queued

	mu      sync.Mutex
	pending []pendingPack // written here, not yet recorded; guarded by mu

	// recording is set while Run runs and the last record was written,
	// so that a write waits for its record only when one is coming.
	recording atomic.Bool
	follower  atomic.Pointer[packFollower] // set while Run runs
}

type pendingPack struct {
	id       string
	recorded chan struct{} // closed once the record naming it is committed
}

// NewSharedPacks returns an idle SharedPacks; log is the cluster's.
func NewSharedPacks(log *slog.Logger) *SharedPacks {
	return &SharedPacks{log: log.With("component", "s3packs"), signal: make(chan struct{}, 1)}
}

// Written queues the record of a pack this peer wrote and, while the
// cluster takes records, waits (up to packRecordWait) until it is
// committed: the block store's OnPack.
func (sp *SharedPacks) Written(id string) {
	pp := pendingPack{id: id, recorded: make(chan struct{})}
	sp.mu.Lock()
	sp.pending = append(sp.pending, pp)
	sp.mu.Unlock()
	select {
	case sp.signal <- struct{}{}:
	default:
	}
	if !sp.recording.Load() {
		return
	}
	select {
	case <-pp.recorded:
	case <-time.After(packRecordWait):
		sp.log.Warn("a pack's record was not committed in time; the write is acknowledged without it", "pack", id, "waited", packRecordWait)
	}
}

// CatchUp enters into the index the packs named by the records this peer
// has applied and not yet followed: the block store's OnMiss. When it
// returns, every record applied before the call was followed (or ctx
// ended). With nothing applied since the last catch-up it costs an
// atomic load. A nil SharedPacks (no shared bucket) does nothing.
func (sp *SharedPacks) CatchUp(ctx context.Context) {
	if sp == nil {
		return
	}
	if f := sp.follower.Load(); f != nil {
		f.catchUp(ctx)
	}
}

// store returns the block store while Run runs, nil otherwise (and for a
// nil SharedPacks).
func (sp *SharedPacks) store() PackIndex {
	if sp == nil {
		return nil
	}
	if f := sp.follower.Load(); f != nil {
		return f.index
	}
	return nil
}

// waitRecorded waits until the records of the packs written so far are
// committed: those queued are recorded oldest first, so the last one
// queued is the last to wait for.
func (sp *SharedPacks) waitRecorded(ctx context.Context) error {
	sp.mu.Lock()
	var last chan struct{}
	if n := len(sp.pending); n > 0 {
		last = sp.pending[n-1].recorded
	}
	sp.mu.Unlock()
	if last == nil {
		return nil
	}
	select {
	case <-last:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Run records the packs this peer writes and follows the other peers'
// records into index until ctx ends.
func (sp *SharedPacks) Run(ctx context.Context, p *Peer, index PackIndex) {
	f := &packFollower{peer: p, index: index, log: sp.log, turn: make(chan struct{}, 1), cursors: map[string]string{}}
	// Every writer's records, including those of peers no longer members,
	// once; then the members' as they come.
	target := p.st.Applied()
	if f.pass(ctx, nil) {
		f.done.Store(target)
	}
	sp.follower.Store(f)
	defer sp.follower.Store(nil)

	// Records are written apart from the following, so that a write
	// never waits for the GETs of other peers' pack indexes.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { sp.recordLoop(ctx, p) })

	tick := time.NewTicker(packFollowEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f.catchUp(ctx)
		}
	}
}

// recordLoop writes the records of the packs this peer writes until ctx
// ends.
func (sp *SharedPacks) recordLoop(ctx context.Context, p *Peer) {
	// Writes wait for their records from now on, until one fails.
	sp.recording.Store(true)
	defer sp.recording.Store(false)
	w := &packWriter{sp: sp, peer: p}
	retry := time.NewTicker(packFollowEvery)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sp.signal:
		case <-retry.C:
		}
		w.record(ctx)
	}
}

// packWriter writes this peer's records. Only recordLoop uses it.
type packWriter struct {
	sp   *SharedPacks
	peer *Peer
	seq  uint64 // of the next record; 0: not known yet
	// failed is the size of the batch whose record failed, 0 if none.
	// The record is written again with the same ids under the same key:
	// a failed write may have committed, and a peer that followed it
	// would not read a changed value again.
	failed int
}

// record writes records for the queued packs, oldest first, until none is
// left or a write fails (it is tried again on the next tick).
func (w *packWriter) record(ctx context.Context) {
	sp := w.sp
	for {
		sp.mu.Lock()
		n := min(len(sp.pending), packsPerRecord)
		if w.failed > 0 {
			n = w.failed // the queue only grows at its end: the same ids
		}
		batch := sp.pending[:n]
		sp.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		// Each attempt is bounded: without a leader the cluster waits out
		// the election, and writes must not wait for their records
		// meanwhile.
		actx, cancel := context.WithTimeout(ctx, packRecordWait)
		err := w.write(actx, batch)
		cancel()
		if err != nil {
			w.failed = len(batch)
			if sp.recording.Swap(false) {
				sp.log.Warn("recording packs in the cluster failed; retrying", "packs", len(batch), "err", err)
			}
			return
		}
		w.failed = 0
		sp.recording.Store(true)
		sp.mu.Lock()
		sp.pending = sp.pending[len(batch):]
		sp.mu.Unlock()
		for _, pp := range batch {
			close(pp.recorded)
		}
	}
}

// write commits one record naming the packs of batch.
func (w *packWriter) write(ctx context.Context, batch []pendingPack) error {
	if w.seq == 0 {
		seq, err := w.firstSeq(ctx)
		if err != nil {
			return fmt.Errorf("numbering the records: %w", err)
		}
		w.seq = seq
	}
	ids := make([]string, len(batch))
	for i, pp := range batch {
		ids[i] = pp.id
	}
	key := fmt.Sprintf("%s%s/%016x", packRecordPrefix, w.peer.ID(), w.seq)
	if err := w.peer.PutRecord(ctx, key, []byte(strings.Join(ids, "\n"))); err != nil {
		return err
	}
	w.sp.log.Debug("packs recorded", "key", key, "packs", ids)
	w.seq++
	return nil
}

// firstSeq numbers this process's first record after every record this
// peer wrote before, as the cluster acknowledged them (a synced read), and
// never below the clock in microseconds, so that a record a crash left in
// flight, committed after this read, is not overwritten either.
func (w *packWriter) firstSeq(ctx context.Context) (uint64, error) {
	seq := uint64(time.Now().UnixMicro())
	err := w.peer.Records(ctx, packRecordPrefix+w.peer.ID()+"/", "", func(key string, _ []byte) error {
		if n, ok := packRecordSeq(key); ok && n >= seq {
			seq = n + 1
		}
		return nil
	})
	return seq, err
}

// packRecordSeq reads the sequence number of a record key.
func packRecordSeq(key string) (uint64, bool) {
	i := strings.LastIndexByte(key, '/')
	n, err := strconv.ParseUint(key[i+1:], 16, 64)
	return n, err == nil
}

// packFollower enters the packs named by records into the index.
type packFollower struct {
	peer  *Peer
	index PackIndex
	log   *slog.Logger
	done  atomic.Uint64 // the state index up to which records were followed
	turn  chan struct{} // a token while a catch-up runs

	// Guarded by turn:
	cursors map[string]string // the last record key followed of each writer
	retry   map[string]int    // packs that could not be entered, and how often they failed
}

// maxPackAttempts is how often a recorded pack that cannot be entered
// (S3 failing) is tried before it is left to the next start's listing.
const maxPackAttempts = 5

// catchUp follows the records applied since the last catch-up. Callers
// that arrive while one runs wait for it, then run the next if still
// needed: a miss is answered only once every record applied before it
// was followed.
func (f *packFollower) catchUp(ctx context.Context) {
	applied := f.peer.st.Applied()
	if applied <= f.done.Load() {
		return
	}
	select {
	case f.turn <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-f.turn }()
	if applied <= f.done.Load() {
		return // another caller caught up meanwhile
	}
	// Records applied after this load may be seen or not; those before it
	// are committed in the state, so the pass below sees them.
	target := f.peer.st.Applied()
	ms, err := f.peer.st.Members()
	if err != nil {
		f.log.Warn("following pack records: listing members", "err", err)
		return
	}
	writers := map[string]bool{}
	for w := range f.cursors {
		writers[w] = true
	}
	for _, m := range ms {
		writers[m.ID] = true
	}
	if f.pass(ctx, writers) {
		f.done.Store(target)
	}
}

// pass reads the records of writers (nil: every writer's) after their
// cursors and enters their packs, and those to retry, into the index. It
// reports whether it is complete: every record read and every pack
// entered (a pack that failed is tried again by the next catch-up, up to
// maxPackAttempts times).
func (f *packFollower) pass(ctx context.Context, writers map[string]bool) (complete bool) {
	var ids []string
	collect := func(key string, value []byte) error {
		writer, _, _ := strings.Cut(strings.TrimPrefix(key, packRecordPrefix), "/")
		f.cursors[writer] = key
		for _, id := range strings.Split(string(value), "\n") {
			if id != "" {
				ids = append(ids, id)
			}
		}
		return nil
	}
	complete = true
	if writers == nil {
		if err := f.peer.st.Records(ctx, packRecordPrefix, "", collect); err != nil {
			f.log.Warn("following pack records", "err", err)
			complete = false
		}
	}
	for w := range writers {
		if err := f.peer.st.Records(ctx, packRecordPrefix+w+"/", f.cursors[w], collect); err != nil {
			f.log.Warn("following pack records", "writer", w, "err", err)
			complete = false
		}
	}
	for id := range f.retry {
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		f.log.Debug("following recorded packs", "packs", ids)
	}
	for _, id := range ids {
		// A pack the index knows costs a map lookup; a new one a GET of
		// its index.
		err := f.index.AddPack(ctx, id)
		switch {
		case err == nil:
			delete(f.retry, id)
		case ctx.Err() != nil:
			return false
		case f.retry[id]+1 >= maxPackAttempts:
			delete(f.retry, id)
			f.log.Warn("a pack the cluster recorded cannot be entered into the index; the next start's listing will find it if it exists", "pack", id, "err", err)
		default:
			if f.retry == nil {
				f.retry = map[string]int{}
			}
			f.retry[id]++
			complete = false
			f.log.Debug("entering a recorded pack failed; will retry", "pack", id, "err", err)
		}
	}
	return complete
}
