// Package gateway serves a node's content over the IPFS HTTP gateway
// specifications (https://specs.ipfs.tech/http-gateways/): path, trustless,
// subdomain and DNSLink gateways, built on boxo's gateway handler over the
// node's block service.
//
// What flotilla adds around boxo: public hostnames from flags, a
// local-only (no-fetch) mode, IPIP-383 denylists (nopfs), and caches on the
// hot path: resolved immutable paths and small blocks are kept in memory,
// so that a popular small file costs no disk access and no DAG walk.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ipfs-shipyard/nopfs"
	nopfsipfs "github.com/ipfs-shipyard/nopfs/ipfs"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/exchange"
	offline "github.com/ipfs/boxo/exchange/offline"
	bsfetcher "github.com/ipfs/boxo/fetcher/impl/blockservice"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/path/resolver"
	"github.com/ipfs/go-unixfsnode"
	dagpb "github.com/ipld/go-codec-dagpb"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// Config is the gateway's part of a peer's settings.
type Config struct {
	// PublicHosts are the public hostnames of the gateway (e.g.
	// "dweb.link"): each one is a subdomain gateway
	// (<cid>.ipfs.<host>, <name>.ipns.<host>) with DNSLink inlining,
	// serving paths /ipfs and /ipns. Requests for other hosts are served
	// as a path gateway, or as a DNSLink gateway when the host has a
	// DNSLink record.
	PublicHosts []string
	// NoFetch serves only what the local store holds: nothing is fetched
	// from other peers and IPNS names resolve from local records only.
	NoFetch bool
	// Denylists are IPIP-383 denylist files (*.deny); content they block
	// answers 410 Gone. Appended rules take effect while running.
	Denylists []string
	// RetrievalTimeout bounds the time to the first byte and between two
	// writes of a response: 504 before the first byte, a truncated
	// response after. 0 disables it.
	RetrievalTimeout time.Duration
	// MaxConcurrentRequests caps the requests served at once; beyond it
	// the gateway answers 429 with Retry-After. 0 disables the cap.
	MaxConcurrentRequests int
	// MaxRequestDuration is an absolute deadline for one request.
	MaxRequestDuration time.Duration
	// BlockCacheBytes is the memory given to recently served blocks;
	// blocks over BlockCacheMaxBlock are never kept. 0 disables it.
	BlockCacheBytes    int64
	BlockCacheMaxBlock int
	// PathCacheEntries bounds the cache of resolved immutable paths.
	// 0 disables it.
	PathCacheEntries int
	// ResponseCacheBytes is the memory given to whole small responses
	// for immutable paths (each at most ResponseCacheMaxEntry bytes of
	// body), replayed to identical requests. 0 disables it; it is
	// always off with Denylists.
	ResponseCacheBytes    int64
	ResponseCacheMaxEntry int
}

// DefaultConfig is Kubo's gateway defaults (30 s retrieval timeout, 4096
// concurrent requests, localhost as a subdomain gateway) plus the caches.
func DefaultConfig() Config {
	return Config{
		PublicHosts:           []string{"localhost"},
		RetrievalTimeout:      gateway.DefaultRetrievalTimeout,
		MaxConcurrentRequests: gateway.DefaultMaxConcurrentRequests,
		MaxRequestDuration:    gateway.DefaultMaxRequestDuration,
		BlockCacheBytes:       64 << 20,
		BlockCacheMaxBlock:    1 << 20,
		PathCacheEntries:      16384,
		ResponseCacheBytes:    32 << 20,
		ResponseCacheMaxEntry: 64 << 10,
	}
}

// Validate checks the limits.
func (c Config) Validate() error {
	var errs []error
	if c.RetrievalTimeout < 0 {
		errs = append(errs, fmt.Errorf("gateway: retrieval timeout %s is negative", c.RetrievalTimeout))
	}
	if c.MaxConcurrentRequests < 0 {
		errs = append(errs, fmt.Errorf("gateway: max concurrent requests %d is negative", c.MaxConcurrentRequests))
	}
	if c.MaxRequestDuration < 0 {
		errs = append(errs, fmt.Errorf("gateway: max request duration %s is negative", c.MaxRequestDuration))
	}
	if c.BlockCacheBytes < 0 || c.BlockCacheMaxBlock < 0 || c.PathCacheEntries < 0 || c.ResponseCacheBytes < 0 || c.ResponseCacheMaxEntry < 0 {
		errs = append(errs, errors.New("gateway: cache sizes must not be negative"))
	}
	for _, h := range c.PublicHosts {
		if h == "" {
			errs = append(errs, errors.New("gateway: empty public host"))
		}
	}
	return errors.Join(errs...)
}

// Deps are what the gateway serves from.
type Deps struct {
	Node    *ipfs.Node            // non-nil
	Logger  *slog.Logger          // non-nil
	Metrics prometheus.Registerer // nil: a private registry
}

// Gateway is the HTTP handler of the gateway.
type Gateway struct {
	handler http.Handler
	blocker *nopfs.Blocker // nil without denylists
}

var _ http.Handler = (*Gateway)(nil)

// New wires the gateway, in order: block service (local only with
// NoFetch), denylist, caches, path resolver, name system, boxo backend,
// boxo handler.
func New(cfg Config, d Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{}
	n := d.Node

	// Blocks: the node's blockstore behind a cache of small blocks,
	// then the node's exchange (bitswap) unless NoFetch.
	bstore := newBlockCache(n.Blocks, cfg.BlockCacheBytes, cfg.BlockCacheMaxBlock)
	var exch exchange.Interface = n.Exchange
	if cfg.NoFetch || !n.Online() {
		exch = offline.Exchange(bstore)
	}
	var bserv blockservice.BlockService = blockservice.New(bstore, exch)

	// Names: local records only with NoFetch.
	var records routing.ValueStore = n.Records
	names := n.Names
	if cfg.NoFetch {
		var err error
		if names, records, err = n.OfflineNames(); err != nil {
			return nil, err
		}
	}

	// Paths: the UnixFS resolver (which also walks dag-cbor/dag-json
	// fields), memoised: an immutable path always resolves the same way.
	var res resolver.Resolver = newPathCache(newResolver(bserv), cfg.PathCacheEntries)

	// Denylists go outermost, so that neither cache can serve around
	// them, and rules appended at run time apply at once.
	if len(cfg.Denylists) > 0 {
		blocker, err := openDenylists(cfg.Denylists)
		if err != nil {
			return nil, err
		}
		g.blocker = blocker
		bserv = nopfsipfs.WrapBlockService(bserv, blocker)
		res = nopfsipfs.WrapResolver(res, blocker)
		names = nopfsipfs.WrapNameSystem(names, blocker)
	}

	backend, err := gateway.NewBlocksBackend(bserv,
		gateway.WithValueStore(records),
		gateway.WithNameSystem(names),
		gateway.WithResolver(res),
	)
	if err != nil {
		g.Close()
		return nil, err
	}

	reg := d.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	public := map[string]*gateway.PublicGateway{}
	for _, h := range cfg.PublicHosts {
		public[h] = &gateway.PublicGateway{
			Paths:                 []string{"/ipfs", "/ipns"},
			UseSubdomains:         true,
			InlineDNSLink:         true,
			DeserializedResponses: true,
		}
	}
	gcfg := gateway.Config{
		DeserializedResponses: true,
		// The CDN contract keeps X-Ipfs-Path next to Ipfs-Uri.
		DeprecatedXIpfsPath:   true,
		PublicGateways:        public,
		MaxConcurrentRequests: cfg.MaxConcurrentRequests,
		MaxRequestDuration:    cfg.MaxRequestDuration,
		MetricsRegistry:       reg,
		// RetrievalTimeout is ours (withRetrievalTimeout): boxo's runs
		// each request on a goroutine of its own.
	}
	be := errorMapper{b: backend, misses: newMissCache(4096, time.Minute)}
	mux := http.NewServeMux()
	content := gateway.NewHandler(gcfg, be)
	mux.Handle("/ipfs/", content)
	mux.Handle("/ipns/", content)
	var h http.Handler = gateway.NewHostnameHandler(gcfg, be, mux)
	h = gateway.NewHeaders(nil).WithDeprecatedXIpfsPath().ApplyCors().Wrap(h)
	h = withRetrievalTimeout(h, cfg.RetrievalTimeout, cfg.NoFetch || !n.Online())
	if g.blocker == nil {
		h = withResponseCache(h, cfg.PublicHosts, cfg.ResponseCacheBytes, cfg.ResponseCacheMaxEntry)
	}
	g.handler = h
	return g, nil
}

// ServeHTTP serves one gateway request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.handler.ServeHTTP(w, r)
}

// Close stops following the denylist files.
func (g *Gateway) Close() error {
	if g.blocker != nil {
		return g.blocker.Close()
	}
	return nil
}

// newResolver is the UnixFS path resolver over bs, as the node's own.
func newResolver(bs blockservice.BlockService) resolver.Resolver {
	fc := bsfetcher.NewFetcherConfig(bs)
	fc.PrototypeChooser = dagpb.AddSupportToChooser(bsfetcher.DefaultPrototypeChooser)
	return resolver.NewBasicResolver(fc.WithReifier(unixfsnode.Reify))
}

// openDenylists opens every denylist and follows it for appended rules.
// Unlike nopfs.NewBlocker, one unreadable file fails the start: a
// gateway that was told to block something must not serve it.
func openDenylists(files []string) (*nopfs.Blocker, error) {
	b := &nopfs.Blocker{Denylists: map[string]*nopfs.Denylist{}}
	for _, f := range files {
		dl, err := nopfs.NewDenylist(f, true)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("gateway: denylist %s: %w", f, err)
		}
		b.Denylists[f] = dl
	}
	return b, nil
}
