package cluster

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/member"
)

// liveness is the leader's in-memory view of each member's health and
// load, fed by heartbeats. It is not replicated: a new leader starts afresh
// and gives every member one DownAfter of grace.
type liveness struct {
	mu       sync.Mutex // guards all fields
	members  map[string]member.Member
	leaving  map[string]bool
	downLog  map[string]bool // members already reported down
	repaired map[string]bool // members whose pins got extra allocations
}

func newLiveness() *liveness {
	return &liveness{members: map[string]member.Member{}, leaving: map[string]bool{},
		downLog: map[string]bool{}, repaired: map[string]bool{}}
}

func (l *liveness) reset(ids []string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.members, l.leaving, l.downLog = map[string]member.Member{}, map[string]bool{}, map[string]bool{}
	l.repaired = map[string]bool{}
	for _, id := range ids {
		l.members[id] = member.Member{ID: id, LastSeen: now}
	}
}

func (l *liveness) seen(id string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.members[id]
	m.ID, m.LastSeen = id, now
	l.members[id] = m
	delete(l.leaving, id)
}

func (l *liveness) report(h heartbeat, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.members[h.ID]
	m.ID, m.FreeSpace, m.QueueLen, m.Held, m.LastSeen = h.ID, h.FreeSpace, h.QueueLen, h.Held, now
	m.Errors, m.Version = h.Errors, h.Version
	if len(h.SwarmAddrs) > 0 {
		m.SwarmAddrs = h.SwarmAddrs
	}
	l.members[h.ID] = m
	if h.Leaving {
		l.leaving[h.ID] = true
	} else {
		delete(l.leaving, h.ID)
		delete(l.downLog, h.ID)
	}
}

// fill completes a stored member with its live metrics.
func (l *liveness) fill(m member.Member) member.Member {
	l.mu.Lock()
	defer l.mu.Unlock()
	if live, ok := l.members[m.ID]; ok {
		m.FreeSpace, m.QueueLen, m.Held, m.LastSeen = live.FreeSpace, live.QueueLen, live.Held, live.LastSeen
		m.Errors, m.Version = live.Errors, live.Version
		if l.leaving[m.ID] {
			m.LastSeen = time.Time{}
		}
	}
	return m
}

// downFor returns how long a member has been down (0: alive).
func (l *liveness) downFor(id string, now time.Time, downAfter time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.members[id]
	if !ok {
		return 0 // never heard of since this leader started: grace
	}
	if l.leaving[id] {
		return now.Sub(m.LastSeen) + downAfter
	}
	if d := now.Sub(m.LastSeen); d > downAfter {
		return d
	}
	return 0
}

// reportDown records that a member is down and reports whether this is
// news (the first report since it was last heard from).
func (l *liveness) reportDown(id string) (first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first = !l.downLog[id]
	l.downLog[id] = true
	return first
}

// markRepaired records whether a member's pins got extra allocations that
// may become surplus (see Peer.releaseSurplus).
func (l *liveness) markRepaired(id string, repaired bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if repaired {
		l.repaired[id] = true
	} else {
		delete(l.repaired, id)
	}
}

// repairedPeers lists the members marked repaired.
func (l *liveness) repairedPeers() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Collect(maps.Keys(l.repaired))
}
