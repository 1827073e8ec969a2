package ipfs

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/boxo/path"
	cid "github.com/ipfs/go-cid"
)

// ResolvePath parses s as ParsePath does and also accepts /ipns/ paths
// (IPNS names and DNSLink domains), which it resolves, recursively, to the
// /ipfs/ path they name. Native URIs (ipfs://…, ipns://…) are accepted too.
func (n *Node) ResolvePath(ctx context.Context, s string) (path.ImmutablePath, error) {
	if p, err := path.NewPathFromURI(s); err == nil && strings.Contains(s, "://") {
		s = p.String()
	}
	if !strings.HasPrefix(s, "/ipns/") {
		return ParsePath(s)
	}
	p, err := path.NewPath(s)
	if err != nil {
		return path.ImmutablePath{}, fmt.Errorf("%w: %q: %v", ErrBadPath, s, err)
	}
	res, err := n.ResolveName(ctx, p, ResolveOptions{Recursive: true})
	if err != nil {
		return path.ImmutablePath{}, err
	}
	ip, err := path.NewImmutablePath(res.Path)
	if err != nil {
		return path.ImmutablePath{}, fmt.Errorf("%s resolved to %s: %w", s, res.Path, err)
	}
	return ip, nil
}

// ResolveToLastNode walks p down to the last block it names and returns
// that block's CID and what is left of the path inside the block (fields of
// a dag-cbor or dag-json node; empty for UnixFS).
func (n *Node) ResolveToLastNode(ctx context.Context, p path.ImmutablePath) (cid.Cid, []string, error) {
	if len(p.Segments()) <= 2 {
		return p.RootCid(), nil, nil
	}
	c, rest, err := n.unixfsRes.ResolveToLastNode(ctx, p)
	if err != nil {
		return cid.Undef, nil, notFound(err)
	}
	return c, rest, nil
}
