package adder

import (
	"context"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"

	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
)

// carBatchBytes and carBatchBlocks size the batches a CAR upload is handed
// to the stream in: the importer's (importer/writer.go).
const (
	carBatchBytes  = 8 << 20
	carBatchBlocks = 256
)

// addCAR streams the blocks of the one CAR file of the upload, each
// verified against its CID by the CAR reader, as IPFS Cluster's CAR adder
// (one file, one root; the DAG need not be complete).
func addCAR(ctx context.Context, stream *blockstream.Stream, upload files.Directory, allocs []string, send func(restapi.Added)) ([]cid.Cid, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", restapi.ErrBadUpload, fmt.Sprintf(format, args...))
	}
	it := upload.Entries()
	if !it.Next() {
		if err := it.Err(); err != nil {
			return nil, err
		}
		return nil, bad("no CAR file in the upload")
	}
	name := it.Name()
	f, ok := it.Node().(files.File)
	if _, link := it.Node().(*files.Symlink); !ok || link {
		return nil, bad("%s: expected a CAR file, not a directory or a symlink", name)
	}
	defer f.Close()
	br, err := car.NewBlockReader(f, car.MaxAllowedSectionSize(block.MaxSize+1024))
	if err != nil {
		return nil, badCAR(err)
	}
	if len(br.Roots) != 1 {
		return nil, bad("only CAR files with a single root are supported, this one has %d", len(br.Roots))
	}
	root := br.Roots[0]
	var total, size uint64
	batch := make([]blocks.Block, 0, carBatchBlocks)
	batchBytes := 0
	flush := func() error {
		err := stream.Put(ctx, batch)
		batch, batchBytes = batch[:0], 0
		return err
	}
	for {
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badCAR(err)
		}
		if len(b.RawData()) > block.MaxSize {
			return nil, bad("block %s is %d bytes: %v", b.Cid(), len(b.RawData()), block.ErrTooBig)
		}
		total += uint64(len(b.RawData()))
		if b.Cid().Equals(root) {
			size = unixfsSize(b)
		}
		batch = append(batch, b)
		batchBytes += len(b.RawData())
		if batchBytes >= carBatchBytes || len(batch) >= carBatchBlocks {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if it.Next() {
		return nil, bad("only one CAR file can be added at a time")
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	send(restapi.Added{Name: name, Cid: root, Bytes: total, Size: size, Allocations: allocs})
	return []cid.Cid{root}, nil
}

// badCAR reports a CAR the reader refused; failures to read the upload
// itself come wrapped already.
func badCAR(err error) error {
	if errors.Is(err, restapi.ErrBadUpload) {
		return err
	}
	return fmt.Errorf("%w: invalid CAR: %v", restapi.ErrBadUpload, err)
}

// unixfsSize is the file size of a UnixFS root, 0 for anything else (as
// IPFS Cluster reports a CAR's root).
func unixfsSize(b blocks.Block) uint64 {
	if b.Cid().Type() != cid.DagProtobuf {
		return 0
	}
	pn, err := merkledag.DecodeProtobuf(b.RawData())
	if err != nil {
		return 0
	}
	fsn, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return 0
	}
	return fsn.FileSize()
}
