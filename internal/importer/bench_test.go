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

// benchData returns benchSize incompressible bytes, different for each
// seed so that no block of one import deduplicates against another.
func benchData(seed byte) []byte {
	data := make([]byte, benchSize)
	rand.NewChaCha8([32]byte{seed}).Read(data)
	return data
}

// dagOver builds the node's stack (id store, blockstore, offline
// blockservice) over a datastore, as internal/ipfs does.
func dagOver(d ds.Batching) ipld.DAGService {
	bs := blockstore.NewIdStore(blockstore.NewBlockstore(d, blockstore.NoPrefix()))
	return merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
}

// BenchmarkImport measures the import of one file with CIDv1 and the
// default chunker, as `flotilla add --cid-version=1` does. "null" keeps no
// block and so measures chunking, hashing and layout; "flatfs" writes to a
// synced flatfs store in a temp dir, as a real node does. The store is
// shared by the iterations, each adding new bytes, as a node's is: a fresh
// store per iteration would mostly measure creating its shard directories.
func BenchmarkImport(b *testing.B) {
	one := 1
	s, err := importer.Params{CidVersion: &one}.Resolve()
	if err != nil {
		b.Fatal(err)
	}
	stores := []struct {
		name string
		open func(b *testing.B) ipld.DAGService
	}{
		{"null", func(*testing.B) ipld.DAGService {
			return dagOver(dssync.MutexWrap(ds.NewNullDatastore()))
		}},
		{"flatfs", func(b *testing.B) ipld.DAGService {
			d, err := storage.OpenBlocks(context.Background(), b.TempDir(), storage.DefaultConfig(), storage.Deps{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			return dagOver(d)
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			dag := st.open(b)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				args := files.NewSliceDirectory([]files.DirEntry{
					files.FileEntry("", files.NewReaderFile(bytes.NewReader(benchData(byte(i))))),
				})
				b.StartTimer()
				if _, err := importer.Add(context.Background(), dag, args, s, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
