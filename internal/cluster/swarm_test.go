package cluster

import (
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Every member's node connects to every other's, without the DHT and
// without a pin to bring them together, and keeps those connections.
func TestMembersNodesStayConnected(t *testing.T) {
	tc := newCluster(t, 3, "z1", "z2", "z3")
	eventually(t, 3*swarmLinkInterval, "every node connected to every other", func() error {
		for _, a := range tc.peers {
			for _, b := range tc.peers {
				if a == b {
					continue
				}
				id, err := peer.Decode(b.peer.ID())
				if err != nil {
					return err
				}
				if a.net.Host.Network().Connectedness(id) != network.Connected {
					return fmt.Errorf("%s is not connected to %s", a.cfg.PeerName, b.cfg.PeerName)
				}
				if !a.net.Host.ConnManager().IsProtected(id, swarmTag) {
					return fmt.Errorf("%s does not protect its link to %s", a.cfg.PeerName, b.cfg.PeerName)
				}
			}
		}
		return nil
	})
}

func TestMemberAddrInfo(t *testing.T) {
	const id = "12D3KooWBNkhzfWqekEcHjiPqgtksSKWvfwkCVUdVTZ5Gfr9gK7d"
	info := memberAddrInfo([]string{"/ip4/10.0.0.1/tcp/4001/p2p/" + id, "not an address", "/ip4/10.0.0.2/udp/4001/quic-v1/p2p/" + id})
	if info.ID.String() != id || len(info.Addrs) != 2 {
		t.Errorf("memberAddrInfo = %v, want %s with 2 addresses", info, id)
	}
	if info := memberAddrInfo(nil); info.ID != "" {
		t.Errorf("memberAddrInfo(nil) = %v, want empty", info)
	}
}
