package ipfs_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	cid "github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

// newNode opens an offline node on fresh stores in a temp dir.
func newNode(t testing.TB) *ipfs.Node {
	t.Helper()
	dir := t.TempDir()
	blocks, err := storage.OpenBlocks(context.Background(), dir+"/blocks", storage.DefaultConfig(), storage.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := storage.OpenMeta(dir + "/meta")
	if err != nil {
		t.Fatal(err)
	}
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{Blocks: blocks, Meta: meta, Logger: slog.Default()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Close()
		n.Pins.Close()
		meta.Close()
		blocks.Close()
	})
	return n
}

// addString adds content as one file and returns its root.
func addString(t testing.TB, n *ipfs.Node, content string, pin bool) cid.Cid {
	t.Helper()
	s, err := importer.Params{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	args := files.NewSliceDirectory([]files.DirEntry{files.FileEntry("f", files.NewBytesFile([]byte(content)))})
	roots, err := n.Add(context.Background(), args, ipfs.AddOptions{Import: s, Pin: pin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return roots[0].Node.Cid()
}

func pinList(t testing.TB, n *ipfs.Node, typ string) []string {
	t.Helper()
	var out []string
	err := n.PinLs(context.Background(), typ, nil, func(p ipfs.Pin) error {
		out = append(out, p.Cid.String()+" "+p.Type)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPinsAndGC(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	kept := addString(t, n, strings.Repeat("kept ", 100000), true) // several blocks
	dropped := addString(t, n, "dropped", false)

	if got := pinList(t, n, "recursive"); len(got) != 1 || got[0] != kept.String()+" recursive" {
		t.Fatalf("recursive pins = %v, want only %s", got, kept)
	}
	if got := pinList(t, n, "indirect"); len(got) == 0 {
		t.Fatalf("indirect pins of a multi-block file = none, want its leaves")
	}
	var removed []cid.Cid
	if err := n.GC(ctx, func(c cid.Cid) error { removed = append(removed, c); return nil }); err != nil {
		t.Fatal(err)
	}
	// Besides the unpinned file, GC may collect the importer's transient
	// MFS directory nodes; what matters is that it took the unpinned root
	// and left every block of the pinned DAG.
	if !containsHash(removed, dropped) {
		t.Fatalf("GC removed %v, want it to include the unpinned %s", removed, dropped)
	}
	if err := merkledag.FetchGraph(ctx, kept, n.LocalDAG); err != nil {
		t.Fatalf("pinned DAG %s incomplete after GC: %v", kept, err)
	}
	if err := n.PinRm(ctx, []cid.Cid{kept}, true); err != nil {
		t.Fatal(err)
	}
	if err := n.PinRm(ctx, []cid.Cid{kept}, true); err == nil {
		t.Fatalf("second PinRm(%s) = nil, want not pinned", kept)
	}
	removed = nil
	if err := n.GC(ctx, func(c cid.Cid) error { removed = append(removed, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if !containsHash(removed, kept) {
		t.Fatalf("GC after unpin removed %v, want it to include %s", removed, kept)
	}
}

func containsHash(cids []cid.Cid, want cid.Cid) bool {
	for _, c := range cids {
		if c.Hash().String() == want.Hash().String() {
			return true
		}
	}
	return false
}

// GC running while adds are in flight never collects what they pin.
func TestGCDuringAdds(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	s, err := importer.Params{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	const adds = 8
	type result struct {
		root cid.Cid
		err  error
	}
	results := make(chan result, adds)
	for i := range adds {
		go func() {
			data := []byte(strings.Repeat(string(rune('A'+i)), 1<<20+i))
			args := files.NewSliceDirectory([]files.DirEntry{files.FileEntry("f", files.NewBytesFile(data))})
			r, err := n.Add(ctx, args, ipfs.AddOptions{Import: s, Pin: true}, nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			results <- result{root: r[0].Node.Cid()}
		}()
	}
	gcDone := make(chan error, 1)
	go func() {
		for range 20 {
			if err := n.GC(ctx, func(cid.Cid) error { return nil }); err != nil {
				gcDone <- err
				return
			}
		}
		gcDone <- nil
	}()
	for range adds {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if err := merkledag.FetchGraph(ctx, r.root, n.LocalDAG); err != nil {
			t.Fatalf("pinned add %s lost blocks to a concurrent GC: %v", r.root, err)
		}
	}
	if err := <-gcDone; err != nil {
		t.Fatal(err)
	}
	if err := n.GC(ctx, func(cid.Cid) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := len(pinList(t, n, "recursive")); got != adds {
		t.Fatalf("%d recursive pins, want %d", got, adds)
	}
}

// A CARv2 (a CARv1 payload with an index) imports like its CARv1.
func TestDagImportCARv2(t *testing.T) {
	ctx := context.Background()
	src := newNode(t)
	root := addString(t, src, strings.Repeat("v2 ", 200000), true)
	var v1 bytes.Buffer
	if err := src.DagExport(ctx, root, &v1); err != nil {
		t.Fatal(err)
	}
	v1Path := filepath.Join(t.TempDir(), "v1.car")
	v2Path := filepath.Join(t.TempDir(), "v2.car")
	if err := os.WriteFile(v1Path, v1.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := car.WrapV1File(v1Path, v2Path); err != nil {
		t.Fatal(err)
	}
	v2, err := os.Open(v2Path)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	dst := newNode(t)
	res, err := dst.DagImport(ctx, v2, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Roots) != 1 || !res.Roots[0].Equals(root) {
		t.Fatalf("CARv2 roots = %v, want [%s]", res.Roots, root)
	}
	if err := merkledag.FetchGraph(ctx, root, dst.LocalDAG); err != nil {
		t.Fatalf("imported DAG incomplete: %v", err)
	}
}
