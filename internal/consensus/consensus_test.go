package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// tcpLayer is a plain TCP stream layer on loopback: these tests are about
// the log and the FSM, not the cluster's transport (see clusternet). It
// can cut its server off the network.
type tcpLayer struct {
	net.Listener
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (l *tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.isCut() {
		return nil, errors.New("cut off")
	}
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err == nil {
		l.track(c)
	}
	return c, err
}

func (l *tcpLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.isCut() {
			if err == nil {
				l.track(c)
			}
			return c, err
		}
		c.Close()
	}
}

func (l *tcpLayer) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

func (l *tcpLayer) track(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns = append(l.conns, c)
}

// cutOff closes every connection of the server and refuses new ones.
func (l *tcpLayer) cutOff() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// faultyState fails every Apply while broken is set, as a full or failing
// disk would.
type faultyState struct {
	*state.Store
	broken atomic.Bool
}

func (s *faultyState) Apply(index uint64, ops []state.Op) ([]error, error) {
	if s.broken.Load() {
		return nil, errors.New("injected disk failure")
	}
	return s.Store.Apply(index, ops)
}

type server struct {
	cfg   Config
	st    *faultyState
	node  *Node
	layer *tcpLayer
}

func (s *server) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s.layer = &tcpLayer{Listener: l}
	s.node, err = New(s.cfg, s.st, s.layer, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
}

// startServers forms a cluster of n servers and returns them once one
// leads.
func startServers(t *testing.T, n int) []*server {
	t.Helper()
	return startServersWith(t, n, 200*time.Millisecond)
}

func startServersWith(t *testing.T, n int, heartbeat time.Duration) []*server {
	t.Helper()
	var servers []*server
	var members []raft.Server
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		dir := t.TempDir()
		st, err := state.Open(filepath.Join(dir, "state"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Dir, cfg.ID, cfg.Addr = filepath.Join(dir, "raft"), fmt.Sprint("s", i), addr
		cfg.HeartbeatTimeout = heartbeat
		s := &server{cfg: cfg, st: &faultyState{Store: st}}
		s.start(t)
		servers = append(servers, s)
		members = append(members, raft.Server{ID: raft.ServerID(cfg.ID), Address: raft.ServerAddress(addr)})
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.node.Shutdown()
			s.st.Close()
		}
	})
	for _, s := range servers {
		if err := s.node.Bootstrap(members); err != nil {
			t.Fatal(err)
		}
	}
	leader(t, servers)
	return servers
}

func leader(t *testing.T, servers []*server) *server {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range servers {
			if s.node.IsLeader() {
				return s
			}
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
	t.Fatal("no leader elected within 10s")
	return nil
}

func testCid(i int) cid.Cid {
	h, _ := mh.Sum([]byte(fmt.Sprint(i)), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

func putPin(i int) []state.Op {
	return []state.Op{{Kind: state.OpPutPin, Pin: pin.Pin{Cid: testCid(i), Mode: pin.Recursive}}}
}

func has(t *testing.T, s *server, i int) bool {
	t.Helper()
	_, ok, err := s.st.Get(testCid(i))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A follower whose disk fails stops applying: it neither skips the entry
// nor applies later ones, reports why, takes no snapshot, and once
// restarted with a working disk replays the log and holds what the others
// hold.
func TestFollowerThatCannotApplyStopsAndCatchesUpOnRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	servers := startServers(t, 3)
	lead := leader(t, servers)
	var broken, healthy *server
	for _, s := range servers {
		if s == lead {
			continue
		}
		if broken == nil {
			broken = s
		} else {
			healthy = s
		}
	}
	if err := lead.node.Apply(ctx, putPin(1)); err != nil {
		t.Fatal(err)
	}
	idx, err := lead.node.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := broken.node.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	before := broken.node.Applied()

	broken.st.broken.Store(true)
	for i := 2; i <= 4; i++ {
		if err := lead.node.Apply(ctx, putPin(i)); err != nil {
			t.Fatalf("apply through the leader with one follower failing: %v", err)
		}
	}
	idx, err = lead.node.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := healthy.node.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-broken.node.Stopped():
	case <-ctx.Done():
		t.Fatal("the failing follower never reported that it stopped")
	}
	err = broken.node.Err()
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "injected disk failure") || !strings.Contains(err.Error(), "entry ") {
		t.Fatalf("Err() = %v, want ErrFailed naming the entry and the cause", err)
	}
	// It went on receiving the log, and applied none of it, even once the
	// disk works again: a skipped entry would be lost for good.
	broken.st.broken.Store(false)
	if err := lead.node.Apply(ctx, putPin(5)); err != nil {
		t.Fatal(err)
	}
	idx, _ = lead.node.ReadIndex(ctx)
	if err := healthy.node.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if err := broken.node.WaitApplied(ctx, idx); !errors.Is(err, ErrFailed) {
		t.Fatalf("WaitApplied on the stopped follower = %v, want ErrFailed", err)
	}
	if got := broken.node.Applied(); got != before {
		t.Fatalf("stopped follower's applied index moved from %d to %d", before, got)
	}
	for i := 2; i <= 5; i++ {
		if has(t, broken, i) {
			t.Fatalf("stopped follower applied pin %d", i)
		}
	}
	if err := broken.node.Snapshot(); err == nil {
		t.Fatal("a stopped follower took a snapshot, which would cover the entries it never applied")
	}

	// Restart, as the orchestrator would: raft replays what the state
	// lacks.
	if err := broken.node.Shutdown(); err != nil {
		t.Fatal(err)
	}
	broken.start(t)
	if err := broken.node.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if !has(t, broken, i) {
			t.Fatalf("restarted follower lacks pin %d", i)
		}
	}
}

// An operation refused for its content is the answer to its writer, the
// same on every server: the servers go on applying the rest of the entry
// and the entries after it. The leader refuses such an op before it enters
// the log at all.
func TestRejectedOpIsTheAnswerNotAFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	servers := startServers(t, 3)
	lead := leader(t, servers)

	last := lead.node.raft.LastIndex()
	if err := lead.node.Apply(ctx, []state.Op{{Kind: state.OpPutRecord}}); !errors.Is(err, state.ErrRejected) {
		t.Fatalf("Apply of a record without a key = %v, want ErrRejected", err)
	}
	if got := lead.node.raft.LastIndex(); got != last {
		t.Fatalf("a refused op entered the log (last index %d → %d)", last, got)
	}

	// Written as an older or buggy leader might have: the entry commits,
	// its bad op is refused on every server alike, its good op applies.
	f := lead.node.raft.Apply(encodeOps([]state.Op{{Kind: state.OpPutRecord}, putPin(1)[0]}), 10*time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	res, ok := f.Response().(applyResult)
	if !ok || len(res.rejected) != 2 || !errors.Is(res.rejected[0], state.ErrRejected) || res.rejected[1] != nil {
		t.Fatalf("entry result = %#v, want op 0 rejected and op 1 applied", f.Response())
	}
	if err := lead.node.Apply(ctx, putPin(2)); err != nil {
		t.Fatal(err)
	}
	idx, err := lead.node.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if err := s.node.WaitApplied(ctx, idx); err != nil {
			t.Fatalf("%s: %v", s.cfg.ID, err)
		}
		if !has(t, s, 1) || !has(t, s, 2) {
			t.Fatalf("%s lacks a pin", s.cfg.ID)
		}
	}
}

// An entry no server can decode (written by a newer version, say) stops
// every server rather than being skipped.
func TestUndecodableEntryStops(t *testing.T) {
	servers := startServers(t, 1)
	s := servers[0]
	if err := s.node.raft.Apply([]byte{0xee, 1, 2}, time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.node.Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("an undecodable entry did not stop the server")
	}
	if err := s.node.Err(); !errors.Is(err, errBadCommand) {
		t.Fatalf("Err() = %v, want the decoding error", err)
	}
}

// WaitApplied wakes when the entry is applied, and gives up with its
// context.
func TestWaitApplied(t *testing.T) {
	servers := startServers(t, 1)
	s := servers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next := s.node.Applied() + 1
	done := make(chan error, 1)
	go func() { done <- s.node.WaitApplied(ctx, next+1) }()
	if err := s.node.Apply(ctx, putPin(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.node.Apply(ctx, putPin(2)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := s.node.WaitApplied(short, s.node.Applied()+100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied for an index never reached = %v, want the context's deadline", err)
	}
}

// A leader whose lease holds (a quorum acknowledged it moments ago) gives a
// read index without asking the followers again; see lease.
func TestLeaderReadsWithinItsLeaseWithoutARoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A long heartbeat timeout, so that the lease (half of it) outlasts a
	// slow machine's pause between the write and the read.
	servers := startServersWith(t, 3, 4*time.Second)
	lead := leader(t, servers)
	if err := lead.node.Apply(ctx, putPin(1)); err != nil {
		t.Fatal(err)
	}
	lead.layer.cutOff()
	// VerifyLeader would now fail: no follower answers.
	if _, err := lead.node.ReadIndex(ctx); err != nil {
		t.Fatalf("read index within the lease granted by the write: %v", err)
	}
}

// A leader cut off from its followers stops giving read indexes before
// another leader can be elected, so a read through it never misses a write
// the new leader acknowledged.
func TestDeposedLeaderGivesNoReadIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	servers := startServers(t, 3)
	old := leader(t, servers)
	if err := old.node.Apply(ctx, putPin(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := old.node.ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	old.layer.cutOff()
	var rest []*server
	for _, s := range servers {
		if s != old {
			rest = append(rest, s)
		}
	}
	lead := leader(t, rest)
	if err := lead.node.Apply(ctx, putPin(2)); err != nil {
		t.Fatal(err)
	}
	if idx, err := old.node.ReadIndex(ctx); err == nil {
		t.Fatalf("the deposed leader gave read index %d after a new leader committed a write", idx)
	}
}

func TestLeaseIsVoidDuringATransferAndInAnotherTerm(t *testing.T) {
	l := lease{length: time.Second}
	now := time.Now()
	l.renew(3, now)
	if !l.valid(3, now.Add(999*time.Millisecond)) {
		t.Fatal("lease not valid within its length")
	}
	if l.valid(3, now.Add(time.Second)) {
		t.Fatal("lease valid past its length")
	}
	if l.valid(4, now) {
		t.Fatal("lease valid in a later term")
	}
	l.renew(3, now.Add(-time.Hour)) // an older acknowledgement shortens nothing
	if !l.valid(3, now) {
		t.Fatal("an older renewal shortened the lease")
	}
	l.transfer(true)
	l.renew(3, now)
	if l.valid(3, now) {
		t.Fatal("lease valid during a leadership transfer")
	}
	l.transfer(false)
	if l.valid(3, now) {
		t.Fatal("a transfer that ended left the lease valid without a renewal")
	}
}
