package importer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	dag "github.com/ipfs/boxo/ipld/merkledag"
	mdtest "github.com/ipfs/boxo/ipld/merkledag/test"
	ipld "github.com/ipfs/go-ipld-format"
)

// countingDAG records how many nodes reached it and can fail.
type countingDAG struct {
	ipld.DAGService
	mu    sync.Mutex
	added int
	fail  error
}

func (c *countingDAG) AddMany(ctx context.Context, nds []ipld.Node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.added += len(nds)
	return c.DAGService.AddMany(ctx, nds)
}

func rawNodes(n int) []ipld.Node {
	nds := make([]ipld.Node, n)
	for i := range nds {
		nds[i] = dag.NewRawNode([]byte(fmt.Sprintf("block %d", i)))
	}
	return nds
}

func TestBlockWriterWritesEverything(t *testing.T) {
	ctx := context.Background()
	store := &countingDAG{DAGService: mdtest.Mock()}
	w := newBlockWriter(ctx, store)
	nds := rawNodes(writeBatchNodes*writeInFlight*2 + 3) // several rounds of commits
	for _, nd := range nds {
		if err := w.Add(ctx, nd); err != nil {
			t.Fatal(err)
		}
	}
	// A read sees every write before it, as with ipld.BufferedDAG.
	last := nds[len(nds)-1]
	if _, err := w.Get(ctx, last.Cid()); err != nil {
		t.Fatalf("Get(last) = %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if store.added != len(nds) {
		t.Errorf("store got %d nodes, want %d", store.added, len(nds))
	}
}

func TestBlockWriterReportsFailure(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("disk full")
	store := &countingDAG{DAGService: mdtest.Mock(), fail: boom}
	w := newBlockWriter(ctx, store)
	var err error
	for _, nd := range rawNodes(writeBatchNodes * (writeInFlight + 2)) {
		if err = w.Add(ctx, nd); err != nil {
			break
		}
	}
	// The failure surfaces in a later Add (once the commit returned) or,
	// at the latest, in Flush.
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want %v", err, boom)
	}
}
