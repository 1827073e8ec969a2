package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// logStore keeps raft's log and stable store in pebble, every write synced:
// raft's safety rests on a vote or an entry, once acknowledged, never being
// forgotten.
type logStore struct {
	db *pebble.DB

	mu          sync.Mutex // guards first, last
	first, last uint64     // cached bounds of the log; 0 when empty
}

var (
	prefixLog    = []byte("l")
	prefixStable = []byte("s")
)

var _ raft.LogStore = (*logStore)(nil)
var _ raft.StableStore = (*logStore)(nil)

func openLogStore(dir string) (*logStore, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	s := &logStore{db: db}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefixLog, UpperBound: []byte("m")})
	if err != nil {
		db.Close()
		return nil, err
	}
	if it.First() {
		s.first = binary.BigEndian.Uint64(it.Key()[1:])
	}
	if it.Last() {
		s.last = binary.BigEndian.Uint64(it.Key()[1:])
	}
	it.Close()
	return s, nil
}

func (s *logStore) Close() error { return s.db.Close() }

func logKey(i uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog[0]
	binary.BigEndian.PutUint64(k[1:], i)
	return k
}

func (s *logStore) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, nil
}

func (s *logStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

// Entry layout: term, type, appended-at (unix nanos), data length, data,
// extensions.
func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 0, 8+1+8+binary.MaxVarintLen64+len(l.Data)+len(l.Extensions))
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	b = binary.BigEndian.AppendUint64(b, uint64(l.AppendedAt.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	return append(b, l.Extensions...)
}

func decodeLog(index uint64, b []byte, l *raft.Log) error {
	if len(b) < 17 {
		return errors.New("raft log entry too short")
	}
	l.Index = index
	l.Term = binary.BigEndian.Uint64(b)
	l.Type = raft.LogType(b[8])
	if ns := int64(binary.BigEndian.Uint64(b[9:])); ns != 0 {
		l.AppendedAt = time.Unix(0, ns)
	}
	b = b[17:]
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return errors.New("raft log entry corrupt")
	}
	l.Data = append([]byte(nil), b[k:k+int(n)]...)
	if rest := b[k+int(n):]; len(rest) > 0 {
		l.Extensions = append([]byte(nil), rest...)
	}
	return nil
}

func (s *logStore) GetLog(index uint64, l *raft.Log) error {
	v, closer, err := s.db.Get(logKey(index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	return decodeLog(index, v, l)
}

func (s *logStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s *logStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, l := range logs {
		if err := b.Set(logKey(l.Index), encodeLog(l), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	s.mu.Lock()
	if s.first == 0 || logs[0].Index < s.first {
		s.first = logs[0].Index
	}
	if last := logs[len(logs)-1].Index; last > s.last {
		s.last = last
	}
	s.mu.Unlock()
	return nil
}

func (s *logStore) DeleteRange(min, max uint64) error {
	if err := s.db.DeleteRange(logKey(min), logKey(max+1), pebble.Sync); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Raft deletes either a prefix (compaction) or a suffix (conflict).
	switch {
	case min <= s.first && max >= s.last:
		s.first, s.last = 0, 0
	case min <= s.first:
		s.first = max + 1
	case max >= s.last:
		s.last = min - 1
	}
	return nil
}

func stableKey(k []byte) []byte { return append([]byte{prefixStable[0]}, k...) }

func (s *logStore) Set(k, v []byte) error {
	return s.db.Set(stableKey(k), v, pebble.Sync)
}

func (s *logStore) Get(k []byte) ([]byte, error) {
	v, closer, err := s.db.Get(stableKey(k))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errors.New("not found") // raft's own stores say exactly this
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

func (s *logStore) SetUint64(k []byte, v uint64) error {
	return s.Set(k, binary.BigEndian.AppendUint64(nil, v))
}

func (s *logStore) GetUint64(k []byte) (uint64, error) {
	v, err := s.Get(k)
	if err != nil {
		if err.Error() == "not found" {
			return 0, nil
		}
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("stable key %q: %d bytes, want 8", k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
