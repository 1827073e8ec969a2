package consensus

import (
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// fsm applies committed entries to the state. It only records decisions
// made before the entry was written (allocations included): no I/O beyond
// the state itself, no side effects. Watchers learn of changes through the
// state's change feed.
type fsm struct {
	st *state.Store
	// applied is the index of the last entry the FSM has seen, whatever its
	// type: raft's own AppliedIndex runs ahead of the FSM (it counts entries
	// handed to the FSM goroutine, not applied ones).
	applied atomic.Uint64
}

var _ raft.ConfigurationStore = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	defer f.applied.Store(l.Index)
	if l.Type != raft.LogCommand {
		return nil
	}
	ops, err := decodeOps(l.Data)
	if err != nil {
		return err
	}
	return f.st.Apply(l.Index, ops)
}

// StoreConfiguration is called for configuration entries (joins,
// removals, promotions), which never reach Apply. They change no state, but
// a read index may point at one (the last entry a leader commits is often a
// removal): counting them as applied keeps WaitApplied from waiting for a
// command that may never come.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) { f.applied.Store(index) }

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	// The state's writes are not synced one by one; before raft may
	// compact its log behind this snapshot, the state must be durable up
	// to it.
	if err := f.st.Sync(); err != nil {
		return nil, err
	}
	return &fsmSnapshot{snap: f.st.Snapshot()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.st.Restore(rc); err != nil {
		return err
	}
	f.applied.Store(f.st.Applied())
	return nil
}

type fsmSnapshot struct {
	snap *state.Snapshot
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.snap.Release() }
