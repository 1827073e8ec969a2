package daemon

import (
	"log/slog"
	"path/filepath"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/registry"
)

// The registry talks to the cluster and the node through its own small
// interfaces, which they satisfy as they are.
var (
	_ registry.Cluster = (*cluster.Peer)(nil)
	_ registry.Node    = (*ipfs.Node)(nil)
)

// registryUploads is where uploads in progress are staged, under the data
// directory (the same disk as the blocks they become).
const registryUploads = "registry/uploads"

// withRegistry adds the OCI registry to the services when it listens. It
// is an admin port: the guard (adminAPI) asks the read scope to pull and
// the pin scope to push, unless pulls are public. Its second service,
// registry-handoff, serves the requests of this peer's uploads that other
// peers took (behind a load balancer) on the cluster port's API protocol:
// only peers reach it, and it has no guard, the taking peer's having
// checked the client.
func withRegistry(cfg Config, services []service, node *ipfs.Node, peer *cluster.Peer, log *slog.Logger) ([]service, error) {
	if cfg.RegistryListen == "" {
		return services, nil
	}
	reg, err := registry.New(cfg.Registry, registry.Deps{
		Cluster: peer, Node: node, LocalDAG: node.LocalDAG, DAG: node.DAG,
		UploadDir: filepath.Join(cfg.Data, registryUploads),
		Logger:    log.With("component", "registry"),
	})
	if err != nil {
		return nil, err
	}
	return append(services,
		service{name: "registry", addr: cfg.RegistryListen, handler: reg},
		service{name: "registry-handoff", handler: reg.Handoff(), listener: peer.APIListener()},
	), nil
}

// adminAPI is the guard's rule and error shape for an admin service; the
// registry's rule depends on its configuration (public pulls).
func adminAPI(cfg Config, name string) (rule auth.Rule, fail auth.ErrorWriter, ok bool) {
	if name == "registry" {
		return cfg.Registry.Scope, registry.WriteError, true
	}
	api, ok := adminAPIs[name]
	return api.rule, api.fail, ok
}
