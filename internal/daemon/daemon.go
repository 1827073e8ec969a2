package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	cid "github.com/ipfs/go-cid"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-ipfs/flotilla/internal/adder"
	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/gateway"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
	"github.com/flotilla-ipfs/flotilla/internal/pinsvc"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
	"github.com/flotilla-ipfs/flotilla/internal/version"
)

// The APIs each define the small interface they need of the cluster, in the
// pin package's types and sentinels, and the cluster peer satisfies them as
// it is: no adapter translates between them.
var (
	_ restapi.Cluster     = (*cluster.Peer)(nil)
	_ restapi.Liveness    = (*cluster.Peer)(nil)
	_ pinsvc.Cluster      = (*cluster.Peer)(nil)
	_ kuborpc.Cluster     = (*cluster.Peer)(nil)
	_ adder.Cluster       = (*cluster.Peer)(nil)
	_ adder.SharedStorage = (*cluster.Peer)(nil)

	_ blockstream.Store = (*ipfs.Node)(nil)
)

// shutdownGrace bounds how long in-flight requests may run after a stop.
const shutdownGrace = 10 * time.Second

// Run starts a peer and serves until ctx is cancelled. settings reports the
// effective configuration (secrets redacted) for config/show. ready, if not
// nil, is called once every service listens.
func Run(ctx context.Context, cfg Config, settings func() any, log *slog.Logger, ready func(repo.Listen)) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	started := time.Now()
	reg := newMetrics()
	deps, packs := storageDeps(cfg, log, reg)
	st, err := OpenStores(ctx, cfg.Data, cfg.Storage, deps)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()

	ops := newOps(st, reg)
	nw, err := startNetwork(ctx, cfg, st.Repo, ops.reg)
	if err != nil {
		return err
	}
	if nw != nil {
		defer nw.Close()
	}
	node, err := ipfs.New(ctx, cfg.Node, ipfs.Deps{
		Blocks: st.Blocks, Meta: st.Meta, Network: nw, Logger: log.With("component", "ipfs"),
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, node.Close(), node.Pins.Close()) }()

	secret, err := clusterSecret(cfg, st.Repo.Dir("cluster"), log)
	if err != nil {
		return err
	}
	tokenKey, err := auth.TokenKey(secret)
	if err != nil {
		return err
	}
	peer, err := startCluster(ctx, cfg, st, node, nw, packs, secret, log.With("component", "cluster"))
	if err != nil {
		return err
	}
	// Stopped before the node: a graceful leave hands off leadership while
	// everything still works.
	defer func() { err = errors.Join(err, peer.Stop()) }()
	registerStateMetrics(ops.reg, peer.Counts)
	stopPacks := sharePacks(ctx, packs, peer, st.S3)
	defer stopPacks() // before the peer stops
	compactCtx, stopCompacting := context.WithCancel(ctx)
	defer stopCompacting() // before the stores close, which waits for a compaction to end
	go compactPacks(compactCtx, st.S3, log.With("component", "s3"))

	ipnsNames, err := startNames(ctx, peer, node, nw, st.Repo.Identity, secret, log.With("component", "names"))
	if err != nil {
		return err
	}

	gw, err := newGateway(cfg, node, ops, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, gw.Close()) }()

	tokens := auth.NewTokens(tokenKey, peer)
	rest := restapi.NewHandler(cfg.API, restapi.Deps{
		Cluster: restCluster{peer, nw}, Version: version.Get().Version, Commit: version.Get().Commit, Logger: log.With("component", "restapi"),
		DownAfter: cfg.Cluster.DownAfter,
		Tokens:    tokens,
		Adder:     adder.New(adder.Deps{Cluster: peer, Node: node, SwarmAddrs: swarmAddrsOf(nw, st.Repo.ID.String())}),
		Resolve: func(ctx context.Context, s string) (cid.Cid, error) {
			p, err := node.ResolvePath(ctx, s)
			if err != nil {
				return cid.Undef, err
			}
			return node.Resolve(ctx, p)
		},
	})
	services := []service{
		{name: "gateway", addr: cfg.GatewayListen, handler: gw},
		{name: "rpc", addr: cfg.RPCListen, handler: kuborpc.NewHandler(kuborpc.Deps{
			Node: node, Cluster: peer, Identity: st.Repo.Identity, RepoPath: st.Repo.Path, Config: settings, S3: st.S3Stat, Names: ipnsNames, GC: sharedGC(peer), Logger: log.With("component", "rpc"),
		})},
		{name: "api", addr: cfg.APIListen, handler: rest},
		{name: "pinsvc", addr: cfg.PinSvcListen, handler: pinsvc.NewHandler(pinsvc.Deps{
			Cluster: peer, Logger: log.With("component", "pinsvc"), Owner: pinsvc.OwnerOf,
		})},
		{name: "ops", addr: cfg.OpsListen, handler: ops.handler(cfg.Pprof)},
	}
	if services, err = withRegistry(cfg, services, node, peer, log); err != nil {
		return err
	}
	guard, err := guardServices(cfg, tokens, services, log)
	if err != nil {
		return err
	}
	// Bind every listener before serving any, so that a port conflict
	// fails the start cleanly and listen.json is complete when written.
	for i := range services {
		if services[i].addr == "" {
			continue
		}
		l, err := net.Listen("tcp", services[i].addr)
		if err != nil {
			closeListeners(services)
			return fmt.Errorf("%s: listen on %s: %w", services[i].name, services[i].addr, err)
		}
		if services[i].tls != nil {
			l = tls.NewListener(l, services[i].tls)
		}
		services[i].listener = l
	}

	listen := repo.Listen{PID: os.Getpid(), PeerID: st.Repo.ID.String(), Cluster: peer.Addr(), TLS: cfg.Auth.TLSCert != ""}
	if nw != nil {
		for _, a := range nw.Host.Addrs() {
			listen.Swarm = append(listen.Swarm, a.String()+"/p2p/"+st.Repo.ID.String())
		}
	}
	for _, s := range services {
		if s.listener == nil {
			continue
		}
		addr := s.listener.Addr().String()
		switch s.name {
		case "gateway":
			listen.Gateway = addr
		case "rpc":
			listen.RPC = addr
		case "api":
			listen.API = addr
		case "pinsvc":
			listen.PinSvc = addr
		case "ops":
			listen.Ops = addr
		case "registry":
			listen.Registry = addr
		}
	}
	if err := mountConsole(cfg, services, consoleDeps{peer: peer, guard: guard, tokens: tokens, rest: rest, metrics: ops.reg,
		secret: secret, gateway: listen.Gateway, log: log.With("component", "console")}); err != nil {
		closeListeners(services)
		return err
	}
	if err := st.Repo.WriteListen(listen); err != nil {
		closeListeners(services)
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	var servers []*http.Server
	for _, s := range services {
		if s.listener == nil {
			continue
		}
		srv := &http.Server{
			Handler:           instrument(ops.reg, s.name, s.handler),
			ReadHeaderTimeout: 10 * time.Second,
			// Oversized headers get 431 before any handler runs.
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		servers = append(servers, srv)
		g.Go(func() error {
			if err := srv.Serve(s.listener); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	ops.cluster = peer.Readiness
	ops.serving.Store(true)
	log.Info("ready", "peer_id", listen.PeerID, "gateway", listen.Gateway, "rpc", listen.RPC, "api", listen.API, "pinsvc", listen.PinSvc, "ops", listen.Ops, "registry", listen.Registry, "cluster", listen.Cluster,
		"swarm", listen.Swarm, "offline", cfg.Offline, "data", st.Repo.Path, "took", time.Since(started).Round(time.Millisecond).String())
	if ready != nil {
		ready(listen)
	}

	// A peer that cannot apply what the cluster agreed on must not serve:
	// the process exits with the reason, the orchestrator restarts it, and
	// raft replays the log from what the state holds.
	g.Go(func() error {
		select {
		case <-peer.Stopped():
			return fmt.Errorf("cluster: %w", peer.Err())
		case <-gctx.Done():
			return nil
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		var errs []error
		for _, srv := range servers {
			errs = append(errs, srv.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})
	return g.Wait()
}

// newGateway builds the gateway, or a closed stub when it does not listen.
func newGateway(cfg Config, node *ipfs.Node, ops *ops, log *slog.Logger) (*gateway.Gateway, error) {
	if cfg.GatewayListen == "" {
		return &gateway.Gateway{}, nil
	}
	return gateway.New(cfg.Gateway, gateway.Deps{Node: node, Logger: log.With("component", "gateway"), Metrics: ops.reg})
}

type service struct {
	name     string
	addr     string
	handler  http.Handler
	listener net.Listener
	tls      *tls.Config // nil: plain HTTP
}

func closeListeners(services []service) {
	for _, s := range services {
		if s.listener != nil {
			s.listener.Close()
		}
	}
}
