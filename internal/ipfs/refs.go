package ipfs

import (
	"context"

	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// Ref is one edge of a DAG: the link named Name from From to To.
type Ref struct {
	From, To cid.Cid
	Name     string
}

// RefsOptions shape a refs walk, as Kubo's `refs` flags do.
type RefsOptions struct {
	// MaxDepth bounds the walk: 1 lists the direct links only, -1 is
	// unlimited.
	MaxDepth int
	// Unique reports each CID once (and prunes subtrees already walked).
	Unique bool
}

// Refs walks the DAG under root and reports its edges depth first, in link
// order, exactly as Kubo's `refs` does: with Unique, a CID seen before is
// not reported again, and its subtree is walked again only if it was seen
// deeper than it is now (a depth limit may have cut the first walk short).
func (n *Node) Refs(ctx context.Context, root cid.Cid, o RefsOptions, emit func(Ref) error) error {
	nd, err := n.DAG.Get(ctx, root)
	if err != nil {
		return notFound(err)
	}
	w := refWalker{n: n, o: o, emit: emit, seen: map[cid.Cid]int{}}
	return w.walk(ctx, nd, 0)
}

type refWalker struct {
	n    *Node
	o    RefsOptions
	emit func(Ref) error
	seen map[cid.Cid]int // depth at which each CID was first reported (Unique)
}

func (w *refWalker) walk(ctx context.Context, nd ipld.Node, depth int) error {
	for _, l := range nd.Links() {
		deeper, report := w.visit(l.Cid, depth+1)
		if !deeper && !report {
			continue
		}
		// A reported ref is always fetched, so that a listed ref is one
		// the node actually has.
		child, err := w.n.DAG.Get(ctx, l.Cid)
		if err != nil {
			return notFound(err)
		}
		if report {
			if err := w.emit(Ref{From: nd.Cid(), To: l.Cid, Name: l.Name}); err != nil {
				return err
			}
		}
		if deeper {
			if err := w.walk(ctx, child, depth+1); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// visit says whether to walk below c and whether to report it.
func (w *refWalker) visit(c cid.Cid, depth int) (deeper, report bool) {
	max := w.o.MaxDepth
	if max >= 0 && depth > max {
		return false, false
	}
	atMax := max >= 0 && depth == max
	if !w.o.Unique {
		return !atMax, true
	}
	old, ok := w.seen[c]
	if ok && (max < 0 || old <= depth) {
		return false, false
	}
	w.seen[c] = depth
	return !atMax, !ok
}

// LocalRefs reports every block of the local store, as CIDv1 raw (the
// store keeps multihashes only), like Kubo's `refs local`.
func (n *Node) LocalRefs(ctx context.Context, emit func(cid.Cid) error) error {
	keys, err := n.Blocks.AllKeysChan(ctx)
	if err != nil {
		return err
	}
	for k := range keys {
		if err := emit(k); err != nil {
			return err
		}
	}
	return ctx.Err()
}
