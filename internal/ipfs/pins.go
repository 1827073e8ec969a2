package ipfs

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	cid "github.com/ipfs/go-cid"
	format "github.com/ipfs/go-ipld-format"
)

const (
	pinModeRecursive = pin.Recursive
	pinModeDirect    = pin.Direct
)

// ErrNotPinned marks an unpin of something that is not pinned.
var ErrNotPinned = pin.ErrNotPinned

// PinAdd resolves each path and pins what it names, fetching missing blocks
// when online. Either every path is pinned or, on error, the pins made so far
// in this call are rolled back.
func (n *Node) PinAdd(ctx context.Context, targets []cid.Cid, recursive bool, name string) error {
	unlock := n.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	var done []cid.Cid
	rollback := func() {
		for _, c := range done {
			n.Pins.Unpin(ctx, c, recursive)
		}
		n.syncPins(ctx)
	}
	for _, c := range targets {
		was, _, err := n.Pins.IsPinnedWithType(ctx, c, modeOf(recursive))
		if err != nil {
			rollback()
			return err
		}
		nd, err := n.DAG.Get(ctx, c)
		if err != nil {
			rollback()
			return notFound(err)
		}
		if err := n.Pins.Pin(ctx, nd, recursive, name); err != nil {
			rollback()
			return notFound(err)
		}
		if was == "" {
			done = append(done, c)
		}
	}
	if err := n.syncPins(ctx); err != nil {
		return err
	}
	for _, c := range targets {
		n.announce(ctx, c)
	}
	return nil
}

func modeOf(recursive bool) pin.Mode {
	if recursive {
		return pin.Recursive
	}
	return pin.Direct
}

// PinRm removes pins. A CID that is not pinned (in the asked mode) fails the
// call before anything is removed.
func (n *Node) PinRm(ctx context.Context, targets []cid.Cid, recursive bool) error {
	for _, c := range targets {
		mode := pin.Any
		if !recursive {
			mode = pin.Direct
		}
		how, ok, err := n.Pins.IsPinnedWithType(ctx, c, mode)
		if err != nil {
			return err
		}
		if !ok || how != "recursive" && how != "direct" {
			return fmt.Errorf("%w: %s", ErrNotPinned, c)
		}
	}
	for _, c := range targets {
		if err := n.Pins.Unpin(ctx, c, recursive); err != nil {
			return err
		}
	}
	return n.syncPins(ctx)
}

// PinUpdate moves a recursive pin from one root to another, fetching only the
// difference. With unpin false the old pin stays.
func (n *Node) PinUpdate(ctx context.Context, from, to cid.Cid, unpin bool) error {
	unlock := n.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	if err := n.Pins.Update(ctx, from, to, unpin); err != nil {
		if errors.Is(err, pin.ErrNotPinned) {
			return fmt.Errorf("%w: %s", ErrNotPinned, from)
		}
		return notFound(err)
	}
	if err := n.syncPins(ctx); err != nil {
		return err
	}
	n.announce(ctx, to)
	return nil
}

// Pin is one entry of a pin listing.
type Pin struct {
	Cid  cid.Cid
	Type string // recursive, direct or indirect
	Name string
}

// PinLs lists pins of the given type ("all", "recursive", "direct",
// "indirect"). With targets, it reports how each target is pinned and fails
// on one that is not.
func (n *Node) PinLs(ctx context.Context, typ string, targets []cid.Cid, emit func(Pin) error) error {
	mode, ok := pin.StringToMode(typ)
	if !ok {
		return fmt.Errorf("%w: invalid pin type %q: want all, recursive, direct or indirect", ErrBadPath, typ)
	}
	if len(targets) > 0 {
		pinned, err := n.Pins.CheckIfPinnedWithType(ctx, mode, true, targets...)
		if err != nil {
			return err
		}
		for _, p := range pinned {
			if !p.Pinned() {
				return fmt.Errorf("%w: path '%s' is not pinned", ErrNotPinned, p.Key)
			}
			t := "indirect through " + p.Via.String() // Kubo's wording
			switch p.Mode {
			case pin.Recursive:
				t = "recursive"
			case pin.Direct:
				t = "direct"
			}
			if err := emit(Pin{Cid: p.Key, Type: t, Name: p.Name}); err != nil {
				return err
			}
		}
		return nil
	}
	stream := func(ch <-chan pin.StreamedPin, t string, seen *cid.Set) error {
		for sp := range ch {
			if sp.Err != nil {
				return sp.Err
			}
			if seen != nil {
				seen.Add(sp.Pin.Key)
			}
			if err := emit(Pin{Cid: sp.Pin.Key, Type: t, Name: sp.Pin.Name}); err != nil {
				return err
			}
		}
		return nil
	}
	all := mode == pin.Any
	if all || mode == pin.Recursive {
		if err := stream(n.Pins.RecursiveKeys(ctx, true), "recursive", nil); err != nil {
			return err
		}
	}
	if all || mode == pin.Direct {
		if err := stream(n.Pins.DirectKeys(ctx, true), "direct", nil); err != nil {
			return err
		}
	}
	if all || mode == pin.Indirect {
		return n.indirectPins(ctx, emit)
	}
	return nil
}

// indirectPins walks every recursive pin and reports the blocks below the
// roots that are not themselves pinned directly or recursively.
func (n *Node) indirectPins(ctx context.Context, emit func(Pin) error) error {
	roots := cid.NewSet()
	for sp := range n.Pins.RecursiveKeys(ctx, false) {
		if sp.Err != nil {
			return sp.Err
		}
		roots.Add(sp.Pin.Key)
	}
	direct := cid.NewSet()
	for sp := range n.Pins.DirectKeys(ctx, false) {
		if sp.Err != nil {
			return sp.Err
		}
		direct.Add(sp.Pin.Key)
	}
	seen := cid.NewSet()
	var emitErr error
	visit := func(c cid.Cid) bool {
		if !seen.Visit(c) {
			return false
		}
		if !roots.Has(c) && !direct.Has(c) && emitErr == nil {
			emitErr = emit(Pin{Cid: c, Type: "indirect"})
		}
		return emitErr == nil
	}
	err := roots.ForEach(func(root cid.Cid) error {
		return merkledag.Walk(ctx, merkledag.GetLinksWithDAG(n.LocalDAG), root, visit)
	})
	if emitErr != nil {
		return emitErr
	}
	return err
}

// VerifyResult is the verdict on one recursive pin.
type VerifyResult struct {
	Cid      cid.Cid
	Ok       bool
	BadNodes []BadNode
}

// BadNode is a missing or corrupt block below a pin.
type BadNode struct {
	Cid cid.Cid
	Err string
}

// PinVerify checks that every block of every recursive pin is present and
// hashes to its CID.
func (n *Node) PinVerify(ctx context.Context, emit func(VerifyResult) error) error {
	checked := map[cid.Cid]bool{}
	var check func(c cid.Cid) []BadNode
	check = func(c cid.Cid) []BadNode {
		if ok, done := checked[c]; done && ok {
			return nil
		}
		nd, err := n.LocalDAG.Get(ctx, c)
		if err != nil {
			checked[c] = false
			return []BadNode{{Cid: c, Err: err.Error()}}
		}
		if sum, err := c.Prefix().Sum(nd.RawData()); err != nil || !sum.Equals(c) {
			checked[c] = false
			return []BadNode{{Cid: c, Err: "block data does not match its hash"}}
		}
		var bad []BadNode
		for _, l := range nd.Links() {
			bad = append(bad, check(l.Cid)...)
		}
		checked[c] = len(bad) == 0
		return bad
	}
	for sp := range n.Pins.RecursiveKeys(ctx, false) {
		if sp.Err != nil {
			return sp.Err
		}
		bad := check(sp.Pin.Key)
		if err := emit(VerifyResult{Cid: sp.Pin.Key, Ok: len(bad) == 0, BadNodes: bad}); err != nil {
			return err
		}
	}
	return nil
}

// IsPinnedRecursively reports whether c is pinned recursively.
func (n *Node) IsPinnedRecursively(ctx context.Context, c cid.Cid) (bool, error) {
	_, ok, err := n.Pins.IsPinnedWithType(ctx, c, pin.Recursive)
	return ok, err
}

// PinTarget is one pin of a PinMany call.
type PinTarget struct {
	Cid       cid.Cid
	Recursive bool
	Name      string
}

// PinMany pins many DAGs as one piece of work: their roots are fetched in
// one bitswap session (one want list for all of them), each is pinned as
// soon as its root arrives, and one sync of the pin store covers every pin
// made while the next roots were still on their way. done is called once
// per target, after its pin is durable or with why it failed; targets are
// independent (no rollback). It returns when every target is done or ctx
// ends (the targets not done by then fail with ctx's error).
func (n *Node) PinMany(ctx context.Context, targets []PinTarget, done func(i int, err error)) {
	unlock := n.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	index := make(map[cid.Cid][]int, len(targets))
	cids := make([]cid.Cid, 0, len(targets))
	for i, t := range targets {
		if len(index[t.Cid]) == 0 {
			cids = append(cids, t.Cid)
		}
		index[t.Cid] = append(index[t.Cid], i)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arrivals := merkledag.NewSession(sctx, n.DAG).GetMany(sctx, cids)
	var pinned []int // pinned, not yet synced
	settle := func() {
		if len(pinned) == 0 {
			return
		}
		err := n.syncPins(ctx)
		for _, i := range pinned {
			if err == nil {
				n.announce(ctx, targets[i].Cid)
			}
			done(i, err)
		}
		pinned = pinned[:0]
	}
	left := len(targets)
	for left > 0 {
		var opt *format.NodeOption
		var ok bool
		select {
		case opt, ok = <-arrivals:
		default:
			// Nothing more has arrived yet: make what is pinned durable
			// and answer it before waiting.
			settle()
			opt, ok = <-arrivals
		}
		if !ok {
			break
		}
		if opt.Err != nil {
			continue // the roots that never come fail below
		}
		for _, i := range index[opt.Node.Cid()] {
			t := targets[i]
			if err := n.Pins.Pin(ctx, opt.Node, t.Recursive, t.Name); err != nil {
				done(i, notFound(err))
			} else {
				pinned = append(pinned, i)
			}
			left--
		}
		delete(index, opt.Node.Cid())
	}
	settle()
	err := ctx.Err()
	if err == nil {
		err = fmt.Errorf("%w: the block did not arrive", ErrNotFound)
	}
	for _, is := range index {
		for _, i := range is {
			done(i, err)
		}
	}
}
