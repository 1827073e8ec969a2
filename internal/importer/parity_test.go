package importer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/kubotest"
)

// writeCorpus lays out the files the parity tests import: sizes around chunk
// boundaries and the 174-link limit, hidden files, symlinks, empty
// directories and a directory large enough to become a HAMT shard.
func writeCorpus(t testing.TB, root string) {
	t.Helper()
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	write := func(rel string, b []byte) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const chunk = 256 << 10
	write("empty.bin", nil)
	write("tiny.txt", []byte("hello flotilla\n"))
	write("one-chunk.bin", data(chunk))
	write("chunk-plus-one.bin", data(chunk+1))
	write("many-links.bin", data(175*chunk/16)) // >174 leaves with size-4096 chunking below
	write("deep/a/b/c/file.txt", []byte("deep\n"))
	write(".hidden/secret.txt", []byte("hidden\n"))
	write("visible/.dotfile", []byte("dot\n"))
	write("text/lorem.txt", []byte(strings.Repeat("lorem ipsum dolor sit amet ", 5000)))
	if err := os.MkdirAll(filepath.Join(root, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("tiny.txt", filepath.Join(root, "link-to-tiny")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	for i := range 4500 { // names long enough to pass the 256 KiB HAMT threshold
		write(fmt.Sprintf("big-dir/entry-with-a-fairly-long-name-%05d.txt", i), []byte{byte(i)})
	}
}

// flotillaAdd imports path the way `flotilla add -r` does and returns the
// lines Kubo's add prints ("added <cid> <name>"), sorted.
func flotillaAdd(t *testing.T, path string, hidden bool, p importer.Params) []string {
	t.Helper()
	s, err := p.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := files.NewFilter("", nil, hidden)
	if err != nil {
		t.Fatal(err)
	}
	node, err := files.NewSerialFileWithFilter(path, filter, st)
	if err != nil {
		t.Fatal(err)
	}
	args := files.NewSliceDirectory([]files.DirEntry{files.FileEntry(filepath.Base(path), node)})
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	var lines []string
	_, err = importer.Add(context.Background(), dag, args, s, func(e importer.Event) {
		if e.Cid.Defined() {
			lines = append(lines, strings.TrimSpace("added "+e.Cid.String()+" "+e.Name))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return lines
}

func kuboAdd(t *testing.T, k *kubotest.Kubo, path string, args ...string) []string {
	t.Helper()
	out := k.Run(append(append([]string{"add", "-r", "--only-hash", "--progress=false"}, args...), path)...)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	sort.Strings(lines)
	return lines
}

func TestCIDsMatchKubo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kubo; skipped in -short mode")
	}
	root := filepath.Join(t.TempDir(), "corpus")
	writeCorpus(t, root)
	plain := kubotest.New(t, "test")
	v1 := kubotest.New(t, "test", importer.ProfileV1)
	v0 := kubotest.New(t, "test", importer.ProfileV0)

	yes, one := true, 1
	links3 := 3
	cases := []struct {
		name   string
		kubo   *kubotest.Kubo
		args   []string
		params importer.Params
		hidden bool
	}{
		{"defaults", plain, nil, importer.Params{}, false},
		{"cidv1", plain, []string{"--cid-version=1"}, importer.Params{CidVersion: &one}, false},
		{"raw-leaves", plain, []string{"--raw-leaves"}, importer.Params{RawLeaves: &yes}, false},
		{"small-chunks", plain, []string{"--chunker=size-4096"}, importer.Params{Chunker: "size-4096"}, false},
		{"rabin", plain, []string{"--chunker=rabin-2048-8192-32768", "--cid-version=1"}, importer.Params{Chunker: "rabin-2048-8192-32768", CidVersion: &one}, false},
		{"buzhash", plain, []string{"--chunker=buzhash"}, importer.Params{Chunker: "buzhash"}, false},
		{"trickle", plain, []string{"--trickle", "--chunker=size-4096"}, importer.Params{Trickle: &yes, Chunker: "size-4096"}, false},
		{"max-file-links", plain, []string{"--max-file-links=3", "--chunker=size-65536"}, importer.Params{MaxFileLinks: &links3, Chunker: "size-65536"}, false},
		{"hidden", plain, nil, importer.Params{}, true},
		{"wrap", plain, []string{"-w"}, importer.Params{Wrap: true}, false},
		{"inline", plain, []string{"--inline", "--cid-version=1"}, importer.Params{Inline: true, CidVersion: &one}, false},
		{"profile-v1-2025", v1, nil, importer.Params{Profile: importer.ProfileV1}, false},
		{"profile-v0-2015", v0, nil, importer.Params{Profile: importer.ProfileV0}, false},
		{"profile-v1-2025-cidv0", v1, []string{"--cid-version=0"}, importer.Params{Profile: importer.ProfileV1, CidVersion: new(int)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.hidden {
				args = append(args, "-H")
			}
			want := kuboAdd(t, tc.kubo, root, args...)
			got := flotillaAdd(t, root, tc.hidden, tc.params)
			if len(got) != len(want) {
				t.Fatalf("flotilla added %d entries, kubo %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("entry %d: flotilla %q, kubo %q", i, got[i], want[i])
				}
			}
		})
	}
}
