package cluster

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/member"
)

// linkTimeout bounds how long a member may take to answer a connectivity
// probe: an unreachable member must not hold up the whole graph.
const linkTimeout = 5 * time.Second

// PeerLinks is one member's connections, as it reports them.
type PeerLinks struct {
	Peer string
	Err  string // set when the member could not be asked
	// ClusterPeers are the other members that answer it on the cluster
	// port.
	ClusterPeers []string
	// SwarmPeers are the libp2p peers its IPFS node is connected to
	// (members or not).
	SwarmPeers []string
}

type wireLinks struct {
	ClusterPeers []string `json:"cluster_peers"`
	SwarmPeers   []string `json:"swarm_peers"`
}

// Links asks every member for its connections, in the members' order:
// which other members it reaches over the cluster port, and which peers
// its IPFS node is connected to. Each member probes the others itself, so
// the answer shows one-way partitions too.
func (p *Peer) Links(ctx context.Context) ([]PeerLinks, error) {
	ms, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	out := make([]PeerLinks, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = PeerLinks{Peer: m.ID}
			var w wireLinks
			if m.ID == p.deps.ID {
				w = p.localLinks(ctx, ms)
			} else {
				cctx, cancel := context.WithTimeout(ctx, 2*linkTimeout)
				defer cancel()
				var err error
				if w, err = callPeer(cctx, p, m.ClusterAddr, linksCall, struct{}{}); err != nil {
					out[i].Err = err.Error()
					return
				}
			}
			out[i].ClusterPeers, out[i].SwarmPeers = w.ClusterPeers, w.SwarmPeers
		}()
	}
	wg.Wait()
	return out, nil
}

// localLinks probes the other members' cluster ports and lists the node's
// swarm connections.
func (p *Peer) localLinks(ctx context.Context, ms []member.Member) wireLinks {
	w := wireLinks{ClusterPeers: []string{}, SwarmPeers: []string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range ms {
		if m.ID == p.deps.ID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, linkTimeout)
			defer cancel()
			if h, err := callPeer(cctx, p, m.ClusterAddr, helloCall, struct{}{}); err != nil || h.ID != m.ID {
				return
			}
			mu.Lock()
			w.ClusterPeers = append(w.ClusterPeers, m.ID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(w.ClusterPeers)
	if nw := p.deps.Node.Network; nw != nil {
		for _, id := range nw.Host.Network().Peers() {
			w.SwarmPeers = append(w.SwarmPeers, id.String())
		}
		slices.Sort(w.SwarmPeers)
	}
	return w
}

func (p *Peer) serveLinks(ctx context.Context, _ struct{}) (wireLinks, error) {
	ms, err := p.st.Members()
	if err != nil {
		return wireLinks{}, err
	}
	return p.localLinks(ctx, ms), nil
}
