package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// maxAttempts is how often a pin is tried (with backoff) before it is left
// in pin_error until recovered.
const maxAttempts = 5

// tracker makes the local node hold exactly what the pinset allocates to
// this peer. It follows the state's change feed, and looks at the whole
// pinset at start and whenever the feed overflowed or a snapshot was
// installed.
type tracker struct {
	trackerDeps

	mu     sync.Mutex // guards ops, failed, backlog
	ops    map[cid.Cid]*trackedOp
	failed int // ops in pin_error or unpin_error, which wait for a recover
	maxOps int // maxTracked, but for tests
	// backlog is set when a pin was not scheduled because ops was full
	// (see maxTracked); room is signalled once ops has room again.
	backlog bool
	room    chan struct{}
	// cursor is where the next backlog pass starts in the pins allocated
	// here; only run touches it.
	cursor cid.Cid

	work chan cid.Cid
}

// maxTracked bounds the pin operations the tracker remembers one by one.
// A bulk import allocates a peer a million pins in a minute; an op each
// would hold hundreds of MiB for pins that only wait. Past the bound a pin
// is left unscheduled, which its status already tells truthfully (a pin
// allocated here and not held is queued), and backlog passes schedule the
// rest in CID order as the queue drains. Unpins are always scheduled: a
// full pass never unpins (see reconcile), so a skipped one would be lost.
const maxTracked = 1 << 16

type trackedOp struct {
	unpin    bool
	status   pin.Status
	err      string
	since    time.Time
	attempts int
	running  bool
}

// LocalPinner is what the tracker needs of this peer's IPFS node;
// *ipfs.Node is one.
type LocalPinner interface {
	PinMany(ctx context.Context, targets []ipfs.PinTarget, done func(i int, err error))
	PinAdd(ctx context.Context, targets []cid.Cid, recursive bool, name string) error
	PinRm(ctx context.Context, targets []cid.Cid, recursive bool) error
	PinUpdate(ctx context.Context, from, to cid.Cid, unpin bool) error
	// PinReceived pins a DAG an add streamed here whole, if c is one.
	PinReceived(ctx context.Context, c cid.Cid, name string) (ok bool, err error)
	Received(c cid.Cid) bool
	IsPinnedRecursively(ctx context.Context, c cid.Cid) (bool, error)
	HasBlock(ctx context.Context, c cid.Cid) (bool, error)
	// Online is false without a swarm: no block comes over bitswap.
	Online() bool
	// Connect dials swarm addresses, best effort.
	Connect(ctx context.Context, addrs []string)
}

var _ LocalPinner = (*ipfs.Node)(nil)

// trackerDeps is everything a tracker works with.
type trackerDeps struct {
	self  string // this peer's ID
	node  LocalPinner
	state *state.Store
	index *heldIndex // what the node holds, for status listings
	// workers fetch and pin at once, each up to maxPinBatch pins.
	workers int
	timeout time.Duration // one attempt at a batch
	// swarmAddrs are a member's swarm addresses as last heard of.
	swarmAddrs func(member.Member) []string
	// fetch has a pin's DAG sent here over the cluster transport, for a
	// node without a swarm.
	fetch func(ctx context.Context, pn pin.Pin) error
	log   *slog.Logger
}

func newTracker(d trackerDeps) *tracker {
	return &tracker{trackerDeps: d, ops: map[cid.Cid]*trackedOp{}, maxOps: maxTracked,
		room: make(chan struct{}, 1), work: make(chan cid.Cid, maxTracked)}
}

// run tracks until ctx ends, and returns once its workers have.
func (t *tracker) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for range t.workers {
		wg.Go(func() { t.worker(ctx) })
	}
	t.fullReconcile(ctx)
	periodic := time.NewTicker(5 * time.Minute)
	defer periodic.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.state.Changed():
			changed, full := t.state.DrainChanges()
			if full {
				t.fullReconcile(ctx)
				continue
			}
			for _, c := range changed {
				t.reconcile(ctx, c, true, false)
			}
		case <-t.room:
			t.backlogPass(ctx)
		case <-periodic.C:
			t.fullReconcile(ctx)
		}
	}
}

// backlogPass schedules pins allocated here that were left unscheduled
// while the queue was full, from where the last pass stopped, until the
// queue is full again or every allocated pin was looked at.
func (t *tracker) backlogPass(ctx context.Context) {
	t.mu.Lock()
	t.backlog = false
	t.mu.Unlock()
	from := t.cursor
	errFull := errors.New("queue full")
	err := t.state.ListAllocated(ctx, t.self, from, func(c cid.Cid) error {
		if t.full() {
			return errFull
		}
		t.reconcile(ctx, c, false, false)
		t.cursor = c
		return nil
	})
	switch {
	case errors.Is(err, errFull):
		t.mu.Lock()
		t.backlog = true // go on from the cursor once there is room
		// The workers may have drained the queue between full() and
		// here, while backlog was unset: drop signalled nothing, and no
		// op is left to signal. Signal now, or the backlog waits for the
		// periodic pass (TestTrackerBoundsItsQueue stalled so under load).
		room := len(t.ops) <= t.maxOps/2
		t.mu.Unlock()
		if room {
			t.signalRoom()
		}
	case err == nil:
		t.cursor = cid.Undef
		if from.Defined() {
			// Pins before from may have been left out since it was
			// passed: one more pass from the start.
			t.mu.Lock()
			t.backlog = true
			t.mu.Unlock()
			t.signalRoom()
		}
	case ctx.Err() == nil:
		t.log.Warn("backlog pass failed", "err", err)
	}
}

// full reports whether the tracker holds as many ops as it may.
func (t *tracker) full() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.ops) >= t.maxOps
}

func (t *tracker) signalRoom() {
	select {
	case t.room <- struct{}{}:
	default:
	}
}

// fullReconcile checks every pin allocated here against the node itself,
// and corrects the held index. A root block missing from the blockstore (a
// peer that lost its disk) counts as not pinned, so such a peer fetches its
// allocations again by itself.
func (t *tracker) fullReconcile(ctx context.Context) {
	err := t.state.ListAllocated(ctx, t.self, cid.Undef, func(c cid.Cid) error {
		t.reconcile(ctx, c, false, true)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		t.log.Warn("reconcile failed", "err", err)
	}
}

// reconcile schedules what c needs on this peer. Unpins are scheduled only
// for pins the change feed reported (mayUnpin): a full pass never removes a
// local pin it cannot prove the cluster owned. verify asks the node what
// it holds, and corrects the held index; otherwise the index answers.
func (t *tracker) reconcile(ctx context.Context, c cid.Cid, mayUnpin, verify bool) {
	pn, ok, err := t.state.Get(c)
	if err != nil {
		return
	}
	allocated := ok && pn.AllocatedTo(t.self)
	var held bool
	if verify {
		held = t.held(ctx, c)
		if held != t.index.has(c) {
			t.index.set(c, held)
		}
	} else {
		held = t.index.has(c)
	}
	switch {
	case allocated && !held:
		t.schedule(c, false)
	case allocated && held:
		t.mu.Lock()
		if op := t.ops[c]; op != nil && op.unpin && !op.running {
			t.drop(c)
		}
		t.mu.Unlock()
	case !allocated && held && mayUnpin:
		t.schedule(c, true)
	}
}

// held reports whether the local node pins c recursively and has its root.
func (t *tracker) held(ctx context.Context, c cid.Cid) bool {
	pinned, err := t.node.IsPinnedRecursively(ctx, c)
	if err != nil || !pinned {
		return false
	}
	has, err := t.node.HasBlock(ctx, c)
	return err == nil && has
}

func (t *tracker) schedule(c cid.Cid, unpin bool) {
	t.mu.Lock()
	op := t.ops[c]
	if op != nil && op.unpin == unpin && (op.running || op.status != pin.StatusPinError && op.status != pin.StatusUnpinError) {
		t.mu.Unlock()
		return // already on its way
	}
	if op == nil && !unpin && len(t.ops) >= t.maxOps {
		t.backlog = true
		t.mu.Unlock()
		return
	}
	status := pin.StatusPinQueued
	if unpin {
		status = pin.StatusUnpinQueued
	}
	t.drop(c)
	t.ops[c] = &trackedOp{unpin: unpin, status: status, since: time.Now()}
	t.mu.Unlock()
	select {
	case t.work <- c:
	default:
		// The queue is full; the periodic full pass will pick it up.
	}
}

// maxPinBatch bounds the pins a worker takes at once: their roots are
// fetched in one bitswap session and pinned with one sync.
const maxPinBatch = 128

func (t *tracker) worker(ctx context.Context) {
	for {
		var group []cid.Cid
		select {
		case <-ctx.Done():
			return
		case c := <-t.work:
			group = append(group, c)
		}
	fill:
		for len(group) < maxPinBatch {
			select {
			case c := <-t.work:
				group = append(group, c)
			default:
				break fill
			}
		}
		var batch []claimed
		for _, c := range group {
			op, ok := t.claim(c)
			switch {
			case !ok:
			case op.unpin:
				t.finish(ctx, c, t.unpin(ctx, c), op.attempt)
			default:
				batch = append(batch, op)
			}
		}
		if len(batch) > 0 {
			t.pinMany(ctx, batch)
		}
	}
}

// claimed is an operation a worker took on.
type claimed struct {
	c       cid.Cid
	unpin   bool
	attempt int
}

// claim marks the operation on c running, unless there is none or it
// already runs.
func (t *tracker) claim(c cid.Cid) (claimed, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	op := t.ops[c]
	if op == nil || op.running {
		return claimed{}, false
	}
	op.running, op.attempts = true, op.attempts+1
	if op.unpin {
		op.status = pin.StatusUnpinning
	} else {
		op.status = pin.StatusPinning
	}
	return claimed{c: c, unpin: op.unpin, attempt: op.attempts}, true
}

// pinMany pins a group: the plain fetches together (ipfs.Node.PinMany),
// the rest (blocks received from an add, updates, a peer without a swarm)
// one by one.
func (t *tracker) pinMany(ctx context.Context, ops []claimed) {
	node := t.node
	var together []claimed
	var targets []ipfs.PinTarget
	var pins []pin.Pin
	for _, op := range ops {
		pn, ok, err := t.state.Get(op.c)
		switch {
		case err != nil:
			t.finish(ctx, op.c, err, op.attempt)
		case !ok || !pn.AllocatedTo(t.self):
			t.finish(ctx, op.c, nil, op.attempt) // no longer ours
		case !node.Online() || pn.PinUpdate.Defined() || pn.Mode != pin.Direct && node.Received(op.c):
			t.finish(ctx, op.c, t.pin(ctx, op.c), op.attempt)
		default:
			together = append(together, op)
			targets = append(targets, ipfs.PinTarget{Cid: op.c, Recursive: pn.Mode != pin.Direct, Name: pn.Name})
			pins = append(pins, pn)
		}
	}
	if len(together) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	t.connect(ctx, pins...)
	node.PinMany(ctx, targets, func(i int, err error) {
		t.finish(ctx, together[i].c, t.pinned(together[i].c, err), together[i].attempt)
	})
}

func (t *tracker) finish(ctx context.Context, c cid.Cid, err error, attempt int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	op := t.ops[c]
	if op == nil {
		return
	}
	op.running = false
	if err == nil {
		t.drop(c)
		return
	}
	if ctx.Err() != nil {
		return
	}
	if attempt < maxAttempts {
		if op.unpin {
			op.status = pin.StatusUnpinQueued
		} else {
			op.status = pin.StatusPinQueued
		}
		op.err = err.Error()
		backoff := time.Duration(1<<attempt) * 500 * time.Millisecond
		time.AfterFunc(backoff, func() {
			select {
			case t.work <- c:
			default:
			}
		})
		return
	}
	op.status, op.err, op.since = pin.StatusPinError, err.Error(), time.Now()
	t.failed++
	if op.unpin {
		op.status = pin.StatusUnpinError
	}
	t.log.Warn("pin operation failed", "cid", c, "unpin", op.unpin, "err", err)
}

// pin fetches and pins c locally, first dialling the peers that should
// have it (origins, then the other allocations) so that bitswap finds it
// without the DHT.
func (t *tracker) pin(ctx context.Context, c cid.Cid) error {
	pn, ok, err := t.state.Get(c)
	if err != nil {
		return err
	}
	if !ok || !pn.AllocatedTo(t.self) {
		return nil // no longer ours
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	node := t.node
	// An add streamed the whole DAG here before pinning (internal/blockstream).
	if pn.Mode != pin.Direct {
		if ok, err := node.PinReceived(ctx, c, pn.Name); ok {
			return t.pinned(c, err)
		}
	}
	t.connect(ctx, pn)
	if pn.PinUpdate.Defined() {
		if had, _ := node.IsPinnedRecursively(ctx, pn.PinUpdate); had {
			if err := node.PinUpdate(ctx, pn.PinUpdate, c, false); err == nil {
				return t.pinned(c, nil)
			}
		}
	}
	err = node.PinAdd(ctx, []cid.Cid{c}, pn.Mode != pin.Direct, pn.Name)
	if err != nil && !node.Online() && ctx.Err() == nil {
		// No swarm, no bitswap: the blocks come over the cluster
		// transport or not at all.
		if err := t.fetch(ctx, pn); err != nil {
			return err
		}
		err = node.PinAdd(ctx, []cid.Cid{c}, pn.Mode != pin.Direct, pn.Name)
	}
	return t.pinned(c, err)
}

// pinned records in the held index a pin the node now holds (err nil).
func (t *tracker) pinned(c cid.Cid, err error) error {
	if err != nil {
		return err
	}
	return t.index.set(c, true)
}

func (t *tracker) unpin(ctx context.Context, c cid.Cid) error {
	if pn, ok, _ := t.state.Get(c); ok && pn.AllocatedTo(t.self) {
		return nil // allocated here again meanwhile
	}
	err := t.node.PinRm(ctx, []cid.Cid{c}, true)
	if err == nil || errors.Is(err, ipfs.ErrNotPinned) {
		return t.index.set(c, false)
	}
	return err
}

// connect dials the origins and the other allocated peers' swarm
// addresses of the pins, each address once, best effort.
func (t *tracker) connect(ctx context.Context, pins ...pin.Pin) {
	if !t.node.Online() {
		return
	}
	ms, _ := t.state.Members()
	seen := map[string]bool{}
	var addrs []string
	add := func(as []string) {
		for _, a := range as {
			if !seen[a] {
				seen[a] = true
				addrs = append(addrs, a)
			}
		}
	}
	for _, pn := range pins {
		add(pn.Origins)
		for _, m := range ms {
			if m.ID != t.self && pn.AllocatedTo(m.ID) {
				add(t.swarmAddrs(m))
			}
		}
	}
	t.node.Connect(ctx, addrs)
}

// status is this peer's view of c.
func (t *tracker) status(ctx context.Context, pn pin.Pin) pin.PeerStatus {
	return t.statusWith(pn, t.index.has)
}

// statusWith is status reading the held index through held: a listing
// passes a cursor that walks the index along with the pins.
func (t *tracker) statusWith(pn pin.Pin, held func(cid.Cid) bool) pin.PeerStatus {
	st := pin.PeerStatus{Peer: t.self}
	t.mu.Lock()
	op := t.ops[pn.Cid]
	if op != nil {
		st.Status, st.Error, st.Since = op.status, op.err, op.since
		t.mu.Unlock()
		return st
	}
	t.mu.Unlock()
	switch {
	case !pn.AllocatedTo(t.self):
		st.Status = pin.StatusRemote
	case held(pn.Cid):
		st.Status = pin.StatusPinned
	default:
		st.Status = pin.StatusPinQueued
	}
	return st
}

// recover re-queues a failed operation on c.
func (t *tracker) recover(ctx context.Context, c cid.Cid) {
	t.mu.Lock()
	op := t.ops[c]
	if op != nil && !op.running && (op.status == pin.StatusPinError || op.status == pin.StatusUnpinError) {
		op.attempts = 0
		t.drop(c)
	}
	t.mu.Unlock()
	t.reconcile(ctx, c, true, true) // an operator asks: check the node itself
}

// queueLen is how many operations wait or run, for placement.
func (t *tracker) queueLen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.ops) - t.failed
}

// errors is how many operations failed for good and wait for a recover.
func (t *tracker) errors() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// drop forgets the operation on c, keeping the count of failed ones. The
// caller holds mu.
func (t *tracker) drop(c cid.Cid) {
	if op := t.ops[c]; op != nil && (op.status == pin.StatusPinError || op.status == pin.StatusUnpinError) {
		t.failed--
	}
	delete(t.ops, c)
	if t.backlog && len(t.ops) <= t.maxOps/2 {
		t.signalRoom()
	}
}
