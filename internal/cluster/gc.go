package cluster

import (
	"context"
	"sync"

	cid "github.com/ipfs/go-cid"
)

// GCResult is one member's garbage collection: the blocks its node
// deleted, and why it stopped early if it did.
type GCResult struct {
	Peer    string
	Removed []cid.Cid
	Err     string // the member failed or could not be asked
}

type wireGC struct {
	Removed []string `json:"removed"`
	Error   string   `json:"error,omitempty"`
}

// RepoGC collects the garbage of every member's node at once and returns
// one result per member, in the members' order. A member that fails or
// cannot be reached has its error in its result; the call itself fails only
// when the members cannot be listed. On a shared bucket it is one
// collection of the whole cluster, coordinated by this peer, and its one
// result (sharedgc.go).
func (p *Peer) RepoGC(ctx context.Context) ([]GCResult, error) {
	if p.deps.Packs != nil {
		return []GCResult{p.sharedGC(ctx)}, nil
	}
	ms, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	out := make([]GCResult, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		if m.ID == p.deps.ID {
			out[i] = p.LocalGC(ctx)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = GCResult{Peer: m.ID}
			w, err := callPeer(ctx, p, m.ClusterAddr, gcCall, struct{}{})
			if err != nil {
				out[i].Err = err.Error()
				return
			}
			out[i].Err = w.Error
			for _, s := range w.Removed {
				if c, err := cid.Decode(s); err == nil {
					out[i].Removed = append(out[i].Removed, c)
				}
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// LocalGC collects this peer's node's garbage (see ipfs.Node.GC: it waits
// for running pins and adds, so nothing being pinned is collected). On a
// shared bucket no peer has garbage of its own: it is RepoGC's collection
// of the whole cluster.
func (p *Peer) LocalGC(ctx context.Context) GCResult {
	if p.deps.Packs != nil {
		return p.sharedGC(ctx)
	}
	r := GCResult{Peer: p.deps.ID}
	err := p.deps.Node.GC(ctx, func(c cid.Cid) error {
		r.Removed = append(r.Removed, c)
		return nil
	})
	if err != nil {
		r.Err = err.Error()
	}
	if len(r.Removed) > 0 || err != nil {
		p.log.Info("garbage collected", "blocks", len(r.Removed), "err", err)
	}
	return r
}

func (p *Peer) serveGC(ctx context.Context, _ struct{}) (wireGC, error) {
	r := p.LocalGC(ctx)
	out := wireGC{Removed: make([]string, len(r.Removed)), Error: r.Err}
	for i, c := range r.Removed {
		out.Removed[i] = c.String()
	}
	return out, nil
}

// sharedGC runs a collection of the shared bucket coordinated here.
func (p *Peer) sharedGC(ctx context.Context) GCResult {
	r := GCResult{Peer: p.deps.ID}
	err := p.collectShared(ctx, func(c cid.Cid) { r.Removed = append(r.Removed, c) })
	if err != nil {
		r.Err = err.Error()
	}
	p.log.Info("garbage collected the shared bucket", "blocks", len(r.Removed), "err", err)
	return r
}
