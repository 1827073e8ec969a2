package cluster

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

func fakeCid(i int) cid.Cid {
	h, _ := mh.Sum([]byte("catch-up "+strconv.Itoa(i)), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

// A peer joining a cluster that holds 100k pins catches up by installing a
// snapshot streamed from the leader, not by replaying history.
func TestNewPeerCatchesUpFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k pins; skipped in -short mode")
	}
	ctx := context.Background()
	// With fewer trailing entries than the load writes, a new peer can
	// only catch up from the snapshot.
	tc := newTunedCluster(t, 1, func(c *Config) { c.TrailingLogs = 4 }, "z1")
	leader := tc.peers[0]
	// FLOTILLA_CATCHUP_PINS scales it up for measurements (1M: see
	// docs/benchmarks.md).
	pins, batch := envInt("FLOTILLA_CATCHUP_PINS", 100_000), 2000
	for i := 0; i < pins; i += batch {
		ops := make([]state.Op, 0, batch)
		for j := i; j < i+batch; j++ {
			// Allocated to a peer that does not exist, so that no
			// tracker tries to fetch content that is not there.
			ops = append(ops, state.Op{Kind: state.OpPutPin, Pin: pin.Pin{
				Cid: fakeCid(j), Mode: pin.Recursive, ReplicationMin: 1, ReplicationMax: 1, Allocations: []string{"nobody"}}})
		}
		if err := leader.peer.raft.Apply(ctx, ops); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader.peer.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	newcomer := tc.add("z2")
	eventually(t, 60*time.Second, "newcomer holds the pinset", func() error {
		n := 0
		newcomer.peer.st.List(ctx, cid.Undef, func(pin.Pin) error { n++; return nil })
		if n != pins {
			return fmt.Errorf("%d pins", n)
		}
		return nil
	})
	took := time.Since(start)
	if idx := newcomer.peer.raft.Stats()["last_snapshot_index"]; idx == "0" {
		t.Fatalf("newcomer replayed the log instead of installing a snapshot (last_snapshot_index %s)", idx)
	}
	t.Logf("new peer caught up on %d pins in %s", pins, took.Round(time.Millisecond))
}
