package s3store

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A store's packs name the pack it sealed before each (in the object's
// metadata, through a PUT or a multipart upload), so that a fresh store
// knows their order. A reader going through them in order has the
// ranges ahead of it read ahead, from the end of one pack into the first
// ranges of the next, and the GETs are still one per range: nothing is
// read ahead past the last pack.
func TestReadAheadFollowsPacks(t *testing.T) {
	for _, multipart := range []bool{false, true} {
		name := "put"
		if multipart {
			name = "multipart"
		}
		t.Run(name, func(t *testing.T) {
			srv := startS3(t)
			cfg := testConfig(srv)
			if multipart {
				// Packs of 6 MiB, uploaded in a part of 5 MiB and one
				// of 1 MiB.
				cfg.PackSize, cfg.MultipartSize, cfg.PartSize, cfg.ReadSize = 8<<20, 5<<20, 5<<20, 2<<20
			}
			perRange := int(cfg.ReadSize / (64 << 10))
			w := openStore(t, t.TempDir(), cfg)
			// Three packs, in order, of three ranges each.
			var blocks []testBlock
			var packs []packID
			for i := range 3 {
				batch := makeBlocks(uint64(70+i), 3*perRange, 64<<10)
				putBatch(t, w, batch)
				blocks = append(blocks, batch...)
				loc, _, _ := w.idx.lookup(mustHash(t, batch[0]))
				packs = append(packs, loc.pack)
			}
			if n := srv.Count("CreateMultipartUpload"); multipart != (n == 3) {
				t.Fatalf("%d multipart uploads, want 3 if multipart (%v), else none", n, multipart)
			}

			s := openStore(t, t.TempDir(), cfg) // rebuilt from the bucket
			for i, id := range packs {
				next, ok := s.idx.next(id)
				if want := i+1 < len(packs); ok != want || (ok && next != packs[i+1]) {
					t.Fatalf("the pack after pack %d = %s, %v; want pack %d (%v)", i, next, ok, i+1, want)
				}
			}

			// Hold the GETs of the second pack: read-ahead must reach it
			// before the reader does.
			release := make(chan struct{})
			held := make(chan string, 16)
			srv.Intercept(func(op string, r *http.Request) int {
				if op == "GetObject" && r.URL.Path == "/"+cfg.Bucket+"/"+s.packKey(packs[1]) {
					held <- r.Header.Get("Range")
					<-release
				}
				return 0
			})
			srv.Reset()
			ctx := context.Background()
			for _, b := range blocks[:3*perRange] { // the first pack
				if _, err := s.Get(ctx, b.key); err != nil {
					t.Fatal(err)
				}
			}
			// Stepping to range 1 reads ahead range 2; stepping to range
			// 2, two ranges: past the end of the pack, the first two of
			// the next.
			want := map[string]bool{
				fmt.Sprintf("bytes=0-%d", cfg.ReadSize-1):                  true,
				fmt.Sprintf("bytes=%d-%d", cfg.ReadSize, 2*cfg.ReadSize-1): true,
			}
			for range want {
				select {
				case r := <-held:
					if !want[r] {
						t.Errorf("read ahead into the second pack: range %q, want its first two", r)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the first two ranges of the second pack were not read ahead")
				}
			}
			close(release)
			srv.Intercept(nil)
			checkBlocks(t, s, blocks)
			s.Close() // waits for reads ahead
			if n := srv.Count("GetObject"); n != 9 {
				t.Errorf("reading 3 packs of 3 ranges in order made %d GETs, want 9", n)
			}
		})
	}
}
