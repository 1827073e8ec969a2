package consensus

import (
	"sync"
	"time"
)

// lease lets the leader serve a read index without a heartbeat round.
//
// A follower that acknowledged this leader at some moment refuses to vote
// for anyone else (raft's leader stickiness) until its heartbeat timeout
// has passed without hearing from it. So once a quorum acknowledged
// something this leader sent at time t (VerifyLeader's heartbeats, or a
// log entry that committed), no other leader can be elected before
// t + HeartbeatTimeout. The lease runs for half of that, from t, which
// leaves room for clocks that run at slightly different rates.
//
// The one exception is a leadership transfer, whose candidate is allowed
// to ignore stickiness: the lease is void from the moment one starts.
type lease struct {
	length time.Duration

	mu           sync.Mutex
	term         uint64    // the term the lease was granted in
	until        time.Time // the lease holds before this instant
	transferring bool      // a leadership transfer is under way
}

// valid reports whether the lease still holds in term at now.
func (l *lease) valid(term uint64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.transferring && l.term == term && now.Before(l.until)
}

// renew records that a quorum acknowledged, in term, what the leader sent
// at sent or later.
func (l *lease) renew(term uint64, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := sent.Add(l.length); term > l.term || (term == l.term && until.After(l.until)) {
		l.term, l.until = term, until
	}
}

// transfer voids the lease while a leadership transfer runs (begin true)
// and lets it be renewed again once it ended (begin false).
func (l *lease) transfer(begin bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.transferring = begin
	l.until = time.Time{}
}
