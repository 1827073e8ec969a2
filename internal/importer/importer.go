package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	gopath "path"
	"strconv"

	"github.com/ipfs/boxo/blockservice"
	blockstore "github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/files"
	dag "github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/boxo/ipld/unixfs/importer/trickle"
	"github.com/ipfs/boxo/mfs"
	cid "github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
)

// Event reports the progress of an import. A finished entry has Cid set; a
// progress report on a file being read has Bytes set and no Cid.
type Event struct {
	Name  string
	Cid   cid.Cid
	Size  uint64 // cumulative size of the entry's DAG
	Bytes int64  // bytes of the file read so far
}

// Root is one imported top-level entry.
type Root struct {
	Name string
	Node ipld.Node
}

// progressStep is how many bytes pass between two progress events (Kubo's).
const progressStep = 256 << 10

// flushEvery bounds the directory entries MFS keeps in memory during a large
// directory import: past it, unchanged children are flushed and dropped.
const flushEvery = 256 << 10

// Add imports every top-level entry of args the way Kubo's add command treats
// its arguments: each entry gets its own DAG, unless s.Wrap asks for one
// directory around all of them. Blocks go to ds; pinning is the caller's.
// When Add returns, every block has been handed to ds and ds has returned;
// entries are reported as they are placed, before their blocks may be.
// events, if not nil, is called from this goroutine.
func Add(ctx context.Context, ds ipld.DAGService, args files.Directory, s Settings, events func(Event)) ([]Root, error) {
	return add(ctx, ds, ds, args, s, events)
}

// AddOnlyHash computes the roots Add would produce and keeps no content
// (--only-hash): file blocks are discarded, and the directory tree is
// assembled over an in-memory DAG service that holds only what MFS writes
// (directories and the roots of files), as Kubo does.
func AddOnlyHash(ctx context.Context, args files.Directory, s Settings, events func(Event)) ([]Root, error) {
	discard := dag.NewDAGService(blockservice.New(blockstore.NewBlockstore(dssync.MutexWrap(datastore.NewNullDatastore())), nil))
	tree := dag.NewDAGService(blockservice.New(blockstore.NewBlockstore(dssync.MutexWrap(datastore.NewMapDatastore())), nil))
	return add(ctx, discard, tree, args, s, events)
}

// add imports args with file blocks to ds and the directory tree (MFS) on
// tree.
func add(ctx context.Context, ds, tree ipld.DAGService, args files.Directory, s Settings, events func(Event)) ([]Root, error) {
	if events == nil {
		events = func(Event) {}
	}
	if s.Wrap {
		args = files.NewSliceDirectory([]files.DirEntry{files.FileEntry("", args)})
	}
	// File blocks are written behind the import, across files, and waited
	// for once at the end (and on the way out of an error: no commit
	// outlives Add).
	w := newBlockWriter(ctx, ds)
	defer w.wait()
	var roots []Root
	it := args.Entries()
	for it.Next() {
		name, node := it.Name(), it.Node()
		_, isDir := node.(files.Directory)
		named := func(e Event) {
			if !isDir && name != "" {
				e.Name = name
			} else {
				e.Name = gopath.Join(name, e.Name)
			}
			events(e)
		}
		a := &adder{ctx: ctx, ds: tree, files: w, s: s, events: named}
		nd, err := a.addRoot(node)
		if err != nil {
			if name != "" {
				return nil, fmt.Errorf("import %s: %w", name, err)
			}
			return nil, err
		}
		roots = append(roots, Root{Name: name, Node: nd})
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if len(roots) == 0 {
		return nil, errors.New("nothing to import: expected a file argument")
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return roots, nil
}

// adder imports one top-level entry. Files are built with boxo's balanced or
// trickle layout; the directory tree is assembled in an MFS root so that
// directories switch to HAMT sharding exactly where Kubo's do.
type adder struct {
	ctx    context.Context
	ds     ipld.DAGService // directories and symlinks: few, small, written at once
	files  *blockWriter    // file blocks
	s      Settings
	events func(Event)
	root   *mfs.Root // created lazily
	live   int       // entries added since the last MFS memory flush
	lone   ipld.Node // the entry itself when it is a file or symlink
}

func (a *adder) dirOptions() []mfs.Option {
	return []mfs.Option{
		mfs.WithCidBuilder(a.s.CidBuilder),
		mfs.WithMaxLinks(a.s.MaxDirectoryLinks),
		mfs.WithMaxHAMTFanout(a.s.HAMTFanout),
		mfs.WithHAMTShardingSize(a.s.HAMTThreshold),
		mfs.WithSizeEstimationMode(a.s.SizeEstimation),
	}
}

func (a *adder) mfsRoot() (*mfs.Root, error) {
	if a.root == nil {
		r, err := mfs.NewEmptyRoot(a.ctx, a.ds, nil, nil, a.dirOptions()...)
		if err != nil {
			return nil, err
		}
		a.root = r
	}
	return a.root, nil
}

// addRoot imports node and returns its DAG root. A lone file is placed in
// the MFS root under a temporary name and taken back out, as Kubo does, so
// that both paths produce identical nodes.
func (a *adder) addRoot(node files.Node) (ipld.Node, error) {
	if err := a.addNode("", node, true); err != nil {
		return nil, err
	}
	mr, err := a.mfsRoot()
	if err != nil {
		return nil, err
	}
	rootDir := mr.GetDirectory()
	if err := rootDir.Flush(); err != nil {
		return nil, err
	}
	if err := mr.Close(); err != nil {
		return nil, err
	}
	if _, isDir := node.(files.Directory); !isDir {
		// A lone file is the only child of the MFS root, which Kubo reads
		// back from the DAG service. That read fails with --only-hash,
		// which keeps no block, so the node placed there is returned.
		if a.lone == nil {
			return nil, errors.New("import produced no entry")
		}
		return a.lone, nil
	}
	nd, err := rootDir.GetNode()
	if err != nil {
		return nil, err
	}
	if err := a.emitDirs("", rootDir); err != nil {
		return nil, err
	}
	return nd, nil
}

func (a *adder) addNode(path string, node files.Node, toplevel bool) error {
	defer node.Close()
	if err := a.ctx.Err(); err != nil {
		return err
	}
	if a.live >= flushEvery {
		mr, err := a.mfsRoot()
		if err != nil {
			return err
		}
		if err := mr.FlushMemFree(a.ctx); err != nil {
			return err
		}
		a.live = 0
	}
	a.live++

	switch n := node.(type) {
	case files.Directory:
		return a.addDir(path, n, toplevel)
	case *files.Symlink:
		return a.addSymlink(path, n)
	case files.File:
		return a.addFile(path, n)
	default:
		return fmt.Errorf("%s: unsupported file type", path)
	}
}

func (a *adder) addDir(path string, dir files.Directory, toplevel bool) error {
	it := dir.Entries()
	more := it.Next()
	if !more {
		if err := it.Err(); err != nil {
			return err
		}
		if !a.s.IncludeEmptyDirs && !toplevel {
			return nil
		}
	}
	if !(toplevel && path == "") {
		mr, err := a.mfsRoot()
		if err != nil {
			return err
		}
		if err := mfs.Mkdir(mr, path, mfs.MkdirOpts{Mkparents: true}, a.dirOptions()...); err != nil {
			return err
		}
	}
	for more {
		if err := a.addNode(gopath.Join(path, it.Name()), it.Node(), false); err != nil {
			return err
		}
		more = it.Next()
	}
	return it.Err()
}

func (a *adder) addSymlink(path string, l *files.Symlink) error {
	data, err := unixfs.SymlinkData(l.Target)
	if err != nil {
		return err
	}
	nd := dag.NodeWithData(data)
	if err := nd.SetCidBuilder(a.s.CidBuilder); err != nil {
		return err
	}
	if err := a.ds.Add(a.ctx, nd); err != nil {
		return err
	}
	return a.place(path, nd)
}

func (a *adder) addFile(path string, f files.File) error {
	spl, err := chunker.FromString(f, a.s.Chunker)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadParams, err)
	}
	report := func(n int64) { a.events(Event{Name: path, Bytes: n}) }
	var builder cid.Builder
	if a.s.CidBuilder == nil {
		// boxo's defaults; nothing to compute ahead with.
		spl = &progressSplitter{Splitter: spl, report: report}
	} else {
		ahead, b := a.hashAhead(spl, report)
		defer ahead.stop()
		spl, builder = ahead, b
	}
	params := helpers.DagBuilderParams{
		Dagserv:    a.files,
		RawLeaves:  a.s.RawLeaves,
		Maxlinks:   a.s.MaxFileLinks,
		CidBuilder: builder,
	}
	db, err := params.New(spl)
	if err != nil {
		return err
	}
	var nd ipld.Node
	if a.s.Trickle {
		nd, err = trickle.Layout(db)
	} else {
		nd, err = balanced.Layout(db)
	}
	if err != nil {
		return err
	}
	return a.place(path, nd)
}

// hashAhead wraps spl so that leaves are hashed ahead of the layout, and
// returns the CID builder the layout must use to benefit (see leaves.go).
func (a *adder) hashAhead(spl chunker.Splitter, report func(int64)) (*hashAhead, cid.Builder) {
	kind := leafKind{raw: a.s.RawLeaves, unixType: unixfs.TFile}
	if a.s.Trickle {
		kind.unixType = unixfs.TRaw // trickle's leaves, unlike balanced's
	}
	memo := &leafMemo{codec: cid.DagProtobuf}
	leafBuilder := a.s.CidBuilder // dag-pb leaves take the builder as is
	if kind.raw {
		memo.codec = cid.Raw
		leafBuilder = a.s.CidBuilder.WithCodec(cid.Raw)
	}
	h := newHashAhead(a.ctx, spl, kind, leafBuilder, memo, report)
	return h, memoBuilder{base: a.s.CidBuilder, memo: memo}
}

// place links nd into the MFS tree at path and reports it.
func (a *adder) place(path string, nd ipld.Node) error {
	if path == "" { // the top-level entry itself, a file or a symlink
		a.lone = nd
		path = nd.Cid().String()
	}
	mr, err := a.mfsRoot()
	if err != nil {
		return err
	}
	if dir := gopath.Dir(path); dir != "." {
		if err := mfs.Mkdir(mr, dir, mfs.MkdirOpts{Mkparents: true}, a.dirOptions()...); err != nil {
			return err
		}
	}
	if err := mfs.PutNode(mr, path, nd); err != nil {
		return err
	}
	return a.emit(path, nd)
}

// emitDirs reports every directory below fsn, children first, as Kubo does
// once the tree is final.
func (a *adder) emitDirs(path string, fsn mfs.FSNode) error {
	dir, ok := fsn.(*mfs.Directory)
	if !ok {
		return nil
	}
	names, err := dir.ListNames(a.ctx)
	if err != nil {
		return err
	}
	for _, name := range names {
		child, err := dir.Child(name)
		if err != nil {
			return err
		}
		if err := a.emitDirs(gopath.Join(path, name), child); err != nil {
			return err
		}
		dir.Uncache(name)
	}
	nd, err := dir.GetNode()
	if err != nil {
		return err
	}
	return a.emit(path, nd)
}

func (a *adder) emit(path string, nd ipld.Node) error {
	size, err := nd.Size()
	if err != nil {
		return err
	}
	// Kubo names a lone top-level file by its CID inside the adder and
	// lets the caller rename it; the caller's naming function does that.
	if path == nd.Cid().String() {
		path = ""
	}
	a.events(Event{Name: path, Cid: nd.Cid(), Size: size})
	return nil
}

// progressSplitter reports the bytes chunked every progressStep and at EOF.
type progressSplitter struct {
	chunker.Splitter
	n      int64
	last   int64
	report func(int64)
}

func (p *progressSplitter) NextBytes() ([]byte, error) {
	b, err := p.Splitter.NextBytes()
	p.n += int64(len(b))
	if p.n-p.last >= progressStep || (err == io.EOF && p.n != p.last) {
		p.last = p.n
		p.report(p.n)
	}
	return b, err
}

// FormatSize renders a DAG size as Kubo's add events do (a decimal string).
func FormatSize(n uint64) string { return strconv.FormatUint(n, 10) }
