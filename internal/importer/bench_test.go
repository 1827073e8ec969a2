package importer_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

// benchSize is large enough to need a two-level DAG under the default
// chunker (256 leaves) while staying in memory.
const benchSize = 64 << 20

func benchData(b *testing.B) []byte {
	b.Helper()
	data := make([]byte, benchSize)
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := 0; i < len(data); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	return data
}

// dagOver builds the node's stack (id store, blockstore, offline
// blockservice) over a datastore, as internal/ipfs does.
func dagOver(d ds.Batching) ipld.DAGService {
	bs := blockstore.NewIdStore(blockstore.NewBlockstoreNoPrefix(d))
	return merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
}

// BenchmarkImport measures the import of one file with CIDv1 and the
// default chunker, as `flotilla add --cid-version=1` does. "null" keeps no
// block and so measures chunking, hashing and layout; "flatfs" writes to a
// synced flatfs store in a temp dir, as a real node does.
func BenchmarkImport(b *testing.B) {
	one := 1
	s, err := importer.Params{CidVersion: &one}.Resolve()
	if err != nil {
		b.Fatal(err)
	}
	data := benchData(b)
	stores := []struct {
		name string
		open func(b *testing.B) (ipld.DAGService, func())
	}{
		{"null", func(*testing.B) (ipld.DAGService, func()) {
			return dagOver(dssync.MutexWrap(ds.NewNullDatastore())), func() {}
		}},
		{"flatfs", func(b *testing.B) (ipld.DAGService, func()) {
			d, err := storage.OpenBlocks(b.TempDir(), storage.DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			return dagOver(d), func() { d.Close() }
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var first string
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dag, closeStore := st.open(b)
				args := files.NewSliceDirectory([]files.DirEntry{
					files.FileEntry("", files.NewReaderFile(bytes.NewReader(data))),
				})
				b.StartTimer()
				roots, err := importer.Add(context.Background(), dag, args, s, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				closeStore()
				// Every iteration must land on the same root: a faster
				// import that changes the DAG is a broken one.
				c := roots[0].Node.Cid().String()
				if first == "" {
					first = c
				} else if c != first {
					b.Fatalf("iteration %d: root %s, want %s", i, c, first)
				}
				b.StartTimer()
			}
		})
	}
}
