package s3store

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	ipld "github.com/ipfs/go-ipld-format"
)

func dagOver(s *Store) (blockstore.Blockstore, ipld.DAGService) {
	bs := blockstore.NewBlockstore(s, blockstore.NoPrefix())
	return bs, merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
}

// The node's use of the store: boxo's blockstore over it, a UnixFS file
// imported in batches, and read back on a fresh peer that rebuilt its
// index from the bucket, with a GET per read range rather than per block.
func TestBlockstoreStoresAUnixFSFile(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	ctx := context.Background()
	data := make([]byte, 6<<20)
	r := rand.New(rand.NewPCG(50, 50))
	for i := range data {
		data[i] = byte(r.Uint32())
	}

	_, dag := dagOver(openStore(t, t.TempDir(), cfg))
	buffered := ipld.NewBufferedDAG(ctx, dag)
	root, err := importer.BuildDagFromReader(buffered, chunker.NewSizeSplitter(bytes.NewReader(data), 256<<10))
	if err != nil {
		t.Fatal(err)
	}
	if err := buffered.Commit(); err != nil {
		t.Fatal(err)
	}

	fresh := openStore(t, t.TempDir(), cfg)
	bs, dag := dagOver(fresh)
	keys, err := bs.AllKeysChan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range keys {
		n++
	}
	if n != 25 { // 24 leaves of 256 KiB and their root
		t.Errorf("the rebuilt blockstore lists %d blocks, want 25", n)
	}
	if ok, err := bs.Has(ctx, root.Cid()); err != nil || !ok {
		t.Fatalf("Has(root %s) = %v, %v", root.Cid(), ok, err)
	}

	srv.Reset()
	nd, err := dag.Get(ctx, root.Cid())
	if err != nil {
		t.Fatal(err)
	}
	rd, err := uio.NewDagReader(ctx, nd, dag)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d imported", len(got), len(data))
	}
	// A GET per read range of each pack, at most: the packs' ranges
	// that the file's blocks cover.
	ranges := 0
	for _, info := range fresh.idx.packList() {
		ranges += int((info.dataLen + cfg.ReadSize - 1) / cfg.ReadSize)
	}
	gets := srv.Count("GetObject")
	t.Logf("reading a 6 MiB file of 25 blocks in %d packs: %d GETs", len(fresh.idx.packList()), gets)
	if gets > ranges || ranges > 10 {
		t.Errorf("reading a 6 MiB file of 25 blocks made %d GETs, want at most one per read range (%d)", gets, ranges)
	}
}
