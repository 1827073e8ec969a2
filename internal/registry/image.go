package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	dag "github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// An image is pinned as one small UnixFS directory per manifest and
// repository, which the cluster replicates as any pin:
//
//	<root>/manifest           the manifest's content
//	<root>/repository         the repository's name (so that the same
//	                          manifest in two repositories is two pins)
//	<root>/sha256:<hex>       every blob and child manifest it references,
//	                          through its index children too
//
// Links are what make it cheap: the directory is a few hundred bytes
// whatever the image's size, a layer shared by many images is linked from
// each of their directories and stored once, and unpinning one image
// leaves every block another still links. The gateway lists it at
// /ipfs/<root>/.

// writeImageRoot stores the directory of manifest d (content m) and its
// parts into the node and returns its CID, and whether this node holds the
// whole image. The caller holds the pin lock until the pin is committed.
func (g *Registry) writeImageRoot(ctx context.Context, repo string, m blobRecord, parts map[digest]blobRecord) (cid.Cid, bool, error) {
	repoFile := dag.NodeWithData(unixfs.FilePBData([]byte(repo+"\n"), uint64(len(repo)+1)))
	dir := unixfs.EmptyDirNode()
	link := func(name string, b blobRecord) error {
		c, err := cid.Decode(b.Cid)
		if err != nil {
			return fmt.Errorf("record of %s holds a bad CID %q: %w", name, b.Cid, err)
		}
		return dir.AddRawLink(name, &ipld.Link{Cid: c, Size: b.DagSize})
	}
	if err := link("manifest", m); err != nil {
		return cid.Undef, false, err
	}
	if err := dir.AddRawLink("repository", &ipld.Link{Cid: repoFile.Cid(), Size: uint64(len(repoFile.RawData()))}); err != nil {
		return cid.Undef, false, err
	}
	names := make([]string, 0, len(parts))
	for d := range parts {
		names = append(names, string(d))
	}
	slices.Sort(names)
	for _, n := range names {
		if err := link(n, parts[digest(n)]); err != nil {
			return cid.Undef, false, err
		}
	}
	if err := g.deps.LocalDAG.AddMany(ctx, []ipld.Node{repoFile, dir}); err != nil {
		return cid.Undef, false, err
	}
	if err := g.deps.Node.SyncBlocks(ctx); err != nil {
		return cid.Undef, false, err
	}
	// When every part was imported here (and is kept until pinned), the
	// whole DAG is here: the mark lets this peer's tracker pin it without
	// a walk, and keeps it until the pin. Otherwise the parts come from
	// the peers that took them, over bitswap.
	whole := true
	for _, b := range append([]blobRecord{m}, mapValues(parts)...) {
		c, err := cid.Decode(b.Cid)
		if err != nil || !g.deps.Node.Received(c) {
			whole = false
			break
		}
	}
	if whole {
		g.deps.Node.MarkReceived([]cid.Cid{dir.Cid()}, uploadGrace)
	}
	return dir.Cid(), whole, nil
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// imagePin is the pin of an image's directory under name, with the
// registry's replication.
func (g *Registry) imagePin(root cid.Cid, name, repo string, d digest) pin.Pin {
	return pin.Pin{
		Cid: root, Name: name, Mode: pin.Recursive,
		ReplicationMin: g.cfg.ReplicationMin, ReplicationMax: g.cfg.ReplicationMax,
		Metadata: map[string]string{"oci-repository": repo, "oci-digest": string(d)},
	}
}

// commitPin pins an image's directory; a pin that exists keeps its
// allocations and takes the new name.
func (g *Registry) commitPin(ctx context.Context, root cid.Cid, name, repo string, d digest) (pin.Pin, error) {
	return g.deps.Cluster.Pin(ctx, g.imagePin(root, name, repo, d))
}

// sendImage sends the image under root, which this node holds whole, to
// the peers its pin will be allocated to, on a block stream, before the
// pin is committed, as the cluster-wide add does: they pin it without
// fetching a block (bitswap is several times slower between peers). It
// returns the allocations, for the pin to keep. A peer whose stream fails
// fetches the blocks once pinned.
func (g *Registry) sendImage(ctx context.Context, p pin.Pin) ([]string, error) {
	allocs, err := g.deps.Cluster.Allocate(ctx, p)
	if err != nil {
		return nil, err
	}
	self := g.deps.Cluster.ID()
	var dests []string
	for _, a := range allocs {
		if a != self { // holds every block already
			dests = append(dests, a)
		}
	}
	if len(dests) == 0 {
		return allocs, nil
	}
	s, err := g.deps.Cluster.StreamBlocks(ctx, dests)
	if err != nil {
		return nil, err
	}
	defer s.Abort()
	const batchBytes = 4 << 20
	var batch []blocks.Block
	size := 0
	flush := func() error {
		err := s.Put(ctx, batch)
		batch, size = nil, 0
		return err
	}
	err = g.deps.Node.WalkLocal(ctx, p.Cid, func(b blocks.Block) error {
		batch = append(batch, b)
		if size += len(b.RawData()); size >= batchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		_, err = s.Close(ctx, p.Cid)
	}
	if err != nil {
		g.log.Warn("could not send the image to its peers: they fetch it once pinned", "image", p.Name, "err", err)
	}
	return allocs, nil
}

// replicaWait bounds how long a manifest PUT waits for its replicas. A
// push that times out has its pin committed all the same (the peers keep
// fetching), so the client's retry finds it held; but the tag is only
// written by a PUT that saw the replicas.
const replicaWait = 10 * time.Minute

// waitReplicas returns once the pin's minimum number of peers hold it:
// an acknowledged push survives the peer that took it.
func (g *Registry) waitReplicas(ctx context.Context, p pin.Pin, name string) error {
	ctx, cancel := context.WithTimeout(ctx, replicaWait)
	defer cancel()
	want := p.ReplicationMin
	if want == pin.Everywhere || want > len(p.Allocations) || want <= 0 {
		want = len(p.Allocations)
	}
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 250*time.Millisecond) {
		n, err := g.deps.Cluster.PinnedOn(ctx, p.Cid)
		if err != nil {
			return err
		}
		if n >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("image %s is pinned on %d of %d peers so far: %w", name, n, want, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// renameImage gives an image's existing pin a new name, keeping its
// allocations.
func (g *Registry) renameImage(ctx context.Context, rec manifestRecord, name, repo string, d digest) error {
	root, err := cid.Decode(rec.Root)
	if err != nil {
		return err
	}
	_, err = g.commitPin(ctx, root, name, repo, d)
	return err
}

// unpinImage removes an image's pin; one already gone is fine.
func (g *Registry) unpinImage(ctx context.Context, rec manifestRecord) error {
	root, err := cid.Decode(rec.Root)
	if err != nil {
		return err
	}
	if err := g.deps.Cluster.Unpin(ctx, root); err != nil && !errors.Is(err, pin.ErrNotFound) {
		return err
	}
	return nil
}
