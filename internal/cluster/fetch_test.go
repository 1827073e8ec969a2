package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Peers without a swarm still replicate: a pin of content that only one
// of them holds reaches every allocated peer over the cluster transport.
func TestOfflinePeersReplicateOverTheClusterTransport(t *testing.T) {
	tc := &testCluster{t: t, faults: &faults{cut: map[[2]string]bool{}}, secret: []byte("test cluster secret, 32 bytes!!!"), offline: true}
	for _, z := range []string{"z1", "z2", "z3"} {
		tc.add(z)
	}
	tc.waitMembers(3)
	holder := tc.peers[1]
	c := holder.addContent("content only one offline peer holds, long enough to be worth sending")
	if _, err := holder.peer.Pin(context.Background(), pin.Pin{Cid: c, ReplicationMin: 3, ReplicationMax: 3}); err != nil {
		t.Fatal(err)
	}
	tc.waitPinned(holder, c, 3, 30*time.Second)
	for _, tp := range tc.peers {
		if has, err := tp.node.Blocks.Has(context.Background(), c); err != nil || !has {
			t.Fatalf("%s lacks the root block after pinning (err %v)", tp.cfg.PeerName, err)
		}
	}
}
