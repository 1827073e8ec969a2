package s3store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A shared bucket's collection keeps exactly the blocks the cluster
// marked: a mostly unmarked pack is rewritten with its marked blocks,
// every peer that enters the new pack drops the others (and keeps a
// marked block its own index points at the old pack, though the
// collecting peer's index points elsewhere), and the old object goes
// only when DeleteSuperseded finds its grace over. No peer deletes a
// block by itself.
func TestCollectKeepsMarkedBlocksForEveryPeer(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	cfg.Shared = true
	ctx := context.Background()
	var written []string // by a, in order
	a, err := Open(ctx, t.TempDir(), cfg, Deps{OnPack: func(id string) { written = append(written, id) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := openStore(t, t.TempDir(), cfg)

	// a writes dup alone; b, not told yet, writes it again in its sparse
	// pack: a's index points dup at a's pack, b's at its own.
	sparse := makeBlocks(70, 20, 10_000)
	dup := sparse[0]
	putBatch(t, a, []testBlock{dup})
	putBatch(t, b, sparse)
	sparsePack, _ := func() (packID, bool) {
		for id := range b.idx.packList() {
			return id, true
		}
		return packID{}, false
	}()
	if err := a.AddPack(ctx, sparsePack.String()); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPack(ctx, written[0]); err != nil {
		t.Fatal(err)
	}
	if loc, _, _ := a.idx.lookup(string(mustHash(t, dup))); loc.pack == sparsePack {
		t.Fatalf("a's index points the duplicated block at b's pack; the test wants it elsewhere")
	}

	if err := a.Delete(ctx, sparse[5].key); !errors.Is(err, ErrSharedDelete) {
		t.Errorf("Delete in shared mode = %v, want ErrSharedDelete", err)
	}

	// The cluster marks dup and three more of the sparse pack.
	kept, dropped := append([]testBlock{dup}, sparse[1:4]...), sparse[4:]
	marked := map[string]bool{}
	for _, blk := range kept {
		marked[string(mustHash(t, blk))] = true
	}
	var removed []string
	written = nil
	n, err := a.Collect(ctx, func(h string) bool { return marked[h] }, func(h string) { removed = append(removed, h) }, 0.5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(written) != 1 {
		t.Fatalf("Collect rewrote %d packs into %d, want the sparse pack into 1", n, len(written))
	}
	if len(removed) != len(dropped) {
		t.Errorf("Collect reported %d blocks removed, want %d", len(removed), len(dropped))
	}
	if err := b.AddPack(ctx, written[0]); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Store{"a": a, "b": b} {
		checkBlocks(t, s, kept)
		for _, blk := range dropped {
			if ok, _ := s.Has(ctx, blk.key); ok {
				t.Errorf("%s: Has(an unmarked block) = true after the collection", name)
			}
		}
		checkIndex(t, s.idx)
	}

	// The old object waits for its grace period, then goes; the kept
	// blocks read from the new pack.
	exists := func(id packID) bool {
		_, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(a.packKey(id))})
		return err == nil
	}
	if got, err := a.DeleteSuperseded(ctx); err != nil || got != 0 || !exists(sparsePack) {
		t.Errorf("DeleteSuperseded within the grace period = %d, %v (pack exists: %v), want 0 and the pack kept", got, err, exists(sparsePack))
	}
	a.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if got, err := a.DeleteSuperseded(ctx); err != nil || got != 1 || exists(sparsePack) {
		t.Errorf("DeleteSuperseded after the grace period = %d, %v (pack exists: %v), want 1 and the pack gone", got, err, exists(sparsePack))
	}
	checkBlocks(t, b, kept)

	// A peer rebuilt from the bucket leaves the collection's pack to the
	// cluster's records (a collection that failed before recording one
	// must not drop blocks pinned since), then serves it once told.
	fresh := openStore(t, t.TempDir(), cfg)
	if ok, _ := fresh.Has(ctx, kept[1].key); ok {
		t.Errorf("a rebuilt store indexed a collection's pack from the listing")
	}
	if err := fresh.AddPack(ctx, written[0]); err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, fresh, kept)
}
