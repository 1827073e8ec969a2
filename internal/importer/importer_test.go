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
