package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// streamDAG hands an import's blocks to a block stream and remembers their
// CIDs. A lone file's import reads nothing back.
type streamDAG struct {
	ipld.DAGService // nil: reads and removals are not expected
	s               *blockstream.Stream
	cids            []cid.Cid
}

func (d *streamDAG) Add(ctx context.Context, nd ipld.Node) error {
	return d.AddMany(ctx, []ipld.Node{nd})
}

func (d *streamDAG) AddMany(ctx context.Context, nds []ipld.Node) error {
	bs := make([]blocks.Block, len(nds))
	for i, nd := range nds {
		bs[i] = nd
		d.cids = append(d.cids, nd.Cid())
	}
	return d.s.Put(ctx, bs)
}

func bitswapReceived(t *testing.T, tp *testPeer) uint64 {
	t.Helper()
	st, err := tp.node.Exchange.(*bitswap.Bitswap).Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.BlocksReceived
}

// An add's blocks reach the allocated peers, durably, before the pin is
// committed, and a garbage collection meanwhile keeps them; the pin keeps
// those allocations, and the peers pin it without fetching a single block.
func TestAddStreamsBlocksBeforeThePin(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	via := tc.peers[0]
	if via.peer.IsLeader() {
		via = tc.peers[1] // Allocate through a follower, forwarded
	}

	allocs, err := via.peer.Allocate(ctx, pin.Pin{ReplicationMin: 2, ReplicationMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 2 {
		t.Fatalf("Allocate(2..2) = %v, want 2 peers", allocs)
	}
	stream, err := via.peer.StreamBlocks(ctx, allocs)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5<<20+123)
	rand.Read(data)
	settings, err := importer.Params{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	dag := &streamDAG{s: stream}
	args := files.NewSliceDirectory([]files.DirEntry{files.FileEntry("f", files.NewBytesFile(data))})
	roots, err := importer.Add(ctx, dag, args, settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := roots[0].Node.Cid()
	held, err := stream.Close(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(held, allocs) {
		t.Fatalf("Close held = %v, want every allocation %v", held, allocs)
	}

	// Acknowledged: every block is on every allocated peer, on no other,
	// and the pinset does not know the root yet.
	received := map[string]uint64{}
	for _, tp := range tc.peers {
		id := tp.peer.ID()
		for _, c := range dag.cids {
			has, err := tp.node.Blocks.Has(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if has != slices.Contains(allocs, id) {
				t.Fatalf("%s (allocated: %v) has %s = %v", tp.cfg.PeerName, slices.Contains(allocs, id), c, has)
			}
		}
		received[id] = bitswapReceived(t, tp)
	}
	if _, err := via.peer.Get(ctx, root); !errors.Is(err, pin.ErrNotFound) {
		t.Fatalf("Get(%s) before the pin = %v, want pin.ErrNotFound", root, err)
	}
	// Received and not pinned yet, the DAG survives a garbage collection
	// (the other blocks, MFS's scratch directory, do not).
	for _, tp := range tc.peers {
		if !slices.Contains(allocs, tp.peer.ID()) {
			continue
		}
		var dagCids []cid.Cid
		visit := func(c cid.Cid) bool { dagCids = append(dagCids, c); return true }
		if err := merkledag.Walk(ctx, merkledag.GetLinksWithDAG(tp.node.LocalDAG), root, visit); err != nil {
			t.Fatal(err)
		}
		if err := tp.node.GC(ctx, func(cid.Cid) error { return nil }); err != nil {
			t.Fatal(err)
		}
		for _, c := range dagCids {
			if has, _ := tp.node.Blocks.Has(ctx, c); !has {
				t.Fatalf("%s lost %s of %s to a garbage collection before the pin", tp.cfg.PeerName, c, root)
			}
		}
	}

	// The pin keeps the allocations the blocks went to.
	p, err := via.peer.Pin(ctx, pin.Pin{Cid: root, ReplicationMin: 2, ReplicationMax: 2, Allocations: allocs})
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(p.Allocations, allocs) {
		t.Fatalf("pinned allocations = %v, want %v", p.Allocations, allocs)
	}
	tc.waitPinned(via, root, 2, 20*time.Second)
	for _, tp := range tc.peers {
		if got := bitswapReceived(t, tp); got != received[tp.peer.ID()] {
			t.Errorf("%s received %d blocks over bitswap while pinning, want none", tp.cfg.PeerName, got-received[tp.peer.ID()])
		}
	}
}

// A block whose bytes do not match its CID is refused with the reason,
// and the stream fails when no destination is left.
func TestBlockStreamRefusesBadBlocks(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 2, "z1", "z2")
	from, to := tc.peers[0], tc.peers[1]
	good := blocks.NewBlock([]byte("good block"))
	forged, err := blocks.NewBlockWithCid([]byte("not what the CID says"), blocks.NewBlock([]byte("other")).Cid())
	if err != nil {
		t.Fatal(err)
	}
	stream, err := from.peer.StreamBlocks(ctx, []string{to.peer.ID()})
	if err != nil {
		t.Fatal(err)
	}
	// Put may see the failure already or not; Close must report it.
	stream.Put(ctx, []blocks.Block{good, forged})
	_, err = stream.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("Close after a forged block = %v, want the receiver's refusal", err)
	}
	if has, _ := to.node.Blocks.Has(ctx, forged.Cid()); has {
		t.Fatalf("the forged block was stored")
	}
}

func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// BenchmarkAddStream imports 64 MiB on one peer of three, streams the
// blocks to all three (itself included) and pins with replication 3, until
// every peer reports the pin pinned: the cluster side of /add, without
// HTTP. (make bench-add-cluster measures the whole of it.)
func BenchmarkAddStream(b *testing.B) {
	ctx := context.Background()
	tc := newCluster(b, 3, "z1", "z2", "z3")
	via := tc.peers[0]
	settings, err := importer.Params{}.Resolve()
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	b.SetBytes(size)
	for range b.N {
		b.StopTimer()
		data := make([]byte, size)
		rand.Read(data)
		b.StartTimer()
		allocs, err := via.peer.Allocate(ctx, pin.Pin{ReplicationMin: 3, ReplicationMax: 3})
		if err != nil {
			b.Fatal(err)
		}
		stream, err := via.peer.StreamBlocks(ctx, allocs)
		if err != nil {
			b.Fatal(err)
		}
		args := files.NewSliceDirectory([]files.DirEntry{files.FileEntry("f", files.NewBytesFile(data))})
		roots, err := importer.Add(ctx, &streamDAG{s: stream}, args, settings, nil)
		if err != nil {
			b.Fatal(err)
		}
		root := roots[0].Node.Cid()
		if _, err := stream.Close(ctx, root); err != nil {
			b.Fatal(err)
		}
		if _, err := via.peer.Pin(ctx, pin.Pin{Cid: root, ReplicationMin: 3, ReplicationMax: 3, Allocations: allocs}); err != nil {
			b.Fatal(err)
		}
		tc.waitPinned(via, root, 3, time.Minute)
	}
}
