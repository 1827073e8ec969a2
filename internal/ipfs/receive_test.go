package ipfs_test

import (
	"context"
	"errors"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"strings"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
)

func TestVerifyBlock(t *testing.T) {
	good := blocks.NewBlock([]byte("good"))
	forged, _ := blocks.NewBlockWithCid([]byte("forged"), good.Cid())
	big := blocks.NewBlock(make([]byte, block.MaxSize+1))
	for _, tt := range []struct {
		b    blocks.Block
		want string // in the error; empty: valid
	}{
		{good, ""},
		{forged, "hashes to"},
		{big, "over 2MiB"},
	} {
		err := block.Verify(tt.b)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("block.Verify(%s) = %v, want nil", tt.b.Cid(), err)
		case tt.want != "" && (!errors.Is(err, block.ErrBad) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("block.Verify(%s) = %v, want an block.ErrBad with %q", tt.b.Cid(), err, tt.want)
		}
	}
}

// A DAG marked received survives garbage collection until PinReceived
// pins it (once), or until its mark expires.
func TestMarkReceived(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	root := addString(t, n, "received whole from another peer", false)
	other := addString(t, n, "received too, never pinned", false)
	gc := func() {
		t.Helper()
		if err := n.GC(ctx, func(cid.Cid) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	has := func(c cid.Cid) bool {
		ok, err := n.Blocks.Has(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	n.MarkReceived([]cid.Cid{root}, time.Minute)
	n.MarkReceived([]cid.Cid{other}, 50*time.Millisecond)
	gc()
	if !has(root) || !has(other) {
		t.Fatalf("marked DAGs collected: %s %v, %s %v", root, has(root), other, has(other))
	}
	if ok, err := n.PinReceived(ctx, root, "r"); !ok || err != nil {
		t.Fatalf("PinReceived(%s) = %v, %v, want true, nil", root, ok, err)
	}
	if pinned, _ := n.IsPinnedRecursively(ctx, root); !pinned {
		t.Fatalf("%s not pinned after PinReceived", root)
	}
	if ok, _ := n.PinReceived(ctx, root, "r"); ok {
		t.Fatalf("PinReceived(%s) twice took a mark twice", root)
	}
	// The other mark expires, and then the collection takes the DAG.
	deadline := time.Now().Add(10 * time.Second)
	for has(other) && time.Now().Before(deadline) {
		gc()
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if has(other) {
		t.Fatalf("%s survived its expired mark", other)
	}
	if ok, _ := n.PinReceived(ctx, other, ""); ok {
		t.Fatalf("PinReceived(%s) after its mark expired = true", other)
	}
	if !has(root) {
		t.Fatalf("the pinned DAG %s was collected", root)
	}
}
