package state

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counts are the pin operations this peer's state machine applied since
// it started. Every peer applies every entry, so each peer's counts grow
// as the cluster's do: their rates are the cluster's.
type Counts struct {
	Pinned   uint64 // pins put (new pins and changes of a pin's options)
	Unpinned uint64 // pins deleted
	Moved    uint64 // pins given new allocations (repair, release of surplus, a member's removal)
}

// MoveWindow is how far back RecentMoves can look.
const MoveWindow = time.Minute

// stats counts what Apply applied. It is this process's, not replicated:
// a restart starts it at zero, and entries replayed at start are not
// counted (Apply skips them).
type stats struct {
	pinned, unpinned, moved atomic.Uint64

	mu sync.Mutex // guards moves, lastMove
	// moves are the pins moved per second of the last MoveWindow, a ring
	// indexed by the unix second.
	moves    [moveSlots]moveSlot
	lastMove time.Time
}

const moveSlots = int(MoveWindow / time.Second)

type moveSlot struct {
	sec int64
	n   int
}

func (st *stats) add(now time.Time, pinned, unpinned, moved int) {
	st.pinned.Add(uint64(pinned))
	st.unpinned.Add(uint64(unpinned))
	if moved == 0 {
		return
	}
	st.moved.Add(uint64(moved))
	sec := now.Unix()
	st.mu.Lock()
	defer st.mu.Unlock()
	s := &st.moves[sec%int64(moveSlots)]
	if s.sec != sec {
		*s = moveSlot{sec: sec}
	}
	s.n += moved
	st.lastMove = now
}

// Counts returns the pin operations applied since this peer started.
func (s *Store) Counts() Counts {
	return Counts{Pinned: s.stats.pinned.Load(), Unpinned: s.stats.unpinned.Load(), Moved: s.stats.moved.Load()}
}

// RecentMoves reports how many pins were given new allocations in the
// MoveWindow before now (to the second), and when the last move was applied
// (zero: none since this peer started). It reads a fixed-size ring, never
// the pinset.
func (s *Store) RecentMoves(now time.Time) (n int, last time.Time) {
	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	from := now.Unix() - int64(moveSlots)
	for _, m := range st.moves {
		if m.sec > from && m.sec <= now.Unix() {
			n += m.n
		}
	}
	return n, st.lastMove
}
