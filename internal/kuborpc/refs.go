package kuborpc

import (
	"context"
	"strings"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// refs lists the links of DAGs. Kubo reports a walk failure as a line
// with Err set, not as a failed call, and so does this.
func (s *server) refs(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "ipfs-path")
	if err != nil {
		return err
	}
	unique, err := req.boolOpt("unique", false)
	if err != nil {
		return err
	}
	recursive, err := req.boolOpt("recursive", false)
	if err != nil {
		return err
	}
	edges, err := req.boolOpt("edges", false)
	if err != nil {
		return err
	}
	o := ipfs.RefsOptions{Unique: unique, MaxDepth: -1}
	if d, err := req.optInt("max-depth"); err != nil {
		return err
	} else if d != nil {
		o.MaxDepth = *d
	}
	if !recursive {
		o.MaxDepth = 1
	}
	format := req.str("format")
	if format == "" {
		format = "<dst>"
	}
	if edges {
		if format != "<dst>" {
			return badRequest("using format argument with edges is not allowed")
		}
		format = "<src> -> <dst>"
	}
	roots, err := s.resolveAll(ctx, args)
	if err != nil {
		return err
	}
	for _, root := range roots {
		err := s.Node.Refs(ctx, root, o, func(r ipfs.Ref) error {
			line := strings.NewReplacer("<src>", r.From.String(), "<dst>", r.To.String(), "<linkname>", r.Name).Replace(format)
			return res.emit(RefWrapper{Ref: line})
		})
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			if err := res.emit(RefWrapper{Err: err.Error()}); err != nil {
				return err
			}
		}
	}
	if !res.started {
		return res.begin()
	}
	return nil
}

// refsLocal lists every local block as CIDv1 raw.
func (s *server) refsLocal(ctx context.Context, req *request, res *response) error {
	err := s.Node.LocalRefs(ctx, func(c cid.Cid) error {
		return res.emit(RefWrapper{Ref: c.String()})
	})
	if err == nil && !res.started {
		return res.begin()
	}
	return err
}
