package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// maxAttempts is how often a pin is tried (with backoff) before it is left
// in pin_error until recovered.
const maxAttempts = 5

// tracker makes the local node hold exactly what the pinset allocates to
// this peer. It follows the state's change feed, and looks at the whole
// pinset at start and whenever the feed overflowed or a snapshot was
// installed.
type tracker struct {
	p     *Peer
	index *heldIndex // what the node holds, for status listings

	mu     sync.Mutex // guards ops, failed
	ops    map[cid.Cid]*trackedOp
	failed int // ops in pin_error or unpin_error, which wait for a recover

	work chan cid.Cid
}

type trackedOp struct {
	unpin    bool
	status   pin.Status
	err      string
	since    time.Time
	attempts int
	running  bool
}

func newTracker(p *Peer, index *heldIndex) *tracker {
	return &tracker{p: p, index: index, ops: map[cid.Cid]*trackedOp{}, work: make(chan cid.Cid, 1<<16)}
}

func (t *tracker) run(ctx context.Context) {
	for range t.p.cfg.PinConcurrency {
		t.p.goLoop(ctx, t.worker)
	}
	t.fullReconcile(ctx)
	periodic := time.NewTicker(5 * time.Minute)
	defer periodic.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.p.st.Changed():
			changed, full := t.p.st.DrainChanges()
			if full {
				t.fullReconcile(ctx)
				continue
			}
			for _, c := range changed {
				t.reconcile(ctx, c, true, false)
			}
		case <-periodic.C:
			t.fullReconcile(ctx)
		}
	}
}

// fullReconcile checks every pin allocated here against the node itself,
// and corrects the held index. A root block missing from the blockstore (a
// peer that lost its disk) counts as not pinned, so such a peer fetches its
// allocations again by itself.
func (t *tracker) fullReconcile(ctx context.Context) {
	err := t.p.st.ListAllocated(ctx, t.p.deps.ID, func(c cid.Cid) error {
		t.reconcile(ctx, c, false, true)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		t.p.log.Warn("reconcile failed", "err", err)
	}
}

// reconcile schedules what c needs on this peer. Unpins are scheduled only
// for pins the change feed reported (mayUnpin): a full pass never removes a
// local pin it cannot prove the cluster owned. verify asks the node what
// it holds, and corrects the held index; otherwise the index answers.
func (t *tracker) reconcile(ctx context.Context, c cid.Cid, mayUnpin, verify bool) {
	pn, ok, err := t.p.st.Get(c)
	if err != nil {
		return
	}
	allocated := ok && pn.AllocatedTo(t.p.deps.ID)
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
	pinned, err := t.p.deps.Node.IsPinnedRecursively(ctx, c)
	if err != nil || !pinned {
		return false
	}
	has, err := t.p.deps.Node.Blocks.Has(ctx, c)
	return err == nil && has
}

func (t *tracker) schedule(c cid.Cid, unpin bool) {
	t.mu.Lock()
	op := t.ops[c]
	if op != nil && op.unpin == unpin && (op.running || op.status != pin.StatusPinError && op.status != pin.StatusUnpinError) {
		t.mu.Unlock()
		return // already on its way
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
	node := t.p.deps.Node
	var together []claimed
	var targets []ipfs.PinTarget
	var pins []pin.Pin
	for _, op := range ops {
		pn, ok, err := t.p.st.Get(op.c)
		switch {
		case err != nil:
			t.finish(ctx, op.c, err, op.attempt)
		case !ok || !pn.AllocatedTo(t.p.deps.ID):
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
	ctx, cancel := context.WithTimeout(ctx, t.p.cfg.PinTimeout)
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
		delete(t.ops, c)
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
	t.p.log.Warn("pin operation failed", "cid", c, "unpin", op.unpin, "err", err)
}

// pin fetches and pins c locally, first dialling the peers that should
// have it (origins, then the other allocations) so that bitswap finds it
// without the DHT.
func (t *tracker) pin(ctx context.Context, c cid.Cid) error {
	pn, ok, err := t.p.st.Get(c)
	if err != nil {
		return err
	}
	if !ok || !pn.AllocatedTo(t.p.deps.ID) {
		return nil // no longer ours
	}
	ctx, cancel := context.WithTimeout(ctx, t.p.cfg.PinTimeout)
	defer cancel()
	node := t.p.deps.Node
	// An add streamed the whole DAG here before pinning (blocks.go).
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
		if err := t.p.fetchOverCluster(ctx, pn); err != nil {
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
	if pn, ok, _ := t.p.st.Get(c); ok && pn.AllocatedTo(t.p.deps.ID) {
		return nil // allocated here again meanwhile
	}
	err := t.p.deps.Node.PinRm(ctx, []cid.Cid{c}, true)
	if err == nil || errors.Is(err, ipfs.ErrNotPinned) {
		return t.index.set(c, false)
	}
	return err
}

// connect dials the origins and the other allocated peers' swarm
// addresses of the pins, each address once, best effort.
func (t *tracker) connect(ctx context.Context, pins ...pin.Pin) {
	nw := t.p.deps.Node.Network
	if nw == nil {
		return
	}
	ms, _ := t.p.st.Members()
	seen := map[string]bool{}
	for _, pn := range pins {
		addrs := append([]string(nil), pn.Origins...)
		for _, m := range ms {
			if m.ID != t.p.deps.ID && pn.AllocatedTo(m.ID) {
				addrs = append(addrs, t.p.live.fill(m).SwarmAddrs...)
			}
		}
		for _, a := range addrs {
			if seen[a] {
				continue
			}
			seen[a] = true
			info, err := peer.AddrInfoFromString(a)
			if err != nil || info.ID == nw.Host.ID() {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			nw.Host.Connect(dctx, *info)
			cancel()
		}
	}
}

// status is this peer's view of c.
func (t *tracker) status(ctx context.Context, pn pin.Pin) pin.PeerStatus {
	return t.statusWith(pn, t.index.has)
}

// statusWith is status reading the held index through held: a listing
// passes a cursor that walks the index along with the pins.
func (t *tracker) statusWith(pn pin.Pin, held func(cid.Cid) bool) pin.PeerStatus {
	st := pin.PeerStatus{Peer: t.p.deps.ID}
	t.mu.Lock()
	op := t.ops[pn.Cid]
	if op != nil {
		st.Status, st.Error, st.Since = op.status, op.err, op.since
		t.mu.Unlock()
		return st
	}
	t.mu.Unlock()
	switch {
	case !pn.AllocatedTo(t.p.deps.ID):
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

// drop forgets the operation on c, keeping the count of failed ones. The
// caller holds mu.
func (t *tracker) drop(c cid.Cid) {
	if op := t.ops[c]; op != nil && (op.status == pin.StatusPinError || op.status == pin.StatusUnpinError) {
		t.failed--
	}
	delete(t.ops, c)
}
