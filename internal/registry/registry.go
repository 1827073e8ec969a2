// Package registry serves the OCI Distribution Specification v1.1 (pull,
// push, content discovery, content management) over the node and the
// cluster:
//
//   - Content is IPFS content. A blob, once its upload is verified against
//     its digest, is imported into the node as `ipfs add` would with Kubo's
//     defaults (content.go): its CID is the one any IPFS tool computes, the
//     gateway serves it, bitswap exchanges it. Manifests are stored the
//     same way.
//   - Names are cluster records (records.go): digest → CID, repository →
//     tags → manifest, referrers. A push through one peer is read through
//     any other at once.
//   - Every manifest of a repository is a cluster pin of a small UnixFS
//     directory linking it with everything it references (image.go),
//     named repo:tag (repo@digest until tagged), with the registry's
//     replication. A layer shared by many images is one set of blocks
//     under many pins; deleting an image unpins what only it referenced.
//
// Uploads in progress are files under Deps.UploadDir (uploads.go), on the
// peer that started them; any other peer hands their requests to it
// (handoff.go), so a load balancer may send each request anywhere. The
// package talks to the cluster and the node through the small interfaces
// below, which *cluster.Peer and *ipfs.Node satisfy.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Config is the registry's own settings.
type Config struct {
	// ReplicationMin and ReplicationMax are the replication of every
	// image's pin; 0 leaves a bound to the cluster's default, -1 is every
	// peer.
	ReplicationMin int
	ReplicationMax int
	// PublicPull lets anyone pull (GET and HEAD) without credentials;
	// pushing still needs the pin scope.
	PublicPull bool
}

// DefaultConfig pins images with the cluster's default replication and
// asks for credentials to pull whenever the admin ports do.
func DefaultConfig() Config { return Config{} }

// Validate checks the replication bounds as a pin's are checked.
func (c Config) Validate() error {
	for name, v := range map[string]int{"registry-replication-min": c.ReplicationMin, "registry-replication-max": c.ReplicationMax} {
		if v < pin.Everywhere {
			return fmt.Errorf("%s %d: want -1 (every peer), 0 (the cluster's default) or a count", name, v)
		}
	}
	if c.ReplicationMin > 0 && c.ReplicationMax > 0 && c.ReplicationMin > c.ReplicationMax {
		return fmt.Errorf("registry-replication-min %d is above registry-replication-max %d", c.ReplicationMin, c.ReplicationMax)
	}
	return nil
}

// Scope is the guard's rule for the registry port: pulls need the read
// scope (none with PublicPull), pushes and deletions the pin scope.
func (c Config) Scope(r *http.Request) auth.Scope {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if c.PublicPull {
			return auth.ScopeNone
		}
		return auth.ScopeRead
	}
	return auth.ScopePin
}

// Cluster is what the registry needs of the cluster peer: its records and
// its pinset (*cluster.Peer satisfies it).
type Cluster interface {
	PutRecord(ctx context.Context, key string, value []byte) error
	DeleteRecord(ctx context.Context, key string) error
	// Record reads as of every acknowledged write.
	Record(ctx context.Context, key string) ([]byte, bool, error)
	// LocalRecord reads this peer's copy, without asking the leader.
	LocalRecord(key string) ([]byte, bool, error)
	Records(ctx context.Context, prefix, after string, fn func(key string, value []byte) error) error

	// Pin commits p; with Allocations set, the leader keeps them while
	// they are alive.
	Pin(ctx context.Context, p pin.Pin) (pin.Pin, error)
	Unpin(ctx context.Context, c cid.Cid) error
	// PinnedOn counts the peers that report c pinned.
	PinnedOn(ctx context.Context, c cid.Cid) (int, error)

	// ID is this peer's ID.
	ID() string
	// Allocate returns the peers a pin with p's options would be
	// allocated to now; nothing is committed.
	Allocate(ctx context.Context, p pin.Pin) ([]string, error)
	// StreamBlocks opens a block stream to peers (members' IDs).
	StreamBlocks(ctx context.Context, peers []string) (*blockstream.Stream, error)
	// DialAPI opens a connection to where the member id serves its
	// Handoff, for the requests of an upload it holds (handoff.go).
	DialAPI(ctx context.Context, id string) (net.Conn, error)
}

// Node is what the registry needs of the IPFS node besides its DAG
// services (*ipfs.Node satisfies it).
type Node interface {
	// PinLock holds garbage collection off until unlock.
	PinLock(ctx context.Context) (unlock func())
	// SyncBlocks makes every block written so far durable.
	SyncBlocks(ctx context.Context) error
	// MarkReceived keeps whole DAGs from garbage collection for ttl.
	MarkReceived(roots []cid.Cid, ttl time.Duration)
	// Received reports whether c is so marked.
	Received(c cid.Cid) bool
	// WalkLocal calls emit with every block of the DAG under root, from
	// this node only.
	WalkLocal(ctx context.Context, root cid.Cid, emit func(blocks.Block) error) error
}

// Deps are what the registry is built on.
type Deps struct {
	Cluster Cluster // non-nil
	Node    Node    // non-nil
	// LocalDAG writes into the node's blockstore, and reads it only.
	LocalDAG ipld.DAGService // non-nil
	// DAG reads, fetching from the cluster's other peers what this node
	// lacks (bitswap; offline, the same as LocalDAG).
	DAG ipld.DAGService // non-nil
	// UploadDir holds uploads in progress; emptied at start.
	UploadDir string
	Logger    *slog.Logger // non-nil
}

// Registry is the OCI distribution API's handler.
type Registry struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	records records

	mu      sync.Mutex
	uploads map[string]*upload // guarded by mu

	manifests *bodyCache
	handoff   *httputil.ReverseProxy // to the peer holding an upload
	now       func() time.Time
}

var _ http.Handler = (*Registry)(nil)

// New returns the registry. Uploads left by an earlier process are
// dropped: their sessions died with it, and clients start again.
func New(cfg Config, d Deps) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.UploadDir == "" {
		return nil, errors.New("registry: no upload directory")
	}
	if err := os.RemoveAll(d.UploadDir); err != nil {
		return nil, fmt.Errorf("registry: clear uploads: %w", err)
	}
	if err := os.MkdirAll(d.UploadDir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	g := &Registry{
		cfg: cfg, deps: d, log: d.Logger, records: records{d.Cluster},
		uploads: map[string]*upload{}, manifests: newBodyCache(), now: time.Now,
	}
	g.handoff = newHandoffProxy(g)
	return g, nil
}

// handler serves one route; an error it returns is answered by writeError.
type handler func(w http.ResponseWriter, r *http.Request, rt route) error

// ServeHTTP routes a request: one handler per route and method, errors
// answered in one place.
func (g *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.serve(w, r, false) }

// serve answers a request from a client, or, handedOver, one another peer
// handed to this one (Handoff).
func (g *Registry) serve(w http.ResponseWriter, r *http.Request, handedOver bool) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		writeErrorBody(w, errorf(http.StatusNotFound, codeNameUnknown, "no such route: %s", r.URL.Path))
		return
	}
	if !slices.Contains(methods[rt.kind], r.Method) {
		w.Header().Set("Allow", strings.Join(methods[rt.kind], ", "))
		writeErrorBody(w, errorf(http.StatusMethodNotAllowed, codeUnsupported, "%s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	if rt.repo != "" || (rt.kind != routeBase && rt.kind != routeCatalog) {
		if !validRepo(rt.repo) {
			writeErrorBody(w, errorf(http.StatusBadRequest, codeNameInvalid, "invalid repository name %q", rt.repo).with(map[string]string{"name": rt.repo}))
			return
		}
	}
	if owner, ok := g.heldElsewhere(rt); ok {
		if handedOver {
			writeErrorBody(w, notHeldHere(rt, owner))
			return
		}
		g.handOff(w, r, owner)
		return
	}
	var h handler
	switch rt.kind + " " + r.Method {
	case "base GET", "base HEAD":
		h = g.base
	case "catalog GET":
		h = g.catalog
	case "manifest GET", "manifest HEAD":
		h = g.getManifest
	case "manifest PUT":
		h = g.putManifest
	case "manifest DELETE":
		h = g.deleteManifest
	case "blob GET", "blob HEAD":
		h = g.getBlob
	case "blob DELETE":
		h = g.deleteBlob
	case "uploads POST":
		h = g.startUpload
	case "upload GET":
		h = g.uploadStatus
	case "upload PATCH":
		h = g.patchUpload
	case "upload PUT":
		h = g.finishUpload
	case "upload DELETE":
		h = g.cancelUpload
	case "tags GET":
		h = g.listTags
	case "referrers GET":
		h = g.listReferrers
	}
	if err := h(w, r, rt); err != nil {
		if r.Context().Err() == nil {
			var e *apiError
			if !errors.As(err, &e) || e.status >= 500 {
				g.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
		}
		writeError(w, err)
	}
}

// base answers the API's version check: 200 means "OCI distribution v2
// here, and you may use it" (the guard answered 401 otherwise).
func (g *Registry) base(w http.ResponseWriter, r *http.Request, _ route) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write([]byte("{}"))
	return err
}
