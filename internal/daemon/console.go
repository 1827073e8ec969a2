package daemon

import (
	"crypto/hkdf"
	"crypto/sha256"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/console"
	"github.com/flotilla-ipfs/flotilla/internal/version"
)

var (
	_ console.Cluster = (*cluster.Peer)(nil)
	_ console.Auth    = (*auth.Guard)(nil)
	_ console.Tokens  = (*auth.Tokens)(nil)
)

// consoleDeps are what mountConsole builds the console from.
type consoleDeps struct {
	peer    *cluster.Peer
	guard   *auth.Guard
	tokens  *auth.Tokens
	rest    http.Handler // the REST API, unguarded: the console authenticates itself
	metrics prometheus.Gatherer
	secret  []byte
	gateway string // the gateway's bound host:port, "" when it does not listen
	log     *slog.Logger
}

// mountConsole serves the web console under /ui/ on the REST API's port,
// next to the API (already behind the guard): the same listener and TLS,
// and the same users and tokens through the guard it is given. The
// console keeps its own sessions (a cookie holding a token), so it is not
// behind the guard's Authorization-header check.
func mountConsole(cfg Config, services []service, d consoleDeps) error {
	i := -1
	for j, s := range services {
		if s.name == "api" {
			i = j
		}
	}
	if i < 0 || services[i].listener == nil {
		return nil
	}
	// The key of the CSRF tokens is the same on every peer (a page served
	// by one may post to another behind a load balancer), and is not the
	// token key itself.
	key, err := hkdf.Key(sha256.New, d.secret, []byte("flotilla console"), "csrf v1", 32)
	if err != nil {
		return err
	}
	gw := ""
	if d.gateway != "" {
		gw = "http://" + d.gateway
	}
	ccfg := console.DefaultConfig()
	if cfg.Cluster.DownAfter > 0 {
		ccfg.DownAfter = cfg.Cluster.DownAfter
	}
	ui, err := console.New(ccfg, console.Deps{
		Cluster: d.peer, Auth: d.guard, Tokens: d.tokens, API: d.rest, Metrics: d.metrics, Key: key,
		Version: version.Get().Version, GatewayURL: gw, Logger: d.log,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, ui)
	mux.Handle("/", services[i].handler)
	services[i].handler = mux
	return nil
}
