package kuborpc

import (
	"context"
	"fmt"

	"github.com/ipfs/boxo/files"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

func (s *server) dagGet(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "ref")
	if err != nil {
		return err
	}
	codec := req.str("output-codec")
	if codec == "" {
		codec = "dag-json"
	}
	p, err := s.Node.ResolvePath(ctx, args[0])
	if err != nil {
		return err
	}
	// Encode to a buffer inside DagGet first: a failure is a clean error
	// status, not a broken stream.
	var out bytesWriter
	if err := s.Node.DagGet(ctx, p, codec, &out); err != nil {
		return err
	}
	_, err = res.stream("text/plain").Write(out.b)
	return err
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func (s *server) dagPut(ctx context.Context, req *request, res *response) error {
	o := ipfs.DagPutOptions{InputCodec: req.str("input-codec"), StoreCodec: req.str("store-codec"), Hash: req.str("hash")}
	var err error
	if o.Pin, err = req.boolOpt("pin", false); err != nil {
		return err
	}
	if o.AllowBig, err = req.boolOpt("allow-big-block", false); err != nil {
		return err
	}
	dir, err := multipartFiles(req)
	if err != nil {
		return err
	}
	it := dir.Entries()
	n := 0
	for it.Next() {
		f, ok := it.Node().(files.File)
		if !ok {
			return badRequest("dag/put takes files, not directories")
		}
		c, err := s.Node.DagPut(ctx, f, o)
		if err != nil {
			return bodyError(ctx, err)
		}
		if err := res.emit(DagPutOutput{Cid: CidLink{Cid: c.String()}}); err != nil {
			return err
		}
		n++
	}
	if err := it.Err(); err != nil {
		return bodyError(ctx, err)
	}
	if n == 0 {
		return badRequest("argument \"object data\" is required")
	}
	return nil
}

// dagStat walks each root, streaming the running totals (unless progress
// is off) and then the summary, as Kubo does.
func (s *server) dagStat(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "root")
	if err != nil {
		return err
	}
	progress, err := req.boolOpt("progress", true)
	if err != nil {
		return err
	}
	sum := DagStatSummary{DagStats: []*DagStat{}}
	seen := cid.NewSet() // across roots: the walk dedups within one
	var redundant uint64
	for _, a := range args {
		p, err := s.Node.ResolvePath(ctx, a)
		if err != nil {
			return err
		}
		c, rest, err := s.Node.ResolveToLastNode(ctx, p)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return badRequest("cannot return size for anything other than a DAG with a root CID")
		}
		st := &DagStat{Cid: c.String()}
		sum.DagStats = append(sum.DagStats, st)
		err = s.Node.DagStat(ctx, c, func(b cid.Cid, size int) error {
			st.Size += uint64(size)
			st.NumBlocks++
			if seen.Visit(b) {
				sum.TotalSize += uint64(size)
			}
			redundant += uint64(size)
			if progress {
				return res.emit(sum)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	sum.UniqueBlocks = seen.Len()
	if sum.TotalSize > 0 {
		sum.Ratio = float32(redundant) / float32(sum.TotalSize)
	}
	sum.SharedSize = redundant - sum.TotalSize
	if sum.Ratio == 0 {
		return fmt.Errorf("%w: empty DAG", ipfs.ErrNotFound)
	}
	return res.emit(sum)
}
