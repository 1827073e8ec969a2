package consensus

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// State is what the FSM applies entries to: the pebble-backed
// *state.Store (a test may wrap it to fail on purpose).
type State interface {
	// Apply applies the ops of entry index; see state.Store.Apply for
	// what its two results mean.
	Apply(index uint64, ops []state.Op) (rejected []error, err error)
	Applied() uint64
	Sync() error
	Snapshot() *state.Snapshot
	Restore(io.Reader) error
}

var _ State = (*state.Store)(nil)

// ErrFailed wraps the failure that stopped this server from applying the
// log: once it fails, it applies nothing more until restarted.
var ErrFailed = errors.New("consensus: this server stopped applying the log")

// fsm applies committed entries to the state. It only records decisions
// made before the entry was written (allocations included): no I/O beyond
// the state itself, no side effects. Watchers learn of changes through the
// state's change feed.
//
// It fails stop. An entry the state refuses for its content is the same
// refusal on every peer: it becomes the entry's answer (applyResult). An
// entry this server cannot apply (it cannot decode it, its disk fails) is
// this server's fault: applying later entries would build a state no
// other peer has, so from then on it applies nothing, takes no snapshot
// (raft would record the skipped entries as covered) and reports the
// failure; the process exits, and on restart raft replays from the last
// entry the state holds.
type fsm struct {
	st  State
	log *slog.Logger

	mu sync.Mutex // guards applied, advanced, failed
	// applied is the index of the last entry the FSM has seen, whatever its
	// type: raft's own AppliedIndex runs ahead of the FSM (it counts entries
	// handed to the FSM goroutine, not applied ones).
	applied  uint64
	advanced chan struct{} // closed and replaced when applied moves
	failed   error
	stopped  chan struct{} // closed when failed is set
}

func newFSM(st State, log *slog.Logger) *fsm {
	return &fsm{st: st, log: log, applied: st.Applied(), advanced: make(chan struct{}), stopped: make(chan struct{})}
}

var _ raft.ConfigurationStore = (*fsm)(nil)

// applyResult is what Apply returns for an applied entry: the operations
// refused for their content, nil or one error per op.
type applyResult struct{ rejected []error }

func (f *fsm) Apply(l *raft.Log) any {
	if err := f.failure(); err != nil {
		return err
	}
	if l.Type != raft.LogCommand {
		f.advance(l.Index)
		return nil
	}
	ops, err := decodeOps(l.Data)
	if err != nil {
		return f.fail(l.Index, err)
	}
	rejected, err := f.st.Apply(l.Index, ops)
	if err != nil {
		return f.fail(l.Index, err)
	}
	f.advance(l.Index)
	return applyResult{rejected: rejected}
}

func (f *fsm) advance(index uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != nil || index <= f.applied {
		return
	}
	f.applied = index
	close(f.advanced)
	f.advanced = make(chan struct{})
}

func (f *fsm) fail(index uint64, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed == nil {
		f.failed = fmt.Errorf("%w: entry %d: %w", ErrFailed, index, err)
		close(f.stopped)
		f.log.Error("cannot apply a committed log entry: this peer stops applying and must restart", "entry", index, "applied", f.applied, "err", err)
	}
	return f.failed
}

func (f *fsm) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// appliedIndex returns the last applied index, a channel closed when it
// moves on, and the failure that stopped the FSM, if any.
func (f *fsm) appliedIndex() (uint64, <-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.advanced, f.failed
}

// StoreConfiguration is called for configuration entries (joins,
// removals, promotions), which never reach Apply. They change no state, but
// a read index may point at one (the last entry a leader commits is often a
// removal): counting them as applied keeps WaitApplied from waiting for a
// command that may never come.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) { f.advance(index) }

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.failure(); err != nil {
		return nil, err
	}
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
	if err := f.failure(); err != nil {
		return err
	}
	if err := f.st.Restore(rc); err != nil {
		return f.fail(0, fmt.Errorf("restore snapshot: %w", err))
	}
	f.mu.Lock()
	f.applied = f.st.Applied()
	close(f.advanced)
	f.advanced = make(chan struct{})
	f.mu.Unlock()
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
