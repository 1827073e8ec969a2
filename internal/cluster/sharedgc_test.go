package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/adder"
	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
)

// clusterAdd adds data through the peer as the REST API's /add does
// (internal/adder) and returns the root.
func (tp *testPeer) clusterAdd(ctx context.Context, data []byte, pn pin.Pin) (cid.Cid, error) {
	s, err := importer.Params{}.Resolve()
	if err != nil {
		return cid.Undef, err
	}
	upload := files.NewSliceDirectory([]files.DirEntry{files.FileEntry("f", files.NewBytesFile(data))})
	var root cid.Cid
	err = adder.New(adder.Deps{Cluster: tp.peer, Node: tp.node}).Add(ctx, upload, restapi.AddRequest{Pin: pn, Import: s}, func(a restapi.Added) error {
		if a.Cid.Defined() {
			root = a.Cid
		}
		return nil
	})
	return root, err
}

// addFiles adds files to the peer's node in one import (so their blocks
// share packs), unpinned, and returns their roots.
func (tp *testPeer) addFiles(data ...[]byte) []cid.Cid {
	tp.t.Helper()
	s, err := importer.Params{}.Resolve()
	if err != nil {
		tp.t.Fatal(err)
	}
	var entries []files.DirEntry
	for i, d := range data {
		entries = append(entries, files.FileEntry(fmt.Sprintf("f%d", i), files.NewBytesFile(d)))
	}
	roots, err := tp.node.Add(context.Background(), files.NewSliceDirectory(entries), ipfs.AddOptions{Import: s}, nil)
	if err != nil {
		tp.t.Fatal(err)
	}
	out := make([]cid.Cid, len(roots))
	for i, r := range roots {
		out[i] = r.Node.Cid()
	}
	return out
}

// gcHeld reports whether a collection holds the peer's node.
func (tp *testPeer) gcHeld() bool {
	g := &tp.peer.gc
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hold != nil && g.hold.unlock != nil
}

// waitReads waits until every running peer reads c, as data, from its
// own blockstore.
func (tc *testCluster) waitReads(c cid.Cid, data []byte) {
	tc.t.Helper()
	for _, tp := range tc.peers {
		if tp.peer == nil {
			continue
		}
		eventually(tc.t, 20*time.Second, fmt.Sprintf("%s reading %s from its own blockstore", tp.cfg.PeerName, c), func() error {
			got, err := tp.readLocal(c)
			if err != nil || !bytes.Equal(got, data) {
				return fmt.Errorf("%d bytes, %v; want the %d added", len(got), err, len(data))
			}
			return nil
		})
	}
}

// removedSet indexes the multihashes a collection removed.
func removedSet(r GCResult) map[string]bool {
	out := map[string]bool{}
	for _, c := range r.Removed {
		out[string(c.Hash())] = true
	}
	return out
}

func gcOnce(t *testing.T, tp *testPeer) GCResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := tp.peer.RepoGC(ctx)
	if err != nil {
		t.Fatalf("RepoGC through %s: %v", tp.cfg.PeerName, err)
	}
	if len(rs) != 1 {
		t.Fatalf("RepoGC on a shared bucket returned %d results, want the coordinator's one", len(rs))
	}
	return rs[0]
}

// On a shared bucket a collection marks from the whole cluster: content
// pinned on one peer only, sharing a pack with garbage, survives a
// collection coordinated by a peer that does not pin it, and reads on
// every peer from the rewritten pack; the garbage is gone from every
// peer's index, and a later collection deletes the replaced pack.
func TestSharedGCKeepsWhatAnyPeerPins(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and three peers; skipped in -short mode")
	}
	ctx := context.Background()
	tc, srv := newTunedSharedS3Cluster(t, 3, func(c *Config) { c.GCGrace = 0 }, "z1", "z2", "z3")
	a, b := tc.peers[0], tc.peers[1]

	// One import: f (512 KiB, to be pinned on b alone) and g (2 MiB of
	// garbage) in one pack written by a.
	fData, gData := randomData(11, 512<<10), randomData(12, 2<<20)
	roots := a.addFiles(fData, gData)
	f, g := roots[0], roots[1]
	if _, err := b.peer.Pin(ctx, pin.Pin{Cid: f, ReplicationMin: 1, ReplicationMax: 1, UserAllocations: []string{b.peer.ID()}}); err != nil {
		t.Fatal(err)
	}
	tc.waitPinned(b, f, 1, 30*time.Second)
	if pinned, err := a.node.IsPinnedRecursively(ctx, f); err != nil || pinned {
		t.Fatalf("a pins f (%v, %v): the test wants it pinned on b alone", pinned, err)
	}

	srv.Reset()
	r := gcOnce(t, a)
	if r.Err != "" {
		t.Fatalf("collection through a: %s", r.Err)
	}
	removed := removedSet(r)
	if removed[string(f.Hash())] {
		t.Errorf("the collection removed f's root, pinned on b")
	}
	if !removed[string(g.Hash())] {
		t.Errorf("the collection did not remove g's root (removed %d blocks)", len(r.Removed))
	}
	if n := srv.Count("PutObject") + srv.Count("CreateMultipartUpload"); n == 0 {
		t.Errorf("the collection rewrote no pack (%v)", srv.Counts())
	}
	tc.waitReads(f, fData)
	for _, tp := range tc.peers {
		eventually(t, 10*time.Second, fmt.Sprintf("%s forgetting g", tp.cfg.PeerName), func() error {
			if ok, err := tp.node.Blocks.Has(ctx, g); err != nil || ok {
				return fmt.Errorf("Has(g) = %v, %v", ok, err)
			}
			return nil
		})
	}

	// Coordinated by another peer, a second collection deletes the pack
	// the first replaced (its grace is 0); f still reads everywhere.
	srv.Reset()
	if r := gcOnce(t, tc.peers[2]); r.Err != "" {
		t.Fatalf("second collection: %s", r.Err)
	}
	if n := srv.Count("DeleteObject"); n == 0 {
		t.Errorf("the second collection deleted no replaced pack (%v)", srv.Counts())
	}
	tc.waitReads(f, fData)
	if n := b.blocksFetched(); n != 0 {
		t.Errorf("b fetched %d blocks over bitswap, want 0", n)
	}
}

// The race: a collection coordinated by a, which marked while content f
// was garbage, is rewriting f's pack when b adds f again (finding every
// block in that pack) and pins it on b alone. b's add must not slip in
// between the mark and the sweep: it waits until the collection has let
// b go, by which time b's index no longer holds f, so b writes f again.
// Whichever way it goes, f survives, pinned and readable on every peer.
func TestSharedGCRacingAnAddThroughAnotherPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and three peers; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tc, srv := newSharedS3Cluster(t, 3, "z1", "z2", "z3")
	a, b := tc.peers[0], tc.peers[1]
	fData := randomData(21, 1<<20)
	f := a.addContent(string(fData)) // unpinned: garbage
	tc.waitReads(f, fData)

	// The collection's first write, the rewritten pack, waits for resume.
	paused, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv.Intercept(func(op string, _ *http.Request) int {
		if op == "PutObject" || op == "CreateMultipartUpload" {
			first := false
			once.Do(func() { first = true; close(paused) })
			if first {
				<-resume
			}
		}
		return 0
	})
	t.Cleanup(func() { srv.Intercept(nil) })
	gcDone := make(chan GCResult, 1)
	go func() {
		rs, err := a.peer.RepoGC(ctx)
		if err != nil || len(rs) != 1 {
			gcDone <- GCResult{Err: fmt.Sprintf("RepoGC = %v, %v", rs, err)}
			return
		}
		gcDone <- rs[0]
	}()
	select {
	case <-paused:
	case r := <-gcDone:
		t.Fatalf("the collection ended without rewriting a pack: %+v", r)
	case <-ctx.Done():
		t.Fatal("the collection never rewrote a pack")
	}

	// b adds f meanwhile. The collection goes on once b's add is either
	// done (nothing held it off) or held off by the collection.
	addDone := make(chan error, 1)
	go func() {
		_, err := b.clusterAdd(ctx, fData, pin.Pin{ReplicationMin: 1, ReplicationMax: 1, UserAllocations: []string{b.peer.ID()}})
		addDone <- err
	}()
	var addErr error
	added := false
	eventually(t, 30*time.Second, "b's add done or held off by the collection", func() error {
		if !added {
			select {
			case addErr = <-addDone:
				added = true
			default:
			}
		}
		if added || b.gcHeld() {
			return nil
		}
		return errors.New("b's add runs and b is not held")
	})
	close(resume)

	r := <-gcDone
	if r.Err != "" {
		t.Fatalf("collection through a: %s", r.Err)
	}
	if !removedSet(r)[string(f.Hash())] {
		t.Fatalf("the collection did not remove f (removed %d blocks): the race did not happen", len(r.Removed))
	}
	if !added {
		addErr = <-addDone
	}
	if addErr != nil {
		t.Fatalf("add through b: %v", addErr)
	}
	tc.waitPinned(b, f, 1, 30*time.Second)
	tc.waitReads(f, fData)
}

// Two collections never run at once: while one rewrites a pack, a
// collection asked of any other peer is refused (ErrGCRunning) and
// neither compacts nor deletes; once the first is done, the next runs,
// and it deletes the pack the first replaced.
func TestSharedGCRunsOneAtATime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and three peers; skipped in -short mode")
	}
	tc, srv := newTunedSharedS3Cluster(t, 3, func(c *Config) { c.GCGrace = 0 }, "z1", "z2", "z3")
	garbage := randomData(31, 1<<20)
	c := tc.peers[0].addContent(string(garbage))
	tc.waitReads(c, garbage)

	// Every write or delete of the bucket is a collection's here. The
	// first waits for resume; any other that arrives meanwhile is a
	// second collection at work.
	var (
		mu         sync.Mutex
		blocked    bool
		concurrent []string
	)
	paused, resume := make(chan struct{}), make(chan struct{})
	srv.Intercept(func(op string, _ *http.Request) int {
		switch op {
		case "PutObject", "CreateMultipartUpload", "DeleteObject", "DeleteObjects":
		default:
			return 0
		}
		mu.Lock()
		if blocked {
			concurrent = append(concurrent, op)
			mu.Unlock()
			return 0
		}
		first := paused != nil
		if first {
			blocked = true
			close(paused)
			paused = nil
		}
		mu.Unlock()
		if first {
			<-resume
			mu.Lock()
			blocked = false
			mu.Unlock()
		}
		return 0
	})
	t.Cleanup(func() { srv.Intercept(nil) })
	wait := paused

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := make(chan GCResult, 1)
	go func() {
		rs, err := tc.peers[0].peer.RepoGC(ctx)
		if err != nil || len(rs) != 1 {
			first <- GCResult{Err: fmt.Sprintf("RepoGC = %v, %v", rs, err)}
			return
		}
		first <- rs[0]
	}()
	select {
	case <-wait:
	case r := <-first:
		t.Fatalf("the first collection ended without writing: %+v", r)
	case <-ctx.Done():
		t.Fatal("the first collection never wrote")
	}
	for _, tp := range tc.peers {
		r := gcOnce(t, tp)
		if !strings.Contains(r.Err, ErrGCRunning.Error()) {
			t.Errorf("a collection through %s while another runs: error %q, want %q", tp.cfg.PeerName, r.Err, ErrGCRunning)
		}
	}
	close(resume)
	if r := <-first; r.Err != "" || len(r.Removed) == 0 {
		t.Fatalf("first collection: %d blocks removed, error %q; want the garbage removed", len(r.Removed), r.Err)
	}

	srv.Reset()
	if r := gcOnce(t, tc.peers[1]); r.Err != "" {
		t.Fatalf("the next collection: %s", r.Err)
	}
	if n := srv.Count("DeleteObject"); n == 0 {
		t.Errorf("the next collection deleted no replaced pack (%v)", srv.Counts())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(concurrent) > 0 {
		t.Errorf("requests %v reached the bucket while the first collection's write was held: two collections at once", concurrent)
	}
}

// On a shared bucket an add through the REST API's path (internal/adder)
// writes its blocks to the bucket once, however many peers it is
// allocated to: three allocations put the file's bytes once (not three
// times), the other allocations write nothing when they pin, and none
// fetches a block over bitswap.
func TestSharedAddWritesBlocksOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and three peers; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tc, srv := newSharedS3Cluster(t, 3, "z1", "z2", "z3")
	via := tc.peers[0]
	var (
		mu  sync.Mutex
		put int64 // bytes of PUT bodies: objects and parts
	)
	srv.Intercept(func(op string, r *http.Request) int {
		if op == "PutObject" || op == "UploadPart" {
			mu.Lock()
			put += r.ContentLength
			mu.Unlock()
		}
		return 0
	})
	t.Cleanup(func() { srv.Intercept(nil) })
	written := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return put
	}

	const size = 3 << 20
	data := randomData(42, size)
	c, err := via.clusterAdd(ctx, data, pin.Pin{ReplicationMin: pin.Everywhere, ReplicationMax: pin.Everywhere})
	if err != nil {
		t.Fatal(err)
	}
	// The add returns once its blocks are in S3. A pack's index and
	// footer add a few kB to the file's blocks.
	added := written()
	if added < size || added > size+size/10 {
		t.Errorf("adding %d bytes allocated to 3 peers put %d bytes to the bucket, want them once (%v)", size, added, srv.Counts())
	}
	tc.waitPinned(via, c, 3, 30*time.Second)
	if n := written(); n != added {
		t.Errorf("pinning on the other allocations put %d more bytes, want 0 (%v)", n-added, srv.Counts())
	}
	for _, tp := range tc.peers {
		if n := tp.blocksFetched(); n != 0 {
			t.Errorf("%s fetched %d blocks over bitswap, want 0", tp.cfg.PeerName, n)
		}
	}
	tc.waitReads(c, data)
	t.Logf("3 MiB allocated to 3 peers: %d bytes put, requests %v", added, srv.Counts())
}

// A hold whose coordinator stops renewing it (crashed, cut off) lets go
// by itself: an add through the held peer waits, then completes, and the
// next collection runs.
func TestSharedGCHoldLapses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and two peers; skipped in -short mode")
	}
	defer func(d time.Duration) { gcHoldTTL = d }(gcHoldTTL)
	gcHoldTTL = time.Second // before any peer starts
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tc, _ := newSharedS3Cluster(t, 2, "z1", "z2")
	a, b := tc.peers[0], tc.peers[1]
	ms, err := a.peer.st.Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == b.peer.ID() {
			if _, err := a.peer.holdOf(ctx, m, "a collection that died"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !b.gcHeld() {
		t.Fatal("b is not held")
	}
	data := randomData(51, 256<<10)
	var c cid.Cid
	added := make(chan error, 1)
	go func() { // the node's pin lock does not watch ctx
		var err error
		c, err = b.clusterAdd(ctx, data, pin.Pin{ReplicationMin: 1, ReplicationMax: 1, UserAllocations: []string{b.peer.ID()}})
		added <- err
	}()
	select {
	case err := <-added:
		if err != nil {
			t.Fatalf("add through b once its hold lapsed: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the add through b still waits a minute later: the hold did not lapse")
	}
	if b.gcHeld() {
		t.Error("b is still held after the add")
	}
	tc.waitPinned(b, c, 1, 30*time.Second)
	if r := gcOnce(t, a); r.Err != "" {
		t.Errorf("a collection after the hold lapsed: %s", r.Err)
	}
	tc.waitReads(c, data)
}
