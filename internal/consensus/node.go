// Package consensus keeps the pinset consistent across peers with
// hashicorp/raft: the log and stable store in pebble, the FSM applying
// batched operations to the pebble-backed state, snapshots streamed from
// it. Writes are group-committed: many operations, one log entry.
package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/flotilla-ipfs/flotilla/internal/batch"
	"github.com/flotilla-ipfs/flotilla/internal/logbridge"
)

// ErrNotLeader is returned by leader-only operations on a follower.
var ErrNotLeader = errors.New("not the raft leader")

// Config tunes raft.
type Config struct {
	Dir string // raft log and snapshots
	ID  string // this server's ID (its peer ID)
	// Addr is the address other servers dial (host:port).
	Addr string
	// HeartbeatTimeout bounds how long followers wait for the leader
	// before an election; the leader's lease follows it.
	HeartbeatTimeout time.Duration
	// SnapshotThreshold is how many entries trigger a snapshot.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries a snapshot leaves in the log for
	// slow followers; a follower further behind installs the snapshot.
	// Entries carry whole batches, so a few thousand cover a lot of pins.
	TrailingLogs uint64
}

// DefaultConfig detects a dead leader in about a second.
func DefaultConfig() Config {
	return Config{HeartbeatTimeout: time.Second, SnapshotThreshold: 8192, TrailingLogs: 2048}
}

// Node is this peer's raft server.
type Node struct {
	raft  *raft.Raft
	fsm   *fsm
	logs  *logStore
	trans *raft.NetworkTransport
	log   *slog.Logger

	batcher *batch.Batcher[applyReq]
	lease   lease // reads on the leader within it skip VerifyLeader

	// readyTerm is the last term in which this server, leading, saw every
	// entry of earlier terms applied (see ReadIndex).
	readyTerm atomic.Uint64
}

// New starts the raft server over an already opened state and a stream
// layer (clusternet's raft listener). It neither bootstraps nor joins.
func New(cfg Config, st State, stream raft.StreamLayer, log *slog.Logger) (*Node, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	logs, err := openLogStore(filepath.Join(cfg.Dir, "log"))
	if err != nil {
		return nil, err
	}
	hlog := logbridge.HCLog(log, "raft", hclog.Warn)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		logs.Close()
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 4, Timeout: 10 * time.Second, Logger: hlog,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.HeartbeatTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	// With no new entry, the leader tells followers the commit index
	// after CommitTimeout. Each tick is an AppendEntries to every
	// follower, most of an idle cluster's CPU (at 5 ms an idle leader
	// spent 8 % of a core on them; at 25 ms, a third of its 2 %). A read
	// through a follower does not wait for the tick: the leader commits an
	// empty command for a follower that lags its read index (see the
	// cluster's leaderReadIndex).
	rc.CommitTimeout = 100 * time.Millisecond
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	// The state is persistent and synced before every snapshot: on restart
	// it is normally at or past the latest snapshot, so restoring would
	// only cost time. It is behind only if a crash interrupted the install
	// of a snapshot from the leader; then the snapshot is restored.
	rc.NoSnapshotRestoreOnStart = true
	if list, err := snaps.List(); err == nil && len(list) > 0 && list[0].Index > st.Applied() {
		rc.NoSnapshotRestoreOnStart = false
	}
	f := newFSM(st, log)
	// The leader reads back every entry it sends, and the one before it,
	// on each AppendEntries: recent entries are served from memory. Few:
	// an entry holds up to 8,192 operations (about 1.5 MiB), so 1,024 of
	// them could hold 1.5 GiB (peers reached 940 MiB RSS in a bulk import
	// of a million pins).
	cached, err := raft.NewLogCache(32, logs)
	if err != nil {
		trans.Close()
		logs.Close()
		return nil, err
	}
	r, err := raft.NewRaft(rc, f, cached, logs, snaps, trans)
	if err != nil {
		trans.Close()
		logs.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n := &Node{raft: r, fsm: f, logs: logs, trans: trans, log: log}
	n.lease.length = cfg.HeartbeatTimeout / 2
	n.batcher = n.newBatcher()
	return n, nil
}

// HasState reports whether this server has ever been part of a cluster.
func (n *Node) HasState() bool {
	return n.raft.LastIndex() > 0
}

// Bootstrap forms a new cluster of the given servers. Every server of a
// bootstrap-expect group calls it with the same list; raft accepts it only
// on servers without state.
func (n *Node) Bootstrap(servers []raft.Server) error {
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return nil
	}
	return err
}

// IsLeader reports whether this server leads.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's ID and address, empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// LeaderCh reports leadership changes of this server.
func (n *Node) LeaderCh() <-chan bool { return n.raft.LeaderCh() }

// Servers returns the current raft configuration.
func (n *Node) Servers() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	// A copy: raft hands out the slice of its own latest configuration,
	// which a caller that sorts or filters it would change under raft.
	return slices.Clone(f.Configuration().Servers), nil
}

// AddServer adds (or re-adds) a server as voter or non-voter. Leader only.
func (n *Node) AddServer(id, addr string, voter bool) error {
	var f raft.IndexFuture
	if voter {
		f = n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 30*time.Second)
	} else {
		f = n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 30*time.Second)
	}
	return leaderErr(f.Error())
}

// RemoveServer removes a server from the configuration. Leader only.
func (n *Node) RemoveServer(id string) error {
	return leaderErr(n.raft.RemoveServer(raft.ServerID(id), 0, 30*time.Second).Error())
}

// ReadIndex returns an index that every read must wait for to see every
// write acknowledged before the call: the leader's commit index, after the
// leader confirmed it still leads: by a heartbeat round, or without one
// while its lease holds (see lease). Leader only.
//
// A new leader's commit index may not yet cover entries its predecessor
// committed: raft counts them committed only once an entry of the new term
// is. So the first read of each term commits an empty command, which every
// server's FSM applies (raft's own no-op and barrier entries never reach
// it, and an index no FSM passes would stall WaitApplied).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	term := n.raft.CurrentTerm()
	if !n.IsLeader() {
		return 0, ErrNotLeader
	}
	if now := time.Now(); !n.lease.valid(term, now) {
		if err := leaderErr(n.raft.VerifyLeader().Error()); err != nil {
			return 0, err
		}
		n.lease.renew(term, now)
	}
	if term := n.raft.CurrentTerm(); n.readyTerm.Load() != term {
		if err := n.Apply(ctx, nil); err != nil {
			return 0, err
		}
		n.readyTerm.Store(term)
	}
	return n.raft.CommitIndex(), nil
}

// WaitApplied blocks until this server's FSM has applied index, or fails
// with the FSM's failure once it stopped applying. Raft's election no-op
// never reaches the FSM; a new leader writes a command right after it (the
// cluster records its leader as a member), so the FSM passes the no-op's
// index within one round trip.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		applied, advanced, failed := n.fsm.appliedIndex()
		switch {
		case failed != nil:
			return failed
		case applied >= index:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-advanced:
		}
	}
}

// Applied is the index of the last entry this server applied.
func (n *Node) Applied() uint64 {
	applied, _, _ := n.fsm.appliedIndex()
	return applied
}

// Stopped is closed when this server stopped applying the log (see Err).
func (n *Node) Stopped() <-chan struct{} { return n.fsm.stopped }

// Err is the failure that stopped this server from applying the log (it
// wraps ErrFailed), nil while it applies. A server in this state serves no
// reads and must be restarted.
func (n *Node) Err() error { return n.fsm.failure() }

// LeadershipTransfer hands leadership to another voter, if this leads.
func (n *Node) LeadershipTransfer() error {
	if !n.IsLeader() {
		return nil
	}
	n.lease.transfer(true)
	defer n.lease.transfer(false)
	return n.raft.LeadershipTransfer().Error()
}

// Snapshot takes a snapshot now and compacts the log.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// Stats exposes raft's counters (for status pages and tests).
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// Shutdown stops raft and closes the log. The state is the caller's.
func (n *Node) Shutdown() error {
	n.batcher.Stop()
	err := n.raft.Shutdown().Error()
	return errors.Join(err, n.trans.Close(), n.logs.Close())
}

func leaderErr(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return err
}
