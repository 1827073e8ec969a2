package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"

	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Garbage collection on a shared bucket (--s3-shared). Every peer's index
// maps the same packs, so a block is garbage only if no pin of the whole
// cluster needs it, and one peer's node, which knows its own pins only,
// must not delete anything (the store refuses: s3store.ErrSharedDelete).
// A collection instead runs on one peer, the coordinator, for the whole
// cluster:
//
//  1. Hold. The coordinator takes the GC lock of every member's node, one
//     after the other in the order of their IDs (holdForGC). Each waits
//     for the adds, pins and received streams in flight on its node to
//     finish, and keeps new ones from starting; it answers with its
//     node's pins and the roots of DAGs received for a pin on its way.
//     A member that cannot be reached fails the collection: its node may
//     be adding. Holding every member is also what keeps two collections
//     apart: a peer held for one refuses to be held for another
//     (ErrGCRunning), and the fixed order keeps two coordinators from
//     each holding what the other waits for.
//  2. Mark. Once every member is held, the coordinator catches up on the
//     replicated state and the packs it records, then marks every block
//     reachable from the cluster's pinset (whatever the allocations) and
//     from the members' own pins and received roots.
//  3. Sweep. The coordinator's store rewrites the packs that hold mostly
//     unmarked blocks with only the marked ones (s3store.Collect); the
//     new packs name the packs they supersede and are recorded like any
//     pack, and every peer's index drops what they left behind when it
//     enters them. The old objects stay for GCGrace and are deleted by
//     their writer when a later collection holds it, when every peer
//     follows the new packs.
//  4. Release. Each member, before it lets adds and pins run again,
//     applies the state up to the coordinator's last record and enters
//     the new packs: an add that then meets a block the sweep dropped
//     finds it missing and writes it again, instead of finding it in a
//     pack about to go.
//
// Why the hold and not a lock in the replicated state: what makes a block
// needed is an add or a pin on some node, and each takes its node's pin
// lock; a pin committed to the state while the members are held is
// pinned by their trackers only after the release, against indexes that
// no longer claim what the sweep removed, so it fetches what it lacks
// like any pin of absent content instead of claiming blocks that are
// gone. A hold is a lease: a member whose coordinator stops renewing it
// (crashed, cut off) lets go after gcHoldTTL, and the coordinator stops
// before its next step once a renewal fails.
// gcHoldTTL is how long a member stays held without a renewal. A var for
// tests.
var gcHoldTTL = 2 * time.Minute

const (
	// gcRenewEvery is how often the coordinator renews its holds; a
	// failed renewal stops the collection long before gcHoldTTL.
	gcRenewEvery = 10 * time.Second
	// gcHoldWait bounds the wait for one member's adds and pins in
	// flight: a collection gives way to a long add rather than hold the
	// rest of the cluster meanwhile.
	gcHoldWait = time.Minute
	// gcCompactThreshold: a pack is rewritten once less than this share
	// of its bytes is marked.
	gcCompactThreshold = 0.5
)

// ErrGCRunning marks a collection refused because another one holds a
// peer of the cluster.
var ErrGCRunning = errors.New("another garbage collection is running")

type gcHoldReq struct {
	Token string `json:"token"`
	By    string `json:"by"` // the coordinator's ID, for messages
}

type gcHoldResp struct {
	Renewed   bool     `json:"renewed,omitempty"`
	Recursive []string `json:"recursive,omitempty"` // recursive pins and received roots
	Direct    []string `json:"direct,omitempty"`
}

type gcReleaseReq struct {
	Token string `json:"token"`
	// Index is the state index up to which the member applies the
	// state, and follows the packs recorded, before it lets go.
	Index uint64 `json:"index"`
}

var (
	gcHoldCall    = newEndpoint("/v1/gc/hold", anyPeer, (*Peer).holdForGC)
	gcReleaseCall = newEndpoint("/v1/gc/release", anyPeer, (*Peer).releaseGC)
)

// gcState is a peer's part in shared-bucket collections.
type gcState struct {
	coordinating sync.Mutex // held while this peer coordinates one
	received     receivedRoots

	mu   sync.Mutex
	hold *gcHold // the collection holding this peer's node; guarded by mu
}

// gcHold is this peer's node held for a collection.
type gcHold struct {
	token, by string
	unlock    func()      // nil while the lock is being taken
	expiry    *time.Timer // lets go when the coordinator stops renewing
}

// holdForGC holds this peer's node for the collection req names: it waits
// (up to the caller's deadline) for the adds and pins in flight, deletes
// the superseded packs of this peer's earlier collections whose grace is
// over, and answers with the node's pins. Asked again by the same
// collection, it renews the hold.
func (p *Peer) holdForGC(ctx context.Context, req gcHoldReq) (gcHoldResp, error) {
	if req.Token == "" {
		return gcHoldResp{}, fmt.Errorf("%w: gc hold without a token", pin.ErrInvalid)
	}
	g := &p.gc
	g.mu.Lock()
	if h := g.hold; h != nil {
		defer g.mu.Unlock()
		if h.token != req.Token {
			return gcHoldResp{}, fmt.Errorf("%w: %s is held by the collection %s coordinates", ErrGCRunning, p.cfg.PeerName, h.by)
		}
		if h.unlock == nil {
			return gcHoldResp{}, fmt.Errorf("%w: the hold of %s is still being taken", pin.ErrInvalid, p.cfg.PeerName)
		}
		h.expiry.Reset(gcHoldTTL)
		return gcHoldResp{Renewed: true}, nil
	}
	h := &gcHold{token: req.Token, by: req.By}
	g.hold = h // claimed: another collection is refused from now on
	g.mu.Unlock()
	forget := func() {
		g.mu.Lock()
		if g.hold == h {
			g.hold = nil
		}
		g.mu.Unlock()
	}

	// The GC lock waits for every pin lock (adds, pins, received
	// streams) to be released; it does not watch a context, so the wait
	// runs apart and a caller that gives up leaves it to let go.
	locked := make(chan func(), 1)
	go func() {
		u := p.deps.Node.Blocks.GCLock(context.Background())
		locked <- func() { u.Unlock(context.Background()) }
	}()
	var unlock func()
	select {
	case unlock = <-locked:
	case <-ctx.Done():
		go func() { (<-locked)() }()
		forget()
		return gcHoldResp{}, fmt.Errorf("waiting for the adds and pins in flight on %s: %w", p.cfg.PeerName, ctx.Err())
	}
	fail := func(err error) (gcHoldResp, error) {
		forget()
		unlock()
		return gcHoldResp{}, err
	}

	var resp gcHoldResp
	for k := range p.deps.Node.Pins.RecursiveKeys(ctx, false) {
		if k.Err != nil {
			return fail(k.Err)
		}
		resp.Recursive = append(resp.Recursive, k.Pin.Key.String())
	}
	for _, c := range g.received.list(p.deps.Node.Received) {
		resp.Recursive = append(resp.Recursive, c.String())
	}
	for k := range p.deps.Node.Pins.DirectKeys(ctx, false) {
		if k.Err != nil {
			return fail(k.Err)
		}
		resp.Direct = append(resp.Direct, k.Pin.Key.String())
	}
	// Every peer followed the packs that replaced these when it was
	// released by the collection that wrote them.
	if store := p.deps.Packs.store(); store != nil {
		if _, err := store.DeleteSuperseded(ctx); err != nil {
			p.log.Warn("deleting superseded packs failed; a later collection retries", "err", err)
		}
	}

	g.mu.Lock()
	h.unlock = unlock
	h.expiry = time.AfterFunc(gcHoldTTL, func() { p.letGo(h, 0, true) })
	g.mu.Unlock()
	p.log.Info("held for a garbage collection", "coordinator", req.By)
	return resp, nil
}

// releaseGC ends the hold of the collection req names, once this peer
// follows what it wrote.
func (p *Peer) releaseGC(ctx context.Context, req gcReleaseReq) (struct{}, error) {
	p.gc.mu.Lock()
	h := p.gc.hold
	p.gc.mu.Unlock()
	if h == nil || h.token != req.Token {
		return struct{}{}, nil // let go already
	}
	p.letGo(h, req.Index, false)
	return struct{}{}, nil
}

// letGo ends hold h (if it still holds): this peer first applies the
// state up to index (0: what it has) and follows the packs recorded, for
// up to a minute, so that no add of its meets a block the collection
// dropped. expired says the coordinator stopped renewing the hold.
func (p *Peer) letGo(h *gcHold, index uint64, expired bool) {
	g := &p.gc
	g.mu.Lock()
	if g.hold != h || h.unlock == nil {
		g.mu.Unlock()
		return
	}
	g.hold = nil
	h.expiry.Stop()
	g.mu.Unlock()
	defer h.unlock()
	if expired {
		p.log.Warn("a garbage collection stopped renewing its hold; letting go", "coordinator", h.by)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if index > 0 {
		if err := p.raft.WaitApplied(ctx, index); err != nil {
			p.log.Warn("letting go of a garbage collection before applying its records", "err", err)
		}
	}
	p.deps.Packs.CatchUp(ctx)
	p.log.Info("released by a garbage collection", "coordinator", h.by)
}

// holdOf holds member m for the collection token names.
func (p *Peer) holdOf(ctx context.Context, m member.Member, token string) (gcHoldResp, error) {
	req := gcHoldReq{Token: token, By: p.cfg.PeerName}
	if m.ID == p.deps.ID {
		return p.holdForGC(ctx, req)
	}
	return callPeer(ctx, p, m.ClusterAddr, gcHoldCall, req)
}

// collectShared runs one collection of the shared bucket from this peer,
// telling removed of each block it removed.
func (p *Peer) collectShared(ctx context.Context, removed func(cid.Cid)) error {
	store := p.deps.Packs.store()
	if store == nil {
		return fmt.Errorf("%w: this peer does not follow the shared bucket's packs yet", pin.ErrUnavailable)
	}
	if !p.gc.coordinating.TryLock() {
		return fmt.Errorf("%w: coordinated by this peer", ErrGCRunning)
	}
	defer p.gc.coordinating.Unlock()
	ms, err := p.st.Members()
	if err != nil {
		return err
	}
	slices.SortFunc(ms, func(a, b member.Member) int { return strings.Compare(a.ID, b.ID) })
	token := rand.Text()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// 1. Hold.
	var (
		held  []member.Member
		roots = map[cid.Cid]bool{} // true: recursive
		index uint64               // the release's; 0 lets go without waiting
		swept bool                 // the sweep started: packs may have been replaced
	)
	defer func() {
		// Released with a context of its own: the caller may be gone.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer rcancel()
		if swept && index == 0 {
			// A sweep that failed half-way may have replaced packs: the
			// members follow what it recorded before they let go.
			if err := p.deps.Packs.waitRecorded(rctx); err != nil {
				p.log.Warn("garbage collection: the records of the packs it wrote are not all committed", "err", err)
			}
			if err := p.sync(rctx); err != nil {
				p.log.Warn("garbage collection: catching up on the state before the release", "err", err)
			}
			index = p.raft.Applied()
		}
		var wg sync.WaitGroup
		for _, m := range held {
			wg.Go(func() {
				req := gcReleaseReq{Token: token, Index: index}
				var err error
				if m.ID == p.deps.ID {
					_, err = p.releaseGC(rctx, req)
				} else {
					_, err = callPeer(rctx, p, m.ClusterAddr, gcReleaseCall, req)
				}
				if err != nil {
					p.log.Warn("releasing a peer held for garbage collection failed; it lets go by itself", "peer", m.Name, "err", err, "after", gcHoldTTL)
				}
			})
		}
		wg.Wait()
	}()
	for _, m := range ms {
		// Released even if the hold fails: it may have been taken after
		// the caller stopped waiting (a release of another's hold, or of
		// none, does nothing).
		held = append(held, m)
		hctx, hcancel := context.WithTimeout(ctx, gcHoldWait)
		resp, err := p.holdOf(hctx, m, token)
		hcancel()
		if err != nil {
			return fmt.Errorf("holding the adds and pins of %s off: %w", m.Name, err)
		}
		for _, s := range resp.Recursive {
			if c, err := cid.Decode(s); err == nil {
				roots[c] = true
			}
		}
		for _, s := range resp.Direct {
			if c, err := cid.Decode(s); err == nil && !roots[c] {
				roots[c] = false
			}
		}
	}
	renewed := make(chan struct{})
	defer close(renewed)
	go p.renewHolds(ctx, cancel, renewed, held, token)
	p.log.Info("garbage collection: every peer held", "peers", len(held))

	// 2. Mark.
	if err := p.sync(ctx); err != nil {
		return fmt.Errorf("catching up on the state: %w", err)
	}
	p.deps.Packs.CatchUp(ctx)
	live := map[string]struct{}{}
	visit := func(c cid.Cid) bool {
		k := string(c.Hash())
		if _, ok := live[k]; ok {
			return false
		}
		live[k] = struct{}{}
		return true
	}
	getLinks := merkledag.GetLinksWithDAG(p.deps.Node.LocalDAG)
	for c, recursive := range roots {
		if !recursive {
			visit(c)
			continue
		}
		// A member pinned it, or holds it whole for a pin: every block
		// must be in the bucket, and one missing would leave its
		// children unmarked.
		err := merkledag.Walk(ctx, func(ctx context.Context, c cid.Cid) ([]*ipld.Link, error) {
			links, err := getLinks(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("reading the links of %s, pinned on a peer (nothing was collected): %w", c, err)
			}
			return links, nil
		}, c, visit)
		if err != nil {
			return err
		}
	}
	missing := 0
	err = p.st.List(ctx, cid.Undef, func(pn pin.Pin) error {
		if pn.Mode == pin.Direct {
			visit(pn.Cid)
			return nil
		}
		// The pins members hold were marked above (the walk stops at
		// what it visited). One no member holds yet is fetched by no
		// tracker now (each waits for the release): what it has of its
		// DAG in the bucket is kept, and what it lacks is fetched later.
		return merkledag.Walk(ctx, func(ctx context.Context, c cid.Cid) ([]*ipld.Link, error) {
			links, err := getLinks(ctx, c)
			if ipld.IsNotFound(err) {
				missing++
				return nil, nil
			}
			return links, err
		}, pn.Cid, visit)
	})
	if err != nil {
		return fmt.Errorf("marking the pinset: %w", err)
	}
	p.log.Info("garbage collection: marked", "blocks", len(live), "roots", len(roots), "blocks missing from pins not yet held", missing)

	// 3. Sweep, only while every hold is renewed, and every member is
	// held: a peer that joined meanwhile may be adding.
	if err := context.Cause(ctx); err != nil {
		return err
	}
	now, err := p.st.Members()
	if err != nil {
		return err
	}
	for _, m := range now {
		if !slices.ContainsFunc(held, func(h member.Member) bool { return h.ID == m.ID }) {
			return fmt.Errorf("%s joined during the collection, which did not hold it: nothing was collected; try again", m.Name)
		}
	}
	swept = true
	_, err = store.Collect(ctx,
		func(h string) bool { _, ok := live[h]; return ok },
		func(h string) { removed(cid.NewCidV1(cid.Raw, mh.Multihash(h))) },
		gcCompactThreshold, p.cfg.GCGrace)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		return fmt.Errorf("compacting the packs: %w", err)
	}

	// 4. Release, at the index of this peer's last record.
	if err := p.deps.Packs.waitRecorded(ctx); err != nil {
		return fmt.Errorf("recording the compacted packs: %w", err)
	}
	if err := p.sync(ctx); err != nil {
		return fmt.Errorf("catching up on the state: %w", err)
	}
	index = p.raft.Applied()
	return nil
}

// renewHolds renews the holds of a collection until done is closed, and
// cancels it (cancel) at the first renewal that fails: a member that was
// not renewed may let go while the collection goes on.
func (p *Peer) renewHolds(ctx context.Context, cancel context.CancelCauseFunc, done <-chan struct{}, held []member.Member, token string) {
	t := time.NewTicker(gcRenewEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range held {
			rctx, rcancel := context.WithTimeout(ctx, gcRenewEvery)
			_, err := p.holdOf(rctx, m, token)
			rcancel()
			if err != nil {
				cancel(fmt.Errorf("garbage collection stopped: renewing the hold on %s failed: %w", m.Name, err))
				return
			}
		}
	}
}

// receivedRoots remembers the roots this peer's node marked received
// (blockstream.Store.MarkReceived), which the node does not list: a
// collection keeps their DAGs while the marks last.
type receivedRoots struct {
	mu    sync.Mutex
	roots map[cid.Cid]time.Time // until when; guarded by mu
}

func (r *receivedRoots) mark(roots []cid.Cid, ttl time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.roots == nil {
		r.roots = map[cid.Cid]time.Time{}
	}
	until := time.Now().Add(ttl)
	for _, c := range roots {
		r.roots[c] = until
	}
}

// list returns the roots still marked: not expired, and marked on the
// node (a pin takes the mark).
func (r *receivedRoots) list(marked func(cid.Cid) bool) []cid.Cid {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	var out []cid.Cid
	for c, until := range r.roots {
		if now.After(until) || !marked(c) {
			delete(r.roots, c)
			continue
		}
		out = append(out, c)
	}
	return out
}

// markingStore is the node as the end of block streams, remembering the
// roots it marks received.
type markingStore struct {
	blockstream.Store
	received *receivedRoots
}

func (m markingStore) MarkReceived(roots []cid.Cid, ttl time.Duration) {
	m.Store.MarkReceived(roots, ttl)
	m.received.mark(roots, ttl)
}
