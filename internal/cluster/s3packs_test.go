package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	unixfsio "github.com/ipfs/boxo/ipld/unixfs/io"
	cid "github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/s3store"
	"github.com/flotilla-ipfs/flotilla/internal/s3store/s3test"
)

// newSharedS3Cluster starts n peers whose blocks are in one shared bucket
// and prefix of a real S3 server (versitygw), each with its index and
// cache in its own data directory.
func newSharedS3Cluster(t *testing.T, n int, zones ...string) (*testCluster, *s3test.Server) {
	t.Helper()
	return newTunedSharedS3Cluster(t, n, nil, zones...)
}

// newTunedSharedS3Cluster is newSharedS3Cluster with a hook on every
// peer's config.
func newTunedSharedS3Cluster(t *testing.T, n int, tune func(*Config), zones ...string) (*testCluster, *s3test.Server) {
	t.Helper()
	srv := s3test.Start(t)
	srv.SetEnv(t)
	tc := &testCluster{t: t, faults: &faults{cut: map[[2]string]bool{}}, secret: []byte("test cluster secret, 32 bytes!!!"), tune: tune}
	tc.openBlocks = func(tp *testPeer) (ds.Batching, *SharedPacks) {
		cfg := s3store.DefaultConfig()
		cfg.Bucket, cfg.Endpoint, cfg.PathStyle = srv.Bucket, srv.Endpoint, true
		cfg.Prefix, cfg.Shared = "cluster", true
		cfg.PackSize, cfg.ReadSize, cfg.CacheSize = 4<<20, 1<<20, 64<<20
		// Logged only with FLOTILLA_TEST_LOG set, as the peers are.
		log := slog.New(slog.DiscardHandler)
		if os.Getenv("FLOTILLA_TEST_LOG") != "" {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("peer", tp.cfg.PeerName)
		}
		packs := NewSharedPacks(log)
		st, err := s3store.Open(context.Background(), filepath.Join(tp.dir, "blocks-s3"), cfg,
			s3store.Deps{OnPack: packs.Written, OnMiss: packs.CatchUp, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return st, packs
	}
	for i := range n {
		tc.add(zones[i%len(zones)])
	}
	tc.waitMembers(n)
	return tc, srv
}

// blocksFetched is how many blocks a peer's bitswap received.
func (tp *testPeer) blocksFetched() uint64 {
	tp.t.Helper()
	st, err := tp.node.Exchange.(*bitswap.Bitswap).Stat()
	if err != nil {
		tp.t.Fatal(err)
	}
	return st.BlocksReceived
}

// readLocal reads a file through the peer's own blockstore only.
func (tp *testPeer) readLocal(c cid.Cid) ([]byte, error) {
	ctx := context.Background()
	nd, err := tp.node.LocalDAG.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	r, err := unixfsio.NewDagReader(ctx, nd, tp.node.LocalDAG)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// In shared mode a block is stored once whatever the replication: the
// peers learn of each pack through the cluster's records, read what
// another peer wrote without fetching it, pin it without fetching or
// writing it again, and a replacement peer with an empty data directory
// serves every pinned CID from the bucket alone.
func TestSharedBucketStoresBlocksOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and three peers; skipped in -short mode")
	}
	ctx := context.Background()
	tc, srv := newSharedS3Cluster(t, 3, "z1", "z2", "z3")

	// Files of several blocks (256 KiB chunks), added on two peers.
	files := map[cid.Cid][]byte{}
	for i, tp := range []*testPeer{tc.peers[0], tc.peers[1], tc.peers[0]} {
		data := randomData(uint64(i+1), 1<<20+i*1000)
		files[tp.addContent(string(data))] = data
	}
	writes := srv.Count("PutObject") + srv.Count("UploadPart")
	if writes == 0 {
		t.Fatal("the adds wrote nothing to S3")
	}

	// Another peer reads what peer0 wrote, through its own blockstore
	// only, once it has applied the records (they were committed before
	// the adds returned).
	for c, data := range files {
		eventually(t, 10*time.Second, fmt.Sprintf("peer2 reading %s from its own blockstore", c), func() error {
			got, err := tc.peers[2].readLocal(c)
			if err != nil || !bytes.Equal(got, data) {
				return fmt.Errorf("%d bytes, %v; want the %d added", len(got), err, len(data))
			}
			return nil
		})
	}

	// Pinned everywhere: every peer pins without fetching over bitswap,
	// and nothing is written to the bucket again.
	srv.Reset()
	for c := range files {
		if _, err := tc.peers[1].peer.Pin(ctx, pin.Pin{Cid: c, ReplicationMin: pin.Everywhere, ReplicationMax: pin.Everywhere}); err != nil {
			t.Fatal(err)
		}
	}
	for c := range files {
		tc.waitPinned(tc.peers[0], c, 3, 30*time.Second)
	}
	if n := srv.Count("PutObject") + srv.Count("UploadPart"); n != 0 {
		t.Errorf("pinning on 3 peers wrote %d objects to the bucket, want 0 (%v)", n, srv.Counts())
	}
	for _, tp := range tc.peers {
		if n := tp.blocksFetched(); n != 0 {
			t.Errorf("%s fetched %d blocks over bitswap, want 0", tp.cfg.PeerName, n)
		}
	}

	// Replace peer2 by a fresh peer with an empty data directory: its
	// store rebuilds the index from the bucket, the cluster repairs
	// peer2's allocations onto it, and it holds every pinned CID without
	// fetching a block.
	tc.peers[2].stop()
	fresh := tc.add("z3")
	for c := range files {
		eventually(t, 60*time.Second, fmt.Sprintf("%s pinned on the fresh peer", c), func() error {
			info, err := tc.peers[0].peer.Status(ctx, c)
			if err != nil {
				return err
			}
			for _, s := range info.Peers {
				if s.Peer == fresh.peer.ID() && s.Status == pin.StatusPinned {
					return nil
				}
			}
			return fmt.Errorf("status %+v", info.Peers)
		})
	}
	if n := fresh.blocksFetched(); n != 0 {
		t.Errorf("the fresh peer fetched %d blocks over bitswap, want 0", n)
	}
	for c, data := range files {
		got, err := fresh.readLocal(c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the fresh peer reading %s from its own blockstore: %d bytes, %v", c, len(got), err)
		}
	}
	if n := srv.Count("PutObject") + srv.Count("UploadPart"); n != 0 {
		t.Errorf("the replacement wrote %d objects to the bucket, want 0", n)
	}
}
