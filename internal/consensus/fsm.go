package consensus

import (
	"io"

	"github.com/hashicorp/raft"

	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// fsm applies committed entries to the state. It only records decisions
// made before the entry was written (allocations included): no I/O beyond
// the state itself, no side effects. Watchers learn of changes through the
// state's change feed.
type fsm struct {
	st *state.Store
}

var _ raft.FSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	ops, err := decodeOps(l.Data)
	if err != nil {
		return err
	}
	return f.st.Apply(l.Index, ops)
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.st.Snapshot()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.st.Restore(rc)
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
