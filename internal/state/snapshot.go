package state

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// snapshotMagic starts every snapshot stream; the format is a sequence of
// (uvarint key length, key, uvarint value length, value) records.
const snapshotMagic = "flotilla-state-v1\n"

// Snapshot is a consistent view of the whole state, streamable while writes
// continue.
type Snapshot struct {
	snap *pebble.Snapshot
}

// Snapshot takes a point-in-time view. Release it when done.
func (s *Store) Snapshot() *Snapshot { return &Snapshot{snap: s.db.NewSnapshot()} }

// WriteTo streams every key of the snapshot.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	n, err := bw.WriteString(snapshotMagic)
	total := int64(n)
	if err != nil {
		return total, err
	}
	it, err := sn.snap.NewIter(nil)
	if err != nil {
		return total, err
	}
	defer it.Close()
	var hdr [binary.MaxVarintLen64]byte
	for ok := it.First(); ok; ok = it.Next() {
		for _, part := range [][]byte{it.Key(), it.Value()} {
			l := binary.PutUvarint(hdr[:], uint64(len(part)))
			if _, err := bw.Write(hdr[:l]); err != nil {
				return total, err
			}
			if _, err := bw.Write(part); err != nil {
				return total, err
			}
			total += int64(l + len(part))
		}
	}
	if err := it.Error(); err != nil {
		return total, err
	}
	return total, bw.Flush()
}

// Release frees the snapshot.
func (sn *Snapshot) Release() { sn.snap.Close() }

// restoreBatch bounds the memory of a restore.
const restoreBatch = 4 << 20

// Restore replaces the whole state with a snapshot stream. Watchers are
// told to resynchronise fully.
func (s *Store) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return fmt.Errorf("state: not a snapshot stream")
	}
	if err := s.db.DeleteRange([]byte{0}, []byte{0xff}, pebble.NoSync); err != nil {
		return err
	}
	b := s.db.NewBatch()
	readPart := func() ([]byte, error) {
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, l)
		_, err = io.ReadFull(br, buf)
		return buf, err
	}
	for {
		k, err := readPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Close()
			return fmt.Errorf("state: snapshot key: %w", err)
		}
		v, err := readPart()
		if err != nil {
			b.Close()
			return fmt.Errorf("state: snapshot value: %w", err)
		}
		if err := b.Set(k, v, nil); err != nil {
			b.Close()
			return err
		}
		if b.Len() > restoreBatch {
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			b = s.db.NewBatch()
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	v, closer, err := s.db.Get(keyApplied)
	if err == nil {
		s.applied.Store(binary.BigEndian.Uint64(v))
		closer.Close()
	} else {
		s.applied.Store(0)
	}
	s.membersGen.Add(1)
	s.mu.Lock()
	s.changes, s.overflow = nil, true
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
	return nil
}
