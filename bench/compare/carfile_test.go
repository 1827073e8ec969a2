package main

import (
	"os"
	"path/filepath"
	"testing"

	car "github.com/ipld/go-car/v2"
)

func TestWriteBlocksCARReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.car")
	cids, err := writeBlocksCAR(path, "test", 50)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := car.NewBlockReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 || len(r.Roots) != 1 || r.Roots[0].String() != cids[0] {
		t.Fatalf("header: version %d, roots %v; want 1, [%s]", r.Version, r.Roots, cids[0])
	}
	seen := map[string]bool{}
	for i := 0; ; i++ {
		b, err := r.Next()
		if err != nil {
			if i != len(cids) {
				t.Fatalf("read %d blocks (%v), want %d", i, err, len(cids))
			}
			break
		}
		if b.Cid().String() != cids[i] || len(b.RawData()) != blockSize {
			t.Errorf("block %d = %s (%d bytes), want %s (%d bytes)", i, b.Cid(), len(b.RawData()), cids[i], blockSize)
		}
		// The reader checks each block's hash against its CID.
		seen[cids[i]] = true
	}
	if len(seen) != len(cids) {
		t.Errorf("%d distinct CIDs of %d blocks", len(seen), len(cids))
	}
	again, _ := writeBlocksCAR(filepath.Join(t.TempDir(), "c.car"), "test", 50)
	if again[49] != cids[49] {
		t.Errorf("the same seed gave another block 49: %s, want %s", again[49], cids[49])
	}
}
