package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	ds "github.com/ipfs/go-datastore"
	"golang.org/x/sys/unix"
)

// resident counts the pages of a file that are in the page cache.
func resident(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pages := (len(m) + os.Getpagesize() - 1) / os.Getpagesize()
	vec := make([]byte, pages)
	// x/sys/unix has no wrapper for mincore(2).
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestCommitDropsPages checks that committed blocks leave the page cache
// unless CacheWrites says otherwise.
func TestCommitDropsPages(t *testing.T) {
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("CacheWrites=%v", cache), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			cfg := DefaultConfig()
			cfg.CacheWrites = cache
			d, err := OpenBlocks(context.Background(), dir, cfg, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			b, err := d.Batch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			const n = 8
			for i := range n {
				if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("CIQPAGES%02d", i)), bytes.Repeat([]byte{byte(i)}, 256<<10)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			files, err := filepath.Glob(filepath.Join(dir, "*", "CIQPAGES*.data"))
			if err != nil || len(files) != n {
				t.Fatalf("found %d block files (%v), want %d", len(files), err, n)
			}
			total := 0
			for _, f := range files {
				total += resident(t, f)
			}
			if !cache && total != 0 {
				t.Errorf("%d pages of committed blocks still cached, want 0", total)
			}
			if cache && total == 0 {
				t.Errorf("no page of committed blocks cached with CacheWrites")
			}
		})
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"5.8.0", true},
		{"5.8-rc1", true},
		{"5.7.19-generic", false},
		{"4.19.0", false},
		{"6.1.0-13-amd64", true},
		{"6.18.44-fc-v595", true},
		{"10.0", true},
		{"garbage", false},
	} {
		if got := kernelAtLeast(tc.release, 5, 8); got != tc.want {
			t.Errorf("kernelAtLeast(%q, 5, 8) = %v, want %v", tc.release, got, tc.want)
		}
	}
}
