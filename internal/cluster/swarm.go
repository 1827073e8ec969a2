package cluster

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// swarmLinkInterval is how often a peer checks that its node is connected
// to every other member's node.
const swarmLinkInterval = 2 * time.Second

// swarmTag protects the connections between members' nodes from the
// connection manager's trimming.
const swarmTag = "flotilla-cluster"

// swarmLinkLoop keeps this peer's IPFS node connected to every member's
// node, so that bitswap finds a cluster's content on the other members
// without the DHT: a gateway read on a fresh or repaired peer fetches what
// it does not hold yet from the peers that do, as in a private network or
// a deployment with the DHT off.
func (p *Peer) swarmLinkLoop(ctx context.Context) {
	nw := p.deps.Node.Network
	if nw == nil {
		return
	}
	t := time.NewTicker(swarmLinkInterval)
	defer t.Stop()
	for {
		ms, err := p.st.Members()
		if err == nil {
			for _, m := range ms {
				if m.ID == p.deps.ID || len(m.SwarmAddrs) == 0 {
					continue
				}
				info := memberAddrInfo(m.SwarmAddrs)
				if info.ID == "" || info.ID == nw.Host.ID() {
					continue
				}
				nw.Host.ConnManager().Protect(info.ID, swarmTag)
				if nw.Host.Network().Connectedness(info.ID) == network.Connected {
					continue
				}
				dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := nw.Host.Connect(dctx, info); err != nil {
					p.log.Debug("cannot reach a member's node", "peer", m.ID, "err", err)
				}
				cancel()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// memberAddrInfo gathers a member's swarm addresses (/…/p2p/<id> each).
func memberAddrInfo(addrs []string) peer.AddrInfo {
	var info peer.AddrInfo
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil || info.ID != "" && ai.ID != info.ID {
			continue
		}
		info.ID = ai.ID
		info.Addrs = append(info.Addrs, ai.Addrs...)
	}
	return info
}
