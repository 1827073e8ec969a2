// Package state is the replicated pinset as one peer stores it: pins,
// their allocation index and the cluster's members, in pebble, so that the
// pinset can grow to tens of millions of pins without living in memory.
//
// Reads are open to everyone. Writes come only from the raft FSM (Apply and
// Restore): every peer applies the same log, so every peer holds the same
// state at the same index.
package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Key layout. Pins sort by CID bytes, so every peer lists them in the same
// order and per-peer streams can be merged.
var (
	prefixPin    = []byte("p/")
	prefixAlloc  = []byte("a/") // a/<peer>/<cid>: the pins allocated to a peer
	prefixMember = []byte("m/")
	prefixRecord = []byte("x/") // x/<key>: records of the APIs (tokens, pin requests)
	// q/<id> → when, and w/<when><id>: the IDs of requests recently
	// applied, so that a request retried after a lost answer is recognised.
	prefixRequest     = []byte("q/")
	prefixRequestWhen = []byte("w/")
	keyApplied        = []byte("z/applied")
)

// OpKind numbers are persisted in the raft log: append only, never reuse.
type OpKind uint8

// Operations on the state.
const (
	OpPutPin       OpKind = 1
	OpDeletePin    OpKind = 2
	OpPutMember    OpKind = 3
	OpDeleteMember OpKind = 4
	OpPutRecord    OpKind = 5
	OpDeleteRecord OpKind = 6
	OpRequest      OpKind = 7
	// OpSetAllocations moves an existing pin (Pin.Cid) to Pin.Allocations
	// and changes nothing else of it; for a pin that no longer exists it
	// does nothing. Repair and rebalancing use it: they read a pin and
	// decide its allocations before their write commits, and a whole-pin
	// put would bring back a pin unpinned in between (or undo an update).
	OpSetAllocations OpKind = 8
)

// Op is one change. Only the fields of its kind are set.
type Op struct {
	Kind   OpKind
	Pin    pin.Pin       // OpPutPin; OpSetAllocations: Cid and Allocations
	Cid    cid.Cid       // OpDeletePin
	Member member.Member // OpPutMember
	ID     string        // OpDeleteMember; OpRequest: the request's ID
	Key    string        // OpPutRecord, OpDeleteRecord
	Value  []byte        // OpPutRecord
	At     time.Time     // OpRequest: when the leader accepted it
	// PinRecord is Pin as EncodePin wrote it, when the op was decoded
	// from that (from the log): it is stored as it is, not encoded again.
	PinRecord []byte
}

// RequestMemory is how long the ID of an applied request is remembered: far
// longer than any caller keeps retrying one.
const RequestMemory = 10 * time.Minute

// ErrRejected marks an operation the state refuses for what it says, not
// for anything about this peer: every peer refuses it alike, so it is the
// entry's answer and the other operations of the entry still apply.
var ErrRejected = errors.New("operation rejected")

// maxPendingChanges bounds the change feed; past it, watchers are told to
// resynchronise fully instead.
const maxPendingChanges = 1 << 16

// Store is the pinset of one peer.
type Store struct {
	db      *pebble.DB
	applied atomic.Uint64

	// members caches Members: every placement reads them, and they change
	// only when peers join or leave. A cached list is valid while its
	// generation is the current one.
	members    atomic.Pointer[memberList]
	membersGen atomic.Uint64

	stats stats // what Apply applied, for metrics and the console

	mu       sync.Mutex // guards changes, overflow, signal
	changes  []cid.Cid
	overflow bool
	signal   chan struct{}
}

// Open opens (creating if needed) the state in dir.
func Open(dir string) (*Store, error) {
	// The block cache holds the sstables' index and filter blocks, which
	// every lookup reads, and the pins the tracker reads back as they
	// change. Compactions rewrite tables, whose filters are then read
	// again: under a bulk import of 200,000 pins a 32 MiB cache spent a
	// third of the peers' CPU reading filter blocks back from disk
	// (BenchmarkPinMany: 10,355 pins/s; 16,969 with 128 MiB). The cache
	// fills only as far as the pinset needs.
	cache := pebble.NewCache(128 << 20)
	defer cache.Unref()
	opts := &pebble.Options{Logger: quietLogger{}, Cache: cache}
	// A bulk import writes a few hundred bytes per pin on every peer:
	// bigger memtables than pebble's 4 MiB flush less often, into fewer
	// L0 tables, and compactions, which took a third of the CPU of a bulk
	// import, become a tenth of it. Beyond 32 MiB lookups in the memtable's
	// skiplist cost more than that saves (BenchmarkPinMany).
	opts.MemTableSize = 32 << 20
	// Bloom filters: every write looks up the pin it replaces, and most
	// lookups of new pins miss; a filter answers those without reading
	// sstable blocks.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	s := &Store{db: db, signal: make(chan struct{}, 1)}
	v, closer, err := db.Get(keyApplied)
	switch {
	case err == nil:
		s.applied.Store(binary.BigEndian.Uint64(v))
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		db.Close()
		return nil, err
	}
	return s, nil
}

// Sync makes every applied entry durable.
func (s *Store) Sync() error { return s.db.LogData(nil, pebble.Sync) }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Applied is the index of the last log entry applied.
func (s *Store) Applied() uint64 { return s.applied.Load() }

func pinKey(c cid.Cid) []byte { return append(bytes.Clone(prefixPin), c.Bytes()...) }

func allocKey(peer string, c cid.Cid) []byte {
	k := append(bytes.Clone(prefixAlloc), peer...)
	k = append(k, '/')
	return append(k, c.Bytes()...)
}

func memberKey(id string) []byte { return append(bytes.Clone(prefixMember), id...) }

func recordKey(key string) []byte { return append(bytes.Clone(prefixRecord), key...) }

// Apply applies the ops of log entry index atomically, with the index, so a
// crash never leaves half an entry applied. An entry at or below the applied
// index is a replay and is skipped.
//
// The two results mean different things. rejected (nil, or one error per
// op) holds the ops refused for their content (ErrRejected): the same on
// every peer, so they are part of the outcome of the entry. err is a
// failure of this peer (its disk, an op kind this version does not know):
// nothing of the entry was applied, and the caller must not go on to the
// next entry as if it had been.
func (s *Store) Apply(index uint64, ops []Op) (rejected []error, err error) {
	if index <= s.applied.Load() {
		return nil, nil
	}
	// A plain batch, not an indexed one: the only reads of the entry's own
	// writes are of the pins it changes, which touched remembers.
	b := s.db.NewBatch()
	defer b.Close()
	// The pins the entry changed so far (nil: deleted), over prev, the
	// state as the entry found it.
	touched := map[cid.Cid]*pin.Pin{}
	prev := s.NewReader()
	defer prev.Close()
	var changed []cid.Cid
	var latest time.Time // of the entry's requests, by the leader's clock
	var pinned, unpinned, moved int
	for i, op := range ops {
		if err := op.Check(); err != nil {
			if rejected == nil {
				rejected = make([]error, len(ops))
			}
			rejected[i] = err
			continue
		}
		switch op.Kind {
		case OpPutPin:
			if err := putPin(b, prev, touched, op.Pin, op.PinRecord); err != nil {
				return nil, err
			}
			changed = append(changed, op.Pin.Cid)
			pinned++
		case OpSetAllocations:
			cur, ok, err := current(prev, touched, op.Pin.Cid)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // unpinned since the allocations were decided
			}
			cur.Allocations = op.Pin.Allocations
			if err := putPin(b, prev, touched, cur, nil); err != nil {
				return nil, err
			}
			changed = append(changed, op.Pin.Cid)
			moved++
		case OpDeletePin:
			if err := unindex(b, prev, touched, op.Cid); err != nil {
				return nil, err
			}
			if err := b.Delete(pinKey(op.Cid), nil); err != nil {
				return nil, err
			}
			touched[op.Cid] = nil
			changed = append(changed, op.Cid)
			unpinned++
		case OpPutMember:
			if err := b.Set(memberKey(op.Member.ID), EncodeMember(nil, op.Member), nil); err != nil {
				return nil, err
			}
			defer s.membersGen.Add(1)
		case OpDeleteMember:
			if err := b.Delete(memberKey(op.ID), nil); err != nil {
				return nil, err
			}
			defer s.membersGen.Add(1)
		case OpPutRecord:
			if err := b.Set(recordKey(op.Key), op.Value, nil); err != nil {
				return nil, err
			}
		case OpDeleteRecord:
			if err := b.Delete(recordKey(op.Key), nil); err != nil {
				return nil, err
			}
		case OpRequest:
			if err := rememberRequest(b, op); err != nil {
				return nil, err
			}
			if op.At.After(latest) {
				latest = op.At
			}
		default:
			return nil, fmt.Errorf("state: op kind %d is unknown to this version", op.Kind)
		}
	}
	if !latest.IsZero() {
		if err := s.forgetRequests(b, latest.Add(-RequestMemory)); err != nil {
			return nil, err
		}
	}
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], index)
	if err := b.Set(keyApplied, idx[:], nil); err != nil {
		return nil, err
	}
	// Not synced: the raft log is, and a crash that loses the tail of the
	// state is repaired by raft replaying the log after its last snapshot.
	// That holds as long as the state on disk never runs behind a snapshot
	// (raft restores none at start): Sync is called before each one.
	if err := b.Commit(pebble.NoSync); err != nil {
		return nil, err
	}
	s.applied.Store(index)
	s.stats.add(time.Now(), pinned, unpinned, moved)
	s.notify(changed)
	return rejected, nil
}

// Check refuses an op whose content no state could apply. It looks at
// nothing but the op, so every peer decides alike.
func (op Op) Check() error {
	var bad bool
	switch op.Kind {
	case OpPutPin, OpSetAllocations:
		bad = !op.Pin.Cid.Defined()
	case OpDeletePin:
		bad = !op.Cid.Defined()
	case OpPutMember:
		bad = op.Member.ID == ""
	case OpDeleteMember, OpRequest:
		bad = op.ID == ""
	case OpPutRecord, OpDeleteRecord:
		bad = op.Key == ""
	}
	if bad {
		return fmt.Errorf("%w: op kind %d lacks its subject", ErrRejected, op.Kind)
	}
	return nil
}

// rememberRequest records a request ID, with the leader's clock at the
// time it accepted the request.
func rememberRequest(b *pebble.Batch, op Op) error {
	when := requestWhenKey(op.At, op.ID)
	if err := b.Set(append(bytes.Clone(prefixRequest), op.ID...), when[len(prefixRequestWhen):len(prefixRequestWhen)+8], nil); err != nil {
		return err
	}
	return b.Set(when, nil, nil)
}

// forgetRequests forgets the request IDs recorded before cutoff, once per
// entry (a group-committed entry carries many requests). The cutoff comes
// from the leader's clock written in the entry, so every peer forgets the
// same ones. It reads the committed state, not the batch: an ID recorded
// by this same entry is never older than the cutoff.
func (s *Store) forgetRequests(b *pebble.Batch, cutoff time.Time) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixRequestWhen, UpperBound: requestWhenKey(cutoff, "")})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		id := it.Key()[len(prefixRequestWhen)+8:]
		if err := b.Delete(append(bytes.Clone(prefixRequest), id...), nil); err != nil {
			return err
		}
		if err := b.Delete(bytes.Clone(it.Key()), nil); err != nil {
			return err
		}
	}
	return it.Error()
}

func requestWhenKey(at time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64(bytes.Clone(prefixRequestWhen), uint64(max(at.UnixNano(), 0)))
	return append(k, id...)
}

// SeenRequest reports whether a request with this ID was applied within
// RequestMemory.
func (s *Store) SeenRequest(id string) (bool, error) {
	_, closer, err := s.db.Get(append(bytes.Clone(prefixRequest), id...))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// current is the pin c as an earlier op of the same entry left it
// (touched), or else as the state held it (prev).
func current(prev *Reader, touched map[cid.Cid]*pin.Pin, c cid.Cid) (pin.Pin, bool, error) {
	if p, ok := touched[c]; ok {
		if p == nil {
			return pin.Pin{}, false, nil
		}
		return *p, true, nil
	}
	return prev.Get(c)
}

// putPin writes p (record: its encoding, when the log carried it) and
// moves it in the allocation index.
func putPin(b *pebble.Batch, prev *Reader, touched map[cid.Cid]*pin.Pin, p pin.Pin, record []byte) error {
	if err := unindex(b, prev, touched, p.Cid); err != nil {
		return err
	}
	if record == nil {
		record = EncodePin(nil, p)
	}
	if err := b.Set(pinKey(p.Cid), record, nil); err != nil {
		return err
	}
	for _, a := range p.Allocations {
		if err := b.Set(allocKey(a, p.Cid), nil, nil); err != nil {
			return err
		}
	}
	touched[p.Cid] = &p
	return nil
}

// unindex removes the allocation index entries of the pin c, as it was
// before this op.
func unindex(b *pebble.Batch, prev *Reader, touched map[cid.Cid]*pin.Pin, c cid.Cid) error {
	old, found, err := current(prev, touched, c)
	if err != nil || !found {
		return err
	}
	for _, a := range old.Allocations {
		if err := b.Delete(allocKey(a, c), nil); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) notify(changed []cid.Cid) {
	s.mu.Lock()
	if len(s.changes)+len(changed) > maxPendingChanges {
		s.overflow, s.changes = true, nil
	} else if !s.overflow {
		s.changes = append(s.changes, changed...)
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Changed is signalled after every applied entry (coalesced).
func (s *Store) Changed() <-chan struct{} { return s.signal }

// DrainChanges returns the pins changed since the last call. full is true
// when too many changed to track one by one: the caller must then look at
// the whole pinset.
func (s *Store) DrainChanges() (changed []cid.Cid, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed, full = s.changes, s.overflow
	s.changes, s.overflow = nil, false
	return changed, full
}

// Get returns the pin for c. To look up many pins, a Reader is cheaper.
func (s *Store) Get(c cid.Cid) (pin.Pin, bool, error) {
	r := s.NewReader()
	defer r.Close()
	return r.Get(c)
}

// Reader looks up pins in the state as it was when the reader was made.
// It is one pebble iterator for all the lookups, and it consults the
// bloom filters of every level: pebble's Get skips those of the last
// level, which holds most of the pinset, so every lookup of a pin that
// does not exist yet (most writes look one up) read a data block from
// disk. Not safe for concurrent use.
type Reader struct{ it *pebble.Iterator }

// NewReader returns a Reader; the caller closes it.
func (s *Store) NewReader() *Reader {
	it, err := s.db.NewIter(&pebble.IterOptions{UseL6Filters: true})
	if err != nil { // pebble fails NewIter only for bad options
		panic(err)
	}
	return &Reader{it: it}
}

// Get returns the pin for c.
func (r *Reader) Get(c cid.Cid) (pin.Pin, bool, error) {
	key := pinKey(c)
	if !r.it.SeekPrefixGE(key) || !bytes.Equal(r.it.Key(), key) {
		return pin.Pin{}, false, r.it.Error()
	}
	v, err := r.it.ValueAndErr()
	if err != nil {
		return pin.Pin{}, false, err
	}
	p, err := DecodePin(v)
	return p, err == nil, err
}

// Close releases the reader.
func (r *Reader) Close() error { return r.it.Close() }

// List calls fn for every pin in CID-byte order, starting after the pin
// after (cid.Undef: from the start), until fn returns an error. It reads a
// consistent snapshot and holds nothing in memory.
func (s *Store) List(ctx context.Context, after cid.Cid, fn func(pin.Pin) error) error {
	lower := prefixPin
	if after.Defined() {
		lower = append(pinKey(after), 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper(prefixPin)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := DecodePin(it.Value())
		if err != nil {
			return fmt.Errorf("pin %x: %w", it.Key(), err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return it.Error()
}

// ListAllocated calls fn with the CID of every pin allocated to peer, in
// CID-byte order, starting after the pin after (cid.Undef: from the start).
func (s *Store) ListAllocated(ctx context.Context, peer string, after cid.Cid, fn func(cid.Cid) error) error {
	prefix := append(append(bytes.Clone(prefixAlloc), peer...), '/')
	lower := prefix
	if after.Defined() {
		lower = append(append(bytes.Clone(prefix), after.Bytes()...), 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := cid.Cast(bytes.Clone(it.Key()[len(prefix):]))
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return it.Error()
}

// Members returns every member, in ID order. The slice is shared: do not
// modify it.
func (s *Store) Members() ([]member.Member, error) {
	gen := s.membersGen.Load()
	if cached := s.members.Load(); cached != nil && cached.gen == gen {
		return cached.list, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixMember, UpperBound: upper(prefixMember)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []member.Member
	for ok := it.First(); ok; ok = it.Next() {
		m, err := DecodeMember(it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	s.members.Store(&memberList{gen: gen, list: out})
	return out, nil
}

// Record returns the value of the record key.
func (s *Store) Record(key string) ([]byte, bool, error) {
	v, closer, err := s.db.Get(recordKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// Records streams the records whose keys start with prefix, in key order,
// starting after the key after ("" for the first).
func (s *Store) Records(ctx context.Context, prefix, after string, fn func(key string, value []byte) error) error {
	lower := recordKey(prefix)
	if after != "" {
		lower = append(recordKey(after), 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper(recordKey(prefix))})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(string(it.Key()[len(prefixRecord):]), bytes.Clone(it.Value())); err != nil {
			return err
		}
	}
	return it.Error()
}

type memberList struct {
	gen  uint64
	list []member.Member
}

// upper is the smallest key greater than every key with prefix.
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

// quietLogger keeps pebble's informational chatter out of our logs.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
