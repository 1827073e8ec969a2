package ipfs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	unixfile "github.com/ipfs/boxo/ipld/unixfs/file"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/boxo/path"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
)

// ErrBadPath marks a malformed content path or CID.
var ErrBadPath = errors.New("invalid path")

// ErrNotFound marks content that is not available (locally, when offline).
var ErrNotFound = errors.New("not found")

// ParsePath accepts /ipfs/<cid>[/sub/path], /ipld/<cid>[/…] and a bare
// <cid>[/…]. Names under /ipns/ are not resolved by this node yet.
func ParsePath(s string) (path.ImmutablePath, error) {
	if s == "" {
		return path.ImmutablePath{}, fmt.Errorf("%w: empty path", ErrBadPath)
	}
	if !strings.HasPrefix(s, "/") {
		s = "/ipfs/" + s
	}
	p, err := path.NewPath(s)
	if err != nil {
		return path.ImmutablePath{}, fmt.Errorf("%w: %q: %v", ErrBadPath, s, err)
	}
	if p.Namespace() == path.IPNSNamespace {
		return path.ImmutablePath{}, fmt.Errorf("%w: %q: /ipns/ names are not resolved by this command", ErrBadPath, s)
	}
	ip, err := path.NewImmutablePath(p)
	if err != nil {
		return path.ImmutablePath{}, fmt.Errorf("%w: %q: %v", ErrBadPath, s, err)
	}
	return ip, nil
}

// ParseCid parses a CID and names it in the error.
func ParseCid(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: invalid CID %q: %v", ErrBadPath, s, err)
	}
	return c, nil
}

// Resolve walks a path down to the CID it names.
func (n *Node) Resolve(ctx context.Context, p path.ImmutablePath) (cid.Cid, error) {
	if len(p.Segments()) <= 2 {
		return p.RootCid(), nil
	}
	c, _, err := n.unixfsRes.ResolveToLastNode(ctx, p)
	if err != nil {
		return cid.Undef, notFound(err)
	}
	return c, nil
}

// ResolveNode resolves a path and fetches the node it names.
func (n *Node) ResolveNode(ctx context.Context, p path.ImmutablePath) (ipld.Node, error) {
	c, err := n.Resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	nd, err := n.DAG.Get(ctx, c)
	if err != nil {
		return nil, notFound(err)
	}
	return nd, nil
}

// notFound tags errors that mean "this content is not available".
func notFound(err error) error {
	if ipld.IsNotFound(err) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

// Get returns the UnixFS file or directory at p, streaming its content.
func (n *Node) Get(ctx context.Context, p path.ImmutablePath) (files.Node, error) {
	nd, err := n.ResolveNode(ctx, p)
	if err != nil {
		return nil, err
	}
	return unixfile.NewUnixfsFile(ctx, n.DAG, nd)
}

// AddOptions are the non-layout choices of an add.
type AddOptions struct {
	Import   importer.Settings
	Pin      bool
	PinName  string
	OnlyHash bool
}

// Add imports args (see importer.Add) and pins each root. The pin lock is
// held from the first block to the pin, so a concurrent GC waits instead of
// collecting blocks that are about to be pinned.
func (n *Node) Add(ctx context.Context, args files.Directory, opts AddOptions, events func(importer.Event)) ([]importer.Root, error) {
	if opts.OnlyHash {
		return importer.AddOnlyHash(ctx, args, opts.Import, events)
	}
	unlock := n.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	roots, err := importer.Add(ctx, n.LocalDAG, args, opts.Import, events)
	if err != nil {
		return nil, err
	}
	// Blocks went to the blockstore through batches; make them durable
	// before the add is acknowledged.
	if err := n.blocksDS.Sync(ctx, rootKey); err != nil {
		return nil, fmt.Errorf("sync blocks: %w", err)
	}
	if !opts.Pin {
		return roots, nil
	}
	for _, r := range roots {
		if err := n.Pins.PinWithMode(ctx, r.Node.Cid(), pinModeRecursive, opts.PinName); err != nil {
			return nil, err
		}
	}
	if err := n.syncPins(ctx); err != nil {
		return nil, err
	}
	for _, r := range roots {
		n.announce(ctx, r.Node.Cid())
	}
	return roots, nil
}

// Entry is one link of a directory listing.
type Entry struct {
	Name string
	Cid  cid.Cid
	Size uint64 // file size for files, 0 for directories
	Type EntryType
}

// EntryType is the UnixFS kind of an entry, numbered as Kubo's ls output.
type EntryType int

// Kubo's ls type numbers (they are its unixfs protobuf values).
const (
	TypeRaw       EntryType = 0
	TypeDirectory EntryType = 1
	TypeFile      EntryType = 2
	TypeMetadata  EntryType = 3
	TypeSymlink   EntryType = 4
	TypeHAMTShard EntryType = 5
)

// Ls lists the links of the node at p: directory entries for UnixFS
// directories (HAMT shards included), raw links otherwise. Each entry's type
// and size come from its own node, as in Kubo.
func (n *Node) Ls(ctx context.Context, p path.ImmutablePath, emit func(Entry) error) error {
	nd, err := n.ResolveNode(ctx, p)
	if err != nil {
		return err
	}
	dir, err := uio.NewDirectoryFromNode(n.DAG, nd)
	if err != nil {
		if !errors.Is(err, uio.ErrNotADir) {
			return err
		}
		for _, l := range nd.Links() {
			e, err := n.entry(ctx, l)
			if err != nil {
				return err
			}
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	for res := range dir.EnumLinksAsync(ctx) {
		if res.Err != nil {
			return res.Err
		}
		e, err := n.entry(ctx, res.Link)
		if err != nil {
			return err
		}
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) entry(ctx context.Context, l *ipld.Link) (Entry, error) {
	e := Entry{Name: l.Name, Cid: l.Cid}
	if l.Cid.Type() == cid.Raw {
		e.Type = TypeFile
		size, err := n.Blocks.GetSize(ctx, l.Cid)
		if err == nil {
			e.Size = uint64(size)
		} else {
			e.Size = l.Size
		}
		return e, nil
	}
	child, err := n.DAG.Get(ctx, l.Cid)
	if err != nil {
		return e, notFound(err)
	}
	pn, ok := child.(*merkledag.ProtoNode)
	if !ok {
		return e, nil
	}
	fsn, err := ft.FSNodeFromBytes(pn.Data())
	if err != nil {
		return e, nil
	}
	switch fsn.Type() {
	case ft.TDirectory:
		e.Type = TypeDirectory
	case ft.THAMTShard:
		e.Type = TypeHAMTShard
	case ft.TSymlink:
		e.Type = TypeSymlink
		e.Size = uint64(len(fsn.Data()))
	case ft.TMetadata:
		e.Type = TypeMetadata
	case ft.TRaw:
		e.Type = TypeRaw
		e.Size = fsn.FileSize()
	default:
		e.Type = TypeFile
		e.Size = fsn.FileSize()
	}
	return e, nil
}
