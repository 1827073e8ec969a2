package registry

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/boxo/files"
	unixfile "github.com/ipfs/boxo/ipld/unixfs/file"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
)

// uploadGrace keeps a blob that no pinned image references yet from
// garbage collection: the time between a client's last layer and its
// manifest. A blob whose image never comes is garbage after that, as in
// any registry.
const uploadGrace = 24 * time.Hour

// fetchTimeout bounds the wait for the first block of content this node
// lacks and the cluster should have.
const fetchTimeout = 30 * time.Second

// kuboDefaults are `ipfs add`'s settings with no flag: CIDv0, 256 KiB
// chunks, balanced layout, no raw leaves. A blob's CID is the one Kubo
// gives the same bytes.
var kuboDefaults = func() importer.Settings {
	s, err := importer.Params{}.Resolve()
	if err != nil {
		panic(err) // Kubo's defaults always resolve
	}
	return s
}()

// importContent adds the bytes of r to the node as a UnixFS file, durably,
// and keeps them from garbage collection for keep (uploadGrace for
// verified content: until an image's pin covers it).
func (g *Registry) importContent(ctx context.Context, r io.Reader, keep time.Duration) (blobRecord, error) {
	unlock := g.deps.Node.PinLock(ctx)
	defer unlock()
	cr := &countingReader{r: r}
	roots, err := importer.Add(ctx, g.deps.LocalDAG, files.NewSliceDirectory([]files.DirEntry{files.FileEntry("", files.NewReaderFile(cr))}), kuboDefaults, nil)
	if err != nil {
		return blobRecord{}, fmt.Errorf("import: %w", err)
	}
	if err := g.deps.Node.SyncBlocks(ctx); err != nil {
		return blobRecord{}, fmt.Errorf("sync blocks: %w", err)
	}
	root := roots[0].Node
	g.deps.Node.MarkReceived([]cid.Cid{root.Cid()}, keep)
	size, err := root.Size()
	if err != nil {
		return blobRecord{}, err
	}
	return blobRecord{Cid: root.Cid().String(), Size: cr.n, DagSize: size}, nil
}

// keepVerified extends the mark of content imported before its digest was
// checked (a streamed upload) to uploadGrace.
func (g *Registry) keepVerified(b blobRecord) {
	if c, err := cid.Decode(b.Cid); err == nil {
		g.deps.Node.MarkReceived([]cid.Cid{c}, uploadGrace)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// openContent opens a blob's content for reading, from this node or, when
// it lacks blocks, from the cluster's other peers.
func (g *Registry) openContent(ctx context.Context, b blobRecord) (io.ReadSeekCloser, error) {
	c, err := cid.Decode(b.Cid)
	if err != nil {
		return nil, fmt.Errorf("record holds a bad CID %q: %w", b.Cid, err)
	}
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	nd, err := g.deps.DAG.Get(fctx, c)
	if err != nil {
		return nil, errorf(503, codeUnavailable, "content %s is not available: %v", c, err)
	}
	// The file reads further blocks with ctx, the request's: a large blob
	// streams for as long as the client reads.
	f, err := unixfile.NewUnixfsFile(ctx, g.deps.DAG, nd)
	if err != nil {
		return nil, err
	}
	// A UnixFS file reader seeks: ranges read only their blocks.
	file, ok := f.(io.ReadSeekCloser)
	if !ok {
		f.Close()
		return nil, fmt.Errorf("content %s is not a file", c)
	}
	return file, nil
}

// readSmall reads the whole content of a small record (a manifest).
func (g *Registry) readSmall(ctx context.Context, b blobRecord) ([]byte, error) {
	f, err := g.openContent(ctx, b)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) != b.Size {
		return nil, fmt.Errorf("content %s has %d bytes, its record says %d", b.Cid, len(body), b.Size)
	}
	return body, nil
}

// bodyCache keeps recently served small manifests: they are immutable
// under their digest, and clients ask for the same few again and again
// (every pull of a tag reads its manifest).
type bodyCache struct {
	mu    sync.Mutex
	items map[digest][]byte // guarded by mu
	size  int               // bytes in items; guarded by mu
}

const (
	bodyCacheBytes   = 16 << 20
	bodyCacheItemMax = 256 << 10
)

func newBodyCache() *bodyCache { return &bodyCache{items: map[digest][]byte{}} }

func (c *bodyCache) get(d digest) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.items[d]
	return b, ok
}

func (c *bodyCache) put(d digest, b []byte) {
	if len(b) > bodyCacheItemMax {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size+len(b) > bodyCacheBytes {
		// Cheaper than an LRU, and as good for a working set that fits:
		// start over when full.
		clear(c.items)
		c.size = 0
	}
	if _, ok := c.items[d]; !ok {
		c.items[d] = b
		c.size += len(b)
	}
}
