package importer_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/ipfs/boxo/files"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
)

// TestAddKeepingNoBlocks imports into a store that keeps nothing, as
// --only-hash does: a lone file's root must come from the import, not from
// reading the store back.
func TestAddKeepingNoBlocks(t *testing.T) {
	data := bytes.Repeat([]byte("only hash "), 300_000) // several chunks
	one := 1
	for _, p := range []importer.Params{{}, {CidVersion: &one}} {
		s, err := p.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		add := func(d ds.Batching) string {
			t.Helper()
			args := files.NewSliceDirectory([]files.DirEntry{
				files.FileEntry("f", files.NewBytesFile(data)),
			})
			roots, err := importer.Add(context.Background(), dagOver(d), args, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			return roots[0].Node.Cid().String()
		}
		kept := add(dssync.MutexWrap(ds.NewMapDatastore()))
		if got := add(dssync.MutexWrap(ds.NewNullDatastore())); got != kept {
			t.Errorf("root without blocks %s, with blocks %s", got, kept)
		}
	}
}

// TestAddOnlyHashDirectories: --only-hash of a directory tree gives the
// roots of a real import (the tree is assembled in memory, file blocks are
// dropped), and keeps nothing of the files' data.
func TestAddOnlyHashDirectories(t *testing.T) {
	tree := func() files.Directory {
		return files.NewSliceDirectory([]files.DirEntry{
			files.FileEntry("d", files.NewSliceDirectory([]files.DirEntry{
				files.FileEntry("a", files.NewBytesFile([]byte("a\n"))),
				files.FileEntry("big", files.NewBytesFile(bytes.Repeat([]byte("x"), 3<<20))),
				files.FileEntry("sub", files.NewSliceDirectory([]files.DirEntry{
					files.FileEntry("b", files.NewBytesFile([]byte("b\n"))),
				})),
			})),
		})
	}
	s, err := importer.Params{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	kept, err := importer.Add(context.Background(), dagOver(dssync.MutexWrap(ds.NewMapDatastore())), tree(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var events []importer.Event
	hashed, err := importer.AddOnlyHash(context.Background(), tree(), s, func(e importer.Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hashed[0].Node.Cid(), kept[0].Node.Cid(); got != want {
		t.Fatalf("only-hash root %s, imported root %s", got, want)
	}
	if len(events) == 0 || events[len(events)-1].Name != "d" {
		t.Fatalf("events = %+v, want the directory last", events)
	}
}
