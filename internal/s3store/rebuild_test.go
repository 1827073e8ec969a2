package s3store

import (
	"context"
	"testing"
)

// A block that two packs hold (two writers on one bucket, each unaware
// of the other's pack) is indexed once, whichever way the packs enter
// the index: a rebuild of an empty index, a start whose index is large
// beside the pack it finds (looked up in batches), and one whose index
// is small beside the packs it finds (read whole, then ingested). Each
// index is consistent and serves every block.
func TestRebuildIndexesADuplicatedBlockOnce(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	cfg.Shared = true
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := openStore(t, dirA, cfg), openStore(t, dirB, cfg)
	blocksA := makeBlocks(60, 50, 1000)
	blocksB := append(makeBlocks(61, 5, 1000), blocksA[10:15]...) // 5 new, 5 of a's
	putBatch(t, a, blocksA)
	putBatch(t, b, blocksB)
	all := append(blocksA[:len(blocksA):len(blocksA)], blocksB[:5]...)
	a.Close()
	b.Close()

	for _, tc := range []struct {
		name, dir string
		complete  bool // the load reads the index whole
	}{
		{"rebuild", t.TempDir(), true},
		{"large index, small pack found", dirA, false}, // 50 blocks held, 10 to load
		{"small index, large pack found", dirB, true},  // 10 blocks held, 50 to load
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Reopened as a prefix of its own: a shared store deletes
			// nothing (ErrSharedDelete), and the deletion below checks
			// the counts.
			own := cfg
			own.Shared = false
			s := openStore(t, tc.dir, own)
			if st := s.Stats(); st.LiveBlocks != int64(len(all)) || st.Packs != 2 {
				t.Errorf("Stats = %d blocks in %d packs, want %d in 2", st.LiveBlocks, st.Packs, len(all))
			}
			checkIndex(t, s.idx)
			checkBlocks(t, s, all)

			// The index works on: a deleted duplicate is gone, and the
			// counts follow.
			if err := s.Delete(context.Background(), blocksA[12].key); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.Has(context.Background(), blocksA[12].key); ok {
				t.Errorf("Has(deleted block) = true")
			}
			if got := s.Stats().LiveBlocks; got != int64(len(all)-1) {
				t.Errorf("%d blocks after a delete, want %d", got, len(all)-1)
			}
			checkIndex(t, s.idx)
		})
	}

	// Which way a load goes depends on the sizes, as the cases say.
	x, err := openIndex(t.TempDir() + "/index")
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	l, err := x.startLoad(10)
	if err != nil {
		t.Fatal(err)
	}
	l.close()
	if !l.complete {
		t.Errorf("a load into an empty index does not read it whole")
	}
}

// checkIndex checks that the index's records agree: each block entry
// points at a live entry of its pack with its multihash and size, each
// live entry has its block entry, and each pack's counts add up.
func checkIndex(t *testing.T, x *index) {
	t.Helper()
	blocks := map[string]location{}
	if err := x.eachFrom("", func(hash string, loc location) bool {
		blocks[hash] = loc
		return true
	}); err != nil {
		t.Fatal(err)
	}
	type count struct{ blocks, bytes int64 }
	counts := map[packID]count{}
	it, err := x.db.NewIter(prefixRange(keyLive))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	lives := 0
	for it.First(); it.Valid(); it.Next() {
		lives++
		var id packID
		copy(id[:], it.Key()[1:])
		e, err := decodeLive(it.Key(), it.Value())
		if err != nil {
			t.Fatal(err)
		}
		loc, ok := blocks[e.hash]
		if !ok || loc != (location{pack: id, offset: e.offset, size: e.size}) {
			t.Errorf("live entry %s+%d (%d bytes) has block entry %+v, %v", id, e.offset, e.size, loc, ok)
		}
		c := counts[id]
		counts[id] = count{c.blocks + 1, c.bytes + e.size}
	}
	if lives != len(blocks) {
		t.Errorf("%d live entries for %d block entries", lives, len(blocks))
	}
	for id, info := range x.packList() {
		if c := counts[id]; c.blocks != info.liveBlocks || c.bytes != info.liveBytes {
			t.Errorf("pack %s: record says %d blocks, %d bytes; its live entries %d, %d", id, info.liveBlocks, info.liveBytes, c.blocks, c.bytes)
		}
	}
	for id := range counts {
		if _, ok := x.pack(id); !ok {
			t.Errorf("live entries of pack %s, which the index does not know", id)
		}
	}
	for hash, loc := range blocks {
		got, ok, err := x.lookup(hash)
		if err != nil || !ok || got != loc {
			t.Errorf("lookup(%x) = %+v, %v, %v; the block entry says %+v", hash, got, ok, err, loc)
		}
	}
	if _, ok, err := x.lookup("\x12\x20 not a block"); ok || err != nil {
		t.Errorf("lookup(a block never stored) = %v, %v", ok, err)
	}
}
