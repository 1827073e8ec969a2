package payload

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"1GiB", 1 << 30, false},
		{"64MiB", 64 << 20, false},
		{"512KiB", 512 << 10, false},
		{"1048576", 1 << 20, false},
		{"0", 0, true},
		{"-1MiB", 0, true},
		{"1GB", 0, true},
		{"", 0, true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestSizeRoundTrips(t *testing.T) {
	for _, n := range []int64{1 << 30, 256 << 20, 1 << 10, 1000, 3 << 20} {
		s := Size(n)
		if got, err := ParseSize(s); err != nil || got != n {
			t.Errorf("ParseSize(Size(%d) = %q) = %d, %v", n, s, got, err)
		}
	}
}

func TestFileIsDeterministicAndReused(t *testing.T) {
	dir := t.TempDir()
	p, err := File(dir, "a.bin", 4096, "seed")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want, _ := io.ReadAll(io.LimitReader(NewReader("seed"), 4096))
	if !bytes.Equal(got, want) {
		t.Errorf("File(seed) bytes differ from NewReader(seed)")
	}
	other, _ := io.ReadAll(io.LimitReader(NewReader("other"), 4096))
	if bytes.Equal(got, other) {
		t.Errorf("two seeds gave the same bytes")
	}
	st, _ := os.Stat(p)
	if _, err := File(dir, "a.bin", 4096, "seed"); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(filepath.Join(dir, "a.bin")); !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("File rewrote an existing file of the right size")
	}
}
