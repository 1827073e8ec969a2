package importer

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/boxo/ipld/unixfs/importer/trickle"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
)

// layout runs boxo's layout over data as addFile configures it, with or
// without hashing ahead, and returns the root and how many leaves the memo
// answered.
func layout(t *testing.T, s Settings, data []byte, ahead bool) (ipld.Node, int) {
	t.Helper()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dagSvc := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	spl, err := chunker.FromString(bytes.NewReader(data), s.Chunker)
	if err != nil {
		t.Fatal(err)
	}
	a := &adder{ctx: context.Background(), s: s}
	builder := s.CidBuilder
	var memo *leafMemo
	if ahead {
		h, b := a.hashAhead(spl, func(int64) {})
		defer h.stop()
		spl, builder, memo = h, b, h.memo
	}
	params := helpers.DagBuilderParams{Dagserv: dagSvc, RawLeaves: s.RawLeaves, Maxlinks: s.MaxFileLinks, CidBuilder: builder}
	db, err := params.New(spl)
	if err != nil {
		t.Fatal(err)
	}
	var nd ipld.Node
	if s.Trickle {
		nd, err = trickle.Layout(db)
	} else {
		nd, err = balanced.Layout(db)
	}
	if err != nil {
		t.Fatal(err)
	}
	if memo == nil {
		return nd, 0
	}
	memo.mu.Lock()
	defer memo.mu.Unlock()
	return nd, memo.hits
}

// TestHashAheadSameDAG checks that hashing ahead changes nothing but the
// speed: the same root as boxo alone for every leaf kind, and every leaf
// answered from the memo (a miss would hash it twice).
func TestHashAheadSameDAG(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{3}))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	yes, one, three := true, 1, 3
	const chunk = 256 << 10
	cases := []struct {
		name   string
		params Params
		data   []byte
		leaves int // leaves the layout hashes; -1: not checked
	}{
		{"empty", Params{}, nil, 0},
		{"one byte", Params{}, []byte{1}, 1},
		{"cidv0 dag-pb leaves", Params{}, random(3*chunk + 5), 4},
		{"cidv1 raw leaves", Params{CidVersion: &one}, random(3*chunk + 5), 4},
		{"exact chunks", Params{CidVersion: &one}, random(2 * chunk), 2},
		{"identical chunks", Params{}, make([]byte, 4*chunk), 4},
		{"trickle dag-pb leaves", Params{Trickle: &yes, Chunker: "size-4096"}, random(50*4096 + 1), 51},
		{"trickle raw leaves", Params{Trickle: &yes, RawLeaves: &yes, Chunker: "size-4096"}, random(50 * 4096), 50},
		{"deep tree", Params{MaxFileLinks: &three, Chunker: "size-1024"}, random(40*1024 + 3), 41},
		{"rabin", Params{Chunker: "rabin-2048-8192-32768", CidVersion: &one}, random(200 << 10), -1},
		{"inline", Params{Inline: true, CidVersion: &one, Chunker: "size-16"}, random(100), 7},
		{"profile v1", Params{Profile: ProfileV1}, random(3<<20 + 1), 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.params.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := layout(t, s, tc.data, false)
			got, hits := layout(t, s, tc.data, true)
			if got.Cid() != want.Cid() {
				t.Fatalf("root %s, want %s", got.Cid(), want.Cid())
			}
			if tc.leaves >= 0 && hits != tc.leaves {
				t.Errorf("memo answered %d leaves, want %d", hits, tc.leaves)
			}
		})
	}
}
