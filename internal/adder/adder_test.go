package adder

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/boxo/files"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
)

func newNode(t *testing.T) *ipfs.Node {
	t.Helper()
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{
		Blocks: dssync.MutexWrap(ds.NewMapDatastore()), Meta: dssync.MutexWrap(ds.NewMapDatastore()),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); n.Pins.Close() })
	return n
}

// fakeCluster is three peers, A (this one), B and C, each a node in
// memory; block streams reach the others in process, and pins are only
// recorded.
type fakeCluster struct {
	nodes  map[string]*ipfs.Node
	allocs []string // Allocate's answer

	mu   sync.Mutex
	pins []pin.Pin
}

func newFakeCluster(t *testing.T, allocs ...string) *fakeCluster {
	return &fakeCluster{nodes: map[string]*ipfs.Node{"A": newNode(t), "B": newNode(t), "C": newNode(t)}, allocs: allocs}
}

func (c *fakeCluster) ID() string { return "A" }

func (c *fakeCluster) Allocate(context.Context, pin.Pin) ([]string, error) {
	return slices.Clone(c.allocs), nil
}

func (c *fakeCluster) StreamBlocks(ctx context.Context, peers []string) (*blockstream.Stream, error) {
	var to []blockstream.Dest
	for _, id := range peers {
		addr := id
		if id == c.ID() {
			addr = ""
		}
		to = append(to, blockstream.Dest{ID: id, Addr: addr})
	}
	send := func(ctx context.Context, addr string, body io.Reader) (blockstream.Ack, error) {
		return blockstream.Receive(ctx, c.nodes[addr], body)
	}
	return blockstream.Open(ctx, blockstream.Deps{Store: c.nodes[c.ID()], Send: send}, to)
}

func (c *fakeCluster) Pin(_ context.Context, p pin.Pin) (pin.Pin, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pins = append(c.pins, p)
	return p, nil
}

// holds reports whether the node of peer holds the whole DAG of root.
func (c *fakeCluster) holds(t *testing.T, peer string, root cid.Cid) bool {
	t.Helper()
	return c.nodes[peer].WalkLocal(context.Background(), root, func(blocks.Block) error { return nil }) == nil
}

func upload(entries ...files.DirEntry) files.Directory { return files.NewSliceDirectory(entries) }

func randomFile(size int) files.Node {
	data := make([]byte, size)
	rand.Read(data)
	return files.NewBytesFile(data)
}

// An add imports the upload with Kubo's CIDs, streams every block to the
// allocations (here B and C: this peer keeps none), which hold the DAGs
// whole and keep them for their pins, and pins each root there.
func TestAddFiles(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, "B", "C")
	settings, err := importer.Params{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20+77)
	rand.Read(data)
	inner := make([]byte, 3000)
	rand.Read(inner)
	mk := func() files.Directory {
		return upload(files.FileEntry("f", files.NewBytesFile(data)),
			files.FileEntry("d", upload(files.FileEntry("inner", files.NewBytesFile(inner)))))
	}
	want, err := importer.AddOnlyHash(ctx, mk(), settings, nil)
	if err != nil {
		t.Fatal(err)
	}

	var added []restapi.Added
	err = New(Deps{Cluster: c, Node: c.nodes["A"]}).Add(ctx, mk(), restapi.AddRequest{Pin: pin.Pin{Name: "n", Mode: pin.Recursive}, Import: settings},
		func(a restapi.Added) error { added = append(added, a); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.pins) != len(want) {
		t.Fatalf("%d pins, want %d", len(c.pins), len(want))
	}
	for i, r := range want {
		root := r.Node.Cid()
		p := c.pins[i]
		if !p.Cid.Equals(root) || p.Name != "n" || !slices.Equal(p.Allocations, []string{"B", "C"}) {
			t.Errorf("pin %d = %s %q on %v, want %s %q on [B C]", i, p.Cid, p.Name, p.Allocations, root, "n")
		}
		for _, peer := range []string{"B", "C"} {
			if !c.holds(t, peer, root) || !c.nodes[peer].Received(root) {
				t.Errorf("%s: holds %s whole: %v, marked received: %v; want both", peer, root, c.holds(t, peer, root), c.nodes[peer].Received(root))
			}
		}
		if c.nodes["A"].Received(root) {
			t.Errorf("A, no allocation, marked %s received", root)
		}
	}
	var entries int
	for _, a := range added {
		if a.Cid.Defined() {
			entries++
			if !slices.Equal(a.Allocations, []string{"B", "C"}) {
				t.Errorf("output %q has allocations %v, want [B C]", a.Name, a.Allocations)
			}
		}
	}
	if entries != 3 {
		t.Errorf("%d entries in the output, want 3 (f, d/inner, d): %v", entries, added)
	}
}

// --local keeps the blocks on this peer, which takes the last allocation
// unless the user chose the peers: then the others get this node as an
// origin to fetch from. --no-pin streams and pins nothing.
func TestAddLocalAndNoPin(t *testing.T) {
	ctx := context.Background()
	settings, err := importer.Params{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		req       restapi.AddRequest
		holders   []string // peers that hold the DAG
		allocs    []string // of the pin; nil: no pin
		origins   []string
		marked    bool // the holders keep the DAG for its pin
		wantError string
	}{
		{name: "local", req: restapi.AddRequest{Local: true}, holders: []string{"A"}, allocs: []string{"B", "A"}, marked: true},
		{name: "local with user allocations", req: restapi.AddRequest{Local: true, Pin: pin.Pin{UserAllocations: []string{"B", "C"}}},
			holders: []string{"A"}, allocs: []string{"B", "C"}, origins: []string{"/ip4/192.0.2.1/tcp/4001/p2p/A"}, marked: true},
		{name: "no pin", req: restapi.AddRequest{NoPin: true}, holders: []string{"B", "C"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCluster(t, "B", "C")
			tt.req.Import, tt.req.Pin.Mode = settings, pin.Recursive
			a := New(Deps{Cluster: c, Node: c.nodes["A"], SwarmAddrs: func() []string { return []string{"/ip4/192.0.2.1/tcp/4001/p2p/A"} }})
			var root cid.Cid
			err := a.Add(ctx, upload(files.FileEntry("f", randomFile(300_000))), tt.req, func(a restapi.Added) error {
				if a.Cid.Defined() {
					root = a.Cid
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, peer := range []string{"A", "B", "C"} {
				if got, want := c.holds(t, peer, root), slices.Contains(tt.holders, peer); got != want {
					t.Errorf("%s holds the DAG: %v, want %v", peer, got, want)
				}
				if got, want := c.nodes[peer].Received(root), tt.marked && slices.Contains(tt.holders, peer); got != want {
					t.Errorf("%s marked the DAG received: %v, want %v", peer, got, want)
				}
			}
			switch {
			case tt.allocs == nil && len(c.pins) > 0:
				t.Errorf("pinned %v, want no pin", c.pins)
			case tt.allocs != nil && (len(c.pins) != 1 || !slices.Equal(c.pins[0].Allocations, tt.allocs) || !slices.Equal(c.pins[0].Origins, tt.origins)):
				t.Errorf("pins = %+v, want one on %v with origins %v", c.pins, tt.allocs, tt.origins)
			}
		})
	}
}

// A CAR's blocks go as they are, its one root pinned with its file size;
// an upload that is not one CAR with one root is an ErrBadUpload, and
// nothing is pinned.
func TestAddCAR(t *testing.T) {
	ctx := context.Background()
	src := newNode(t)
	data := make([]byte, 700_000)
	rand.Read(data)
	settings, err := importer.Params{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := src.Add(ctx, upload(files.FileEntry("f", files.NewBytesFile(data))), ipfs.AddOptions{Import: settings}, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := roots[0].Node.Cid()
	var carFile bytes.Buffer
	if err := src.DagExport(ctx, root, &carFile); err != nil {
		t.Fatal(err)
	}
	carOf := func() files.Node { return files.NewBytesFile(carFile.Bytes()) }

	tests := []struct {
		name   string
		upload files.Directory
		err    string // in the ErrBadUpload; empty: added
	}{
		{"one CAR", upload(files.FileEntry("x.car", carOf())), ""},
		{"no file", upload(), "no CAR file"},
		{"a directory", upload(files.FileEntry("d", upload(files.FileEntry("x.car", carOf())))), "expected a CAR file"},
		{"not a CAR", upload(files.FileEntry("x.txt", files.NewBytesFile([]byte("hello, not a CAR")))), "invalid CAR"},
		{"two CARs", upload(files.FileEntry("x.car", carOf()), files.FileEntry("y.car", carOf())), "only one CAR file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCluster(t, "A", "B")
			var added []restapi.Added
			err := New(Deps{Cluster: c, Node: c.nodes["A"]}).Add(ctx, tt.upload, restapi.AddRequest{CAR: true, Pin: pin.Pin{Mode: pin.Recursive}},
				func(a restapi.Added) error { added = append(added, a); return nil })
			if tt.err != "" {
				if !errors.Is(err, restapi.ErrBadUpload) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Add = %v, want an ErrBadUpload with %q", err, tt.err)
				}
				if len(c.pins) > 0 {
					t.Fatalf("a refused CAR pinned %v", c.pins)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(added) != 1 || added[0].Name != "x.car" || !added[0].Cid.Equals(root) || added[0].Size != uint64(len(data)) ||
				!slices.Equal(added[0].Allocations, []string{"A", "B"}) {
				t.Fatalf("outputs = %+v, want one: x.car, %s of size %d on [A B]", added, root, len(data))
			}
			if added[0].Bytes <= uint64(len(data)) {
				t.Errorf("Bytes = %d, want the CAR's block bytes, more than the file's %d", added[0].Bytes, len(data))
			}
			if len(c.pins) != 1 || !c.pins[0].Cid.Equals(root) {
				t.Fatalf("pins = %+v, want %s", c.pins, root)
			}
			for _, peer := range []string{"A", "B"} {
				if !c.holds(t, peer, root) {
					t.Errorf("%s lacks blocks of the CAR", peer)
				}
				if c.nodes[peer].Received(root) {
					t.Errorf("%s keeps a CAR's DAG for its pin; a CAR may be partial", peer)
				}
			}
		})
	}
}
