// Package s3store keeps a node's blocks in S3, as a go-datastore Batching
// store that boxo's blockstore sits on (keys are /<base32 multihash>).
//
// Blocks written together go into one pack object (pack.go): a batch's
// blocks, and small commits that arrive while uploads are in flight
// (write.go). A commit returns once its pack is in S3, never before. A
// local pebble index (index.go) maps each multihash to its pack, offset
// and size, so "have?" and sizes cost no request, and a disk cache of
// pack ranges (cache.go) serves what was read before. A read fetches an
// aligned range of the pack around the block, so a DAG read in order,
// whose blocks sit side by side in their pack, takes a GET per range and
// not per block (read.go). Every block read is hashed against its
// multihash.
//
// The bucket is the store; the data directory is a cache of it. An empty
// directory is rebuilt from the packs' own indexes at open (sync.go), and
// a pack another peer wrote enters the index through AddPack. Deleted
// blocks are dropped from the index, and Compact rewrites packs that are
// mostly dead (compact.go). docs/storage-s3.md tells the whole story.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ipfs/boxo/datastore/dshelp"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/flotilla-ipfs/flotilla/internal/batch"
)

var (
	// ErrCorrupt marks a block whose bytes in S3 do not hash to its
	// multihash, or a pack shorter than its index says.
	ErrCorrupt = errors.New("corrupt block")
	// ErrClosed is returned by a store after Close.
	ErrClosed = errors.New("s3store: closed")
	// ErrSharedDelete is returned by a delete in shared mode: the bucket's
	// blocks are the cluster's, and one peer's garbage collection, which
	// knows only its own pins, cannot tell which are garbage. The cluster
	// collects them (Collect) from every peer's pins at once.
	ErrSharedDelete = errors.New("s3store: blocks in a shared bucket are collected by the cluster's garbage collection (REST API /ipfs/gc), not deleted by one peer")
)

// Deps are what a store is given besides its settings.
type Deps struct {
	Logger  *slog.Logger          // nil: discard
	Metrics prometheus.Registerer // nil: a private registry
	// OnPack, if set, is told the id of each pack this store wrote, once
	// the pack is in S3 and in the index, and before the write that made
	// it is acknowledged. In shared mode the cluster passes it on, and the
	// other peers call AddPack. It may wait a little (the cluster records
	// the pack before the write returns, so that a pin that follows the
	// write finds the record before it), but it holds an upload slot
	// meanwhile and must return promptly.
	OnPack func(id string)
	// OnMiss, if set, is called before a lookup reports a block missing
	// (Get, Has, GetSize, Put), and the lookup is tried again once it
	// returns. In shared mode it brings the index up to the packs the
	// cluster has recorded (calling AddPack): a block another peer wrote
	// is then found here rather than fetched from that peer. It is called
	// on every miss, so it must cost next to nothing when there is
	// nothing new.
	OnMiss func(ctx context.Context)
}

// Store is the block store. It is safe for concurrent use.
type Store struct {
	cfg     Config
	log     *slog.Logger
	client  *s3.Client
	prefix  string // of every key: "" or "<Prefix>/"
	idx     *index
	cache   *cache
	metrics *metrics
	onPack  func(string)
	onMiss  func(context.Context)
	health  health
	now     func() time.Time // time.Now; tests move it

	group      *batch.Batcher[commitReq] // group commit of packs (write.go)
	reads      singleflight.Group        // one GET per range at a time (read.go)
	ahead      sync.WaitGroup            // ranges being read ahead; Close waits for them
	aheadSlots chan struct{}             // a token per range being read ahead
	streams    readStreams               // what read-ahead knows of the reads (read.go)
	order      packOrder                 // the pack sealed last (write.go)
	compactMu  sync.Mutex                // one Compact at a time

	// life lets Close wait for the calls in progress: they hold it for
	// reading, and fail with ErrClosed once closed is set.
	life   sync.RWMutex
	closed bool // guarded by life
}

var (
	_ ds.Batching            = (*Store)(nil)
	_ ds.PersistentDatastore = (*Store)(nil)
)

// Open opens the store whose index and cache live in dir, creating them if
// needed. It checks the bucket (a clear error if it is missing or the
// credentials cannot open it), aborts the multipart uploads this store
// left unfinished, and brings the index up to the packs in the bucket:
// for an empty dir that is a rebuild of the whole index.
func Open(ctx context.Context, dir string, cfg Config, deps Deps) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, log: log.With("component", "s3store"), prefix: cfg.keyPrefix(), onPack: deps.OnPack, onMiss: deps.OnMiss, now: time.Now,
		aheadSlots: make(chan struct{}, readsAhead)}
	s.metrics = newMetrics()
	s.health.now = func() time.Time { return s.now() }
	var err error
	if s.client, err = newClient(ctx, cfg, s.metrics, &s.health); err != nil {
		return nil, err
	}
	if s.idx, err = openIndex(filepath.Join(dir, "index")); err != nil {
		return nil, err
	}
	fail := func(err error) (*Store, error) {
		s.idx.close()
		return nil, err
	}
	if s.cache, err = openCache(filepath.Join(dir, "cache"), cfg.CacheSize); err != nil {
		return fail(err)
	}
	if err := s.abortUploads(ctx); err != nil {
		return fail(err)
	}
	if err := s.syncPacks(ctx); err != nil {
		return fail(err)
	}
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if err := s.metrics.register(reg, s); err != nil {
		return fail(fmt.Errorf("s3store: metrics: %w", err))
	}
	s.startGroupCommit()
	return s, nil
}

// enter starts a call; leave ends it.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.life.RUnlock() }

// Close waits for the calls in progress and the uploads in flight, then
// closes the index. Commits still queued fail with ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.group.Stop()
	s.ahead.Wait()
	return s.idx.close()
}

// blockHash returns the multihash a key names, as a string.
func blockHash(k ds.Key) (string, bool) {
	h, err := dshelp.DsKeyToMultihash(k)
	return string(h), err == nil
}

// Get reads a block: from the cache, or with a ranged GET of its pack.
func (s *Store) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	h, ok := blockHash(key)
	if !ok {
		return nil, ds.ErrNotFound
	}
	loc, found, err := s.locate(ctx, h)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ds.ErrNotFound
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.readBlock(ctx, h, loc)
}

// Has answers from the index alone.
func (s *Store) Has(ctx context.Context, key ds.Key) (bool, error) {
	h, ok := blockHash(key)
	if !ok {
		return false, nil
	}
	_, found, err := s.locate(ctx, h)
	return found, err
}

// GetSize answers from the index alone.
func (s *Store) GetSize(ctx context.Context, key ds.Key) (int, error) {
	h, ok := blockHash(key)
	if !ok {
		return -1, ds.ErrNotFound
	}
	loc, found, err := s.locate(ctx, h)
	if err != nil {
		return -1, err
	}
	if !found {
		return -1, ds.ErrNotFound
	}
	return int(loc.size), nil
}

// locate looks a block up in the index. On a miss it gives OnMiss the
// chance to bring the index up to date, and looks again: always, since
// packs another caller's OnMiss entered after the first lookup count too.
// OnMiss runs outside enter: it calls AddPack, which enters itself.
func (s *Store) locate(ctx context.Context, h string) (location, bool, error) {
	lookup := func() (location, bool, error) {
		if err := s.enter(); err != nil {
			return location{}, false, err
		}
		defer s.leave()
		return s.idx.lookup(h)
	}
	loc, found, err := lookup()
	if err != nil || found || s.onMiss == nil {
		return loc, found, err
	}
	s.onMiss(ctx)
	return lookup()
}

// Put stores a block durably: it returns once the block's pack is in S3.
// Puts that arrive together share a pack (write.go). A block the store
// holds already is not written again.
func (s *Store) Put(ctx context.Context, key ds.Key, value []byte) error {
	h, ok := blockHash(key)
	if !ok {
		return fmt.Errorf("s3store: key %s does not name a block (/<base32 multihash>)", key)
	}
	if _, found, err := s.locate(ctx, h); err != nil || found {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	p := newPackBuilder()
	p.add(h, value)
	return s.commit(ctx, p)
}

// Delete drops a block from the index. Its bytes stay in their pack until
// a compaction rewrites the pack. In shared mode it fails with
// ErrSharedDelete: a block one peer dropped from its own index would be
// written again by its next add, and a compaction of this peer's would
// drop it for every peer (see Collect).
func (s *Store) Delete(ctx context.Context, key ds.Key) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if s.cfg.Shared {
		return ErrSharedDelete
	}
	h, ok := blockHash(key)
	if !ok {
		return nil
	}
	return s.idx.remove(h)
}

// Sync does nothing: every Put and Commit is in S3 when it returns.
func (s *Store) Sync(ctx context.Context, prefix ds.Key) error { return nil }

// DiskUsage is the size of the packs in S3, live blocks or not: what the
// bucket bills for (the local cache is bounded by Config.CacheSize).
func (s *Store) DiskUsage(ctx context.Context) (uint64, error) {
	return uint64(s.Stats().PackBytes), nil
}

// queryPage is how many index entries a query reads at a time: it holds
// no pebble iterator between pages, so a slow reader pins nothing.
const queryPage = 1024

// Query lists the blocks from the index, in multihash order; values, when
// asked for, are read like Get's.
func (s *Store) Query(ctx context.Context, q query.Query) (query.Results, error) {
	var (
		page []queryItem
		last string
		done bool
	)
	next := func() (query.Result, bool) {
		if len(page) == 0 && !done {
			var err error
			if page, err = s.queryPage(last); err != nil {
				done = true
				return query.Result{Error: err}, true
			}
			done = len(page) < queryPage
		}
		if len(page) == 0 {
			return query.Result{}, false
		}
		it := page[0]
		page, last = page[1:], it.hash
		e := query.Entry{Key: dshelp.MultihashToDsKey([]byte(it.hash)).String(), Size: int(it.loc.size)}
		if !q.KeysOnly {
			v, err := s.readBlock(ctx, it.hash, it.loc)
			if err != nil {
				return query.Result{Error: err}, true
			}
			e.Value = v
		}
		return query.Result{Entry: e}, true
	}
	return query.NaiveQueryApply(q, query.ResultsFromIterator(q, query.Iterator{Next: next, Close: func() error { return nil }})), nil
}

type queryItem struct {
	hash string
	loc  location
}

// queryPage reads up to queryPage blocks after the multihash after ("":
// from the start).
func (s *Store) queryPage(after string) ([]queryItem, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out []queryItem
	err := s.idx.eachFrom(after, func(hash string, loc location) bool {
		out = append(out, queryItem{hash, loc})
		return len(out) < queryPage
	})
	return out, err
}

// Stats are the store's figures, for metrics and repo stat.
type Stats struct {
	Packs      int64 // in the index, including those waiting for deletion
	Deleting   int64 // superseded packs waiting for their grace period to end
	PackBytes  int64 // the packs' objects in S3
	LiveBlocks int64 // blocks the index points at
	LiveBytes  int64
	CacheBytes int64 // in the local disk cache

	// Since the store opened:
	Requests       map[string]int64 // S3 requests by operation, each attempt (retries included: S3 bills them)
	FailedRequests int64            // of those, the ones not answered 2xx
	SentBytes      int64            // request bodies
	ReceivedBytes  int64            // response bodies
	CacheHits      int64            // block reads served from the cache
	CacheMisses    int64            // block reads that needed a GET
}

// LiveFraction is the share of the packs' bytes that live blocks hold:
// what a compaction would keep (1 with no packs).
func (st Stats) LiveFraction() float64 {
	if st.PackBytes == 0 {
		return 1
	}
	return float64(st.LiveBytes) / float64(st.PackBytes)
}

// CacheHitRatio is the share of block reads served from the cache (0
// before any read).
func (st Stats) CacheHitRatio() float64 {
	if st.CacheHits+st.CacheMisses == 0 {
		return 0
	}
	return float64(st.CacheHits) / float64(st.CacheHits+st.CacheMisses)
}

// Stats adds up the index's packs and reads the request counters.
func (s *Store) Stats() Stats {
	var st Stats
	st.Requests, st.FailedRequests = s.metrics.requestCounts()
	st.SentBytes, st.ReceivedBytes = s.metrics.sent.value(), s.metrics.received.value()
	st.CacheHits, st.CacheMisses = s.metrics.cacheHits.value(), s.metrics.cacheMisses.value()
	for _, info := range s.idx.packList() {
		st.Packs++
		if info.deleteAt != 0 {
			st.Deleting++
		}
		st.PackBytes += info.size
		st.LiveBlocks += info.liveBlocks
		st.LiveBytes += info.liveBytes
	}
	st.CacheBytes = s.cache.bytes()
	return st
}

// packKey is the object key of a pack: <prefix>packs/<shard>/<id>.
func (s *Store) packKey(id packID) string {
	return s.prefix + "packs/" + id.shard() + "/" + id.String()
}

// parsePackKey reads a pack's id from its object key, or reports that the
// key is not one of a pack.
func (s *Store) parsePackKey(key string) (packID, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix+"packs/")
	if !ok || len(rest) < 3 || rest[2] != '/' {
		return packID{}, false
	}
	id, err := parsePackID(rest[3:])
	if err != nil || id.shard() != rest[:2] {
		return packID{}, false
	}
	return id, true
}

// Config returns the settings the store was opened with.
func (s *Store) Config() Config { return s.cfg }
