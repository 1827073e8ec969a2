package s3store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// onlyPack returns the key of the store's one pack.
func onlyPack(t *testing.T, s *Store) (packID, string) {
	t.Helper()
	packs := s.idx.packList()
	if len(packs) != 1 {
		t.Fatalf("%d packs, want 1", len(packs))
	}
	for id := range packs {
		return id, s.packKey(id)
	}
	panic("unreachable")
}

// overwrite changes bytes of an object behind the server's back, in its
// posix directory.
func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if off < 0 {
		st, _ := f.Stat()
		off += st.Size()
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// A block whose bytes in S3 do not hash to its key is an error, never the
// wrong bytes; its neighbours in the same range still read.
func TestCorruptPackIsAnError(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	blocks := makeBlocks(20, 8, 1000)
	s := openStore(t, t.TempDir(), cfg)
	putBatch(t, s, blocks)
	id, key := onlyPack(t, s)
	loc, _, _ := s.idx.lookup(mustHash(t, blocks[3]))
	overwrite(t, srv.ObjectPath(srv.Bucket, key), loc.offset+10, []byte("garbage"))

	fresh := openStore(t, t.TempDir(), cfg)
	got, err := fresh.Get(context.Background(), blocks[3].key)
	if !errors.Is(err, ErrCorrupt) || got != nil {
		t.Fatalf("Get(corrupted block) = %d bytes, %v; want no bytes and ErrCorrupt", len(got), err)
	}
	if !strings.Contains(err.Error(), id.String()) {
		t.Errorf("the error %q does not name the pack %s", err, id)
	}
	checkBlocks(t, fresh, append(blocks[:3:3], blocks[4:]...))
}

// A cached range that went bad on the local disk while the store was down
// (the cache is not synced: a crash may tear a file) is dropped and read
// again from S3. A store checks each cached block once: what it wrote or
// read back whole itself it trusts after that, as flatfs is trusted.
func TestCorruptCacheIsReadAgain(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	blocks := makeBlocks(21, 8, 1000)
	dir := t.TempDir()
	s := openStore(t, dir, cfg)
	putBatch(t, s, blocks)
	checkBlocks(t, s, blocks) // now cached, and checked
	id, _ := onlyPack(t, s)
	srv.Reset()
	checkBlocks(t, s, blocks)
	if n := srv.Count("GetObject"); n != 0 {
		t.Errorf("reading cached blocks again made %d GETs, want 0", n)
	}
	s.Close()
	overwrite(t, filepath.Join(dir, "cache", cacheName(id, 0)), 100, []byte("garbage"))
	s = openStore(t, dir, cfg)
	srv.Reset()
	checkBlocks(t, s, blocks)
	if n := srv.Count("GetObject"); n != 1 {
		t.Errorf("reading past a corrupted cache made %d GETs, want 1", n)
	}
}

// A pack whose footer or index is malformed stops a rebuild with an error
// that names it.
func TestMalformedPackStopsTheRebuild(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int64
		b    []byte
		want string
	}{
		{"magic", -3, []byte("XYZ"), "no FLOTPAK1 magic"},
		{"index length", -16, []byte{0xff, 0xff}, "do not add up"},
		{"index checksum", -footerSize - 5, []byte{0xee}, "checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startS3(t)
			cfg := testConfig(srv)
			s := openStore(t, t.TempDir(), cfg)
			putBatch(t, s, makeBlocks(22, 5, 100))
			id, key := onlyPack(t, s)
			overwrite(t, srv.ObjectPath(srv.Bucket, key), tc.off, tc.b)
			_, err := Open(context.Background(), t.TempDir(), cfg, Deps{})
			if err == nil || !strings.Contains(err.Error(), id.String()) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open over a pack with a bad %s: error = %v, want it to name the pack and say %q", tc.name, err, tc.want)
			}
		})
	}
}

// Unfinished multipart uploads under the prefix are aborted at open: in a
// prefix of its own, all of them; in shared mode, only the store's own.
func TestUnfinishedUploadsAreAbortedAtOpen(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "own prefix", true: "shared"}[shared], func(t *testing.T) {
			srv := startS3(t)
			cfg := testConfig(srv)
			cfg.Shared = shared
			dir := t.TempDir()
			s := openStore(t, dir, cfg)
			mine := s.packKey(newPackID(s.idx.writer))
			theirs := s.packKey(newPackID(writerID{1, 2, 3}))
			s.Close()
			client := srv.Client()
			ctx := context.Background()
			for _, key := range []string{mine, theirs} {
				if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)}); err != nil {
					t.Fatal(err)
				}
			}
			openStore(t, dir, cfg)
			out, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, u := range out.Uploads {
				left = append(left, aws.ToString(u.Key))
			}
			want := []string{}
			if shared {
				want = []string{theirs}
			}
			if strings.Join(left, ",") != strings.Join(want, ",") {
				t.Errorf("uploads left after open = %q, want %q", left, want)
			}
		})
	}
}

// A pack uploaded by a store that crashed before indexing it is found
// and indexed at the next open.
func TestUnindexedPackIsAdoptedAtOpen(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	dir := t.TempDir()
	s := openStore(t, dir, cfg)
	indexed := makeBlocks(23, 3, 100)
	putBatch(t, s, indexed)
	lost := makeBlocks(24, 3, 100)
	p := newPackBuilder()
	for _, b := range lost {
		p.add(mustHash(t, b), b.data)
	}
	id := newPackID(s.idx.writer)
	obj, _ := p.finish(id, nil)
	if err := s.upload(context.Background(), id, packID{}, obj); err != nil {
		t.Fatal(err)
	}
	s.Close() // the "crash": the index never heard of the pack

	s = openStore(t, dir, cfg)
	checkBlocks(t, s, append(indexed, lost...))
}

// An index pointed at a bucket that holds none of its packs is an error,
// not a wiped index.
func TestIndexOfAnotherBucketIsAnError(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	dir := t.TempDir()
	s := openStore(t, dir, cfg)
	putBatch(t, s, makeBlocks(25, 3, 100))
	s.Close()
	srv.CreateBucket(t, "other")
	cfg.Bucket = "other"
	_, err := Open(context.Background(), dir, cfg, Deps{})
	if err == nil || !strings.Contains(err.Error(), "is this the right bucket") {
		t.Errorf("Open of an index over another bucket: error = %v", err)
	}
}

// In shared mode a peer learns of another's packs with AddPack, which
// reads the pack's index and serves its blocks without anything else.
func TestAddPackOfAnotherWriter(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	cfg.Shared = true
	var written []string
	a, err := Open(context.Background(), t.TempDir(), cfg, Deps{OnPack: func(id string) { written = append(written, id) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := openStore(t, t.TempDir(), cfg)
	blocks := makeBlocks(26, 10, 1000)
	putBatch(t, a, blocks)
	if len(written) != 1 {
		t.Fatalf("OnPack was told of %d packs, want 1", len(written))
	}
	if ok, _ := b.Has(context.Background(), blocks[0].key); ok {
		t.Fatalf("the other peer has the block before hearing of its pack")
	}
	if err := b.AddPack(context.Background(), written[0]); err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, b, blocks)
	if err := b.AddPack(context.Background(), "not-a-pack"); err == nil {
		t.Errorf("AddPack(not-a-pack) succeeded")
	}
}

// Compaction copies the live blocks of mostly dead packs into a new pack,
// and deletes the old one after the grace period; the live blocks stay
// readable throughout, here and on a store rebuilt from the bucket.
func TestCompactionReclaimsSpace(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, cfg)
	sparse := makeBlocks(27, 20, 10_000) // one pack, mostly deleted below
	dense := makeBlocks(28, 20, 10_000)  // another, kept whole
	putBatch(t, s, sparse)
	sparsePack, sparseKey := onlyPack(t, s)
	putBatch(t, s, dense)
	for _, b := range sparse[4:] {
		if err := s.Delete(ctx, b.key); err != nil {
			t.Fatal(err)
		}
	}
	live := append(append([]testBlock{}, sparse[:4]...), dense...)
	before := s.Stats()

	// With a grace period, the old pack stays, pending.
	st, err := s.Compact(ctx, 0.5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rewritten != 1 || st.Written != 1 || st.Deleted != 0 || st.Moved != 40_000 {
		t.Errorf("Compact(0.5, 1h) = %+v, want the sparse pack rewritten (40000 bytes moved), nothing deleted yet", st)
	}
	if info, _ := s.idx.pack(sparsePack); info.deleteAt == 0 {
		t.Errorf("the sparse pack is not pending deletion")
	}
	checkBlocks(t, s, live)
	exists := func(key string) bool {
		_, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
		return err == nil
	}
	if !exists(sparseKey) {
		t.Fatalf("the sparse pack was deleted before its grace period")
	}

	// A store rebuilt now skips the superseded pack: no deleted block
	// comes back, every live one reads.
	fresh := openStore(t, t.TempDir(), cfg)
	if got := fresh.Stats().LiveBlocks; got != int64(len(live)) {
		t.Errorf("rebuilt during the grace period: %d blocks, want %d", got, len(live))
	}
	checkBlocks(t, fresh, live)
	// Told of the superseded pack (a late notice), it still skips it.
	if err := fresh.AddPack(ctx, sparsePack.String()); err != nil {
		t.Fatal(err)
	}
	if got := fresh.Stats().LiveBlocks; got != int64(len(live)) {
		t.Errorf("AddPack(superseded pack): %d blocks, want %d", got, len(live))
	}
	fresh.Close()

	// The pending deletion survives a restart and happens once due.
	s.Close()
	s = openStore(t, dir, cfg)
	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	st, err = s.Compact(ctx, 0.5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rewritten != 0 || st.Deleted != 1 || st.ReclaimedBytes <= 200_000 {
		t.Errorf("Compact after the grace period = %+v, want one deletion of the 200 kB pack", st)
	}
	if exists(sparseKey) {
		t.Errorf("the sparse pack still exists after its grace period")
	}
	after := s.Stats()
	if after.PackBytes >= before.PackBytes-150_000 || after.LiveBytes != before.LiveBytes {
		t.Errorf("stats before %+v, after %+v: want 160 kB of packs less and the same live bytes", before, after)
	}
	checkBlocks(t, s, live)
	fresh = openStore(t, t.TempDir(), cfg)
	checkBlocks(t, fresh, live)
	if got := fresh.Stats().LiveBlocks; got != int64(len(live)) {
		t.Errorf("rebuilt after compaction: %d blocks, want %d", got, len(live))
	}
}

// A block deleted while a compaction copies its pack stays deleted.
func TestCompactionKeepsConcurrentDeletes(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	ctx := context.Background()
	s := openStore(t, t.TempDir(), cfg)
	blocks := makeBlocks(29, 10, 1000)
	putBatch(t, s, blocks)
	id, _ := onlyPack(t, s)
	for _, b := range blocks[5:] {
		s.Delete(ctx, b.key)
	}
	// What Compact does, with a delete between the copy and the index
	// update.
	live, _ := s.idx.live(id)
	p := newPackBuilder()
	if err := s.copyLive(ctx, id, live, p); err != nil {
		t.Fatal(err)
	}
	s.Delete(ctx, blocks[0].key)
	if _, err := s.writePack(ctx, p, []packID{id}, applyOpts{onlyMoved: true, deleteAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, blocks[0].key); ok {
		t.Errorf("a block deleted during the compaction came back")
	}
	checkBlocks(t, s, blocks[1:5])
}

// A pack with no live block left is superseded by an empty pack, which
// goes a grace period after it.
func TestCompactionOfADeadPack(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	ctx := context.Background()
	s := openStore(t, t.TempDir(), cfg)
	blocks := makeBlocks(30, 5, 1000)
	putBatch(t, s, blocks)
	for _, b := range blocks {
		s.Delete(ctx, b.key)
	}
	st, err := s.Compact(ctx, 0.1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rewritten != 1 || st.Written != 1 || st.Deleted != 2 {
		t.Errorf("Compact of a dead pack with no grace = %+v, want it and its empty successor deleted", st)
	}
	if got := s.Stats(); got.Packs != 0 || got.PackBytes != 0 {
		t.Errorf("after compacting the only, dead, pack: %+v, want nothing left", got)
	}
	out, err := srv.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Errorf("%d objects left in the bucket, want 0", len(out.Contents))
	}
}

// Packs from MultipartSize on are uploaded in parts.
func TestLargePackIsUploadedInParts(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	cfg.PackSize = 16 << 20
	cfg.MultipartSize = 10 << 20
	s := openStore(t, t.TempDir(), cfg)
	blocks := makeBlocks(31, 44, 256<<10) // 11 MiB
	srv.Reset()
	putBatch(t, s, blocks)
	got := srv.Counts()
	if got["CreateMultipartUpload"] != 1 || got["UploadPart"] != 3 || got["CompleteMultipartUpload"] != 1 || got["PutObject"] != 0 {
		t.Errorf("an 11 MiB pack was uploaded with %v, want 1 create, 3 parts of 5 MiB, 1 complete", got)
	}
	fresh := openStore(t, t.TempDir(), cfg)
	checkBlocks(t, fresh, blocks)
}

func mustHash(t *testing.T, b testBlock) string {
	t.Helper()
	h, ok := blockHash(b.key)
	if !ok {
		t.Fatalf("%s is not a block key", b.key)
	}
	return h
}

// A compaction interrupted after its pack was uploaded, before the index
// heard of it, is finished at the next open: the new pack is indexed and
// the old one scheduled for deletion.
func TestInterruptedCompactionIsFinishedAtOpen(t *testing.T) {
	srv := startS3(t)
	cfg := testConfig(srv)
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, cfg)
	blocks := makeBlocks(32, 10, 1000)
	putBatch(t, s, blocks)
	old, _ := onlyPack(t, s)
	for _, b := range blocks[3:] {
		s.Delete(ctx, b.key)
	}
	live, _ := s.idx.live(old)
	p := newPackBuilder()
	if err := s.copyLive(ctx, old, live, p); err != nil {
		t.Fatal(err)
	}
	id := newPackID(s.idx.writer)
	obj, _ := p.finish(id, []packID{old})
	if err := s.upload(ctx, id, packID{}, obj); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openStore(t, dir, cfg)
	if st := s.Stats(); st.Packs != 2 || st.Deleting != 1 || st.LiveBlocks != 3 {
		t.Errorf("after reopening: %+v, want the new pack with the 3 live blocks and the old one pending deletion", st)
	}
	if loc, _, _ := s.idx.lookup(mustHash(t, blocks[0])); loc.pack != id {
		t.Errorf("block 0 is in pack %s, want the compaction's %s", loc.pack, id)
	}
	checkBlocks(t, s, blocks[:3])
}

func TestSupersededFirst(t *testing.T) {
	a, b, c, d := packID{1}, packID{2}, packID{3}, packID{4}
	packs := []*packIndex{
		{id: c, supersedes: []packID{b}},
		{id: d},
		{id: b, supersedes: []packID{a}},
		{id: a},
	}
	pos := map[packID]int{}
	for i, p := range supersededFirst(packs) {
		pos[p.id] = i
	}
	if !(pos[a] < pos[b] && pos[b] < pos[c]) || len(pos) != 4 {
		t.Errorf("supersededFirst put a, b, c, d at %d, %d, %d, %d; want a before b before c", pos[a], pos[b], pos[c], pos[d])
	}
}
