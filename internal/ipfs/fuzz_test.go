package ipfs_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN",
		"/ipfs/bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am/a/b",
		"/ipld/bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
		"/ipns/example.com", "", "/", "/ipfs/", "//ipfs//x", "bafy\x00", "/ipfs/Qm/../..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ipfs.ParsePath(s)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid path") {
				t.Fatalf("ParsePath(%q) error %q does not say what is wrong", s, err)
			}
			return
		}
		if !p.RootCid().Defined() {
			t.Fatalf("ParsePath(%q) = %v with no root CID", s, p)
		}
		again, err := ipfs.ParsePath(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("ParsePath(%q) = %q does not round-trip: %v, %v", s, p, again, err)
		}
	})
}

// FuzzDagImport feeds arbitrary bytes to the CAR importer: it must never
// panic, and a failed import must leave the pins as they were.
func FuzzDagImport(f *testing.F) {
	// One in-memory node for every input: opening disk stores per input
	// would leave the fuzzer a few executions per second.
	mem := newMemNode(f)
	// A small seed: the fuzzer mutates big inputs slowly.
	root := addString(f, mem, "seed", false)
	var car bytes.Buffer
	if err := mem.DagExport(context.Background(), root, &car); err != nil {
		f.Fatal(err)
	}
	f.Add(car.Bytes())
	f.Add(car.Bytes()[:car.Len()/2])
	f.Add([]byte{})
	f.Add([]byte("\x0a\xa1\x67version\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := pinList(t, mem, "recursive")
		res, err := mem.DagImport(context.Background(), bytes.NewReader(data), true)
		after := pinList(t, mem, "recursive")
		if err != nil {
			if len(after) != len(before) {
				t.Fatalf("failed import (%v) changed the pins: %v -> %v", err, before, after)
			}
			return
		}
		for _, r := range res.Roots {
			if !slices.Contains(after, r.String()+" recursive") {
				t.Fatalf("imported root %s is not pinned: %v", r, after)
			}
		}
	})
}

// newMemNode is an offline node on in-memory datastores.
func newMemNode(t testing.TB) *ipfs.Node {
	t.Helper()
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{
		Blocks: dssync.MutexWrap(ds.NewMapDatastore()),
		Meta:   dssync.MutexWrap(ds.NewMapDatastore()),
		Logger: slog.Default(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); n.Pins.Close() })
	return n
}
