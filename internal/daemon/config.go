// Package daemon composes a peer: it opens the data directory and the
// stores, starts the network and the node, serves the HTTP endpoints, and
// shuts all of it down in reverse order. It is the only package that imports
// all the others.
package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/gateway"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
	"github.com/flotilla-ipfs/flotilla/internal/registry"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

// Config is everything a peer is configured with. Each part belongs to the
// package that uses it.
type Config struct {
	// Data is the data directory.
	Data string
	// Offline runs the node with no network at all: no swarm, no DHT.
	Offline bool
	// Listen addresses (host:port; port 0 picks a free port, empty
	// disables the service).
	GatewayListen string
	RPCListen     string
	APIListen     string
	PinSvcListen  string
	OpsListen     string
	// RegistryListen serves the OCI registry (see Registry).
	RegistryListen string
	// Pprof serves Go's profiler on the ops address (off by default: it
	// lets whoever reaches the port make the process work).
	Pprof bool

	Storage storage.Config
	P2P     p2p.Config
	Node    ipfs.Config
	Gateway gateway.Config
	API     restapi.Config
	Auth    AuthConfig
	// Registry is the OCI registry's: image replication, public pulls.
	Registry registry.Config

	// ClusterListen is the cluster port as a multiaddr or host:port;
	// empty picks 0.0.0.0:9096, or 127.0.0.1:0 when offline.
	ClusterListen string
	// ClusterAnnounce is the cluster address other peers dial; empty:
	// the bound one.
	ClusterAnnounce string
	// ClusterSecret (hex) or ClusterSecretFile authenticate cluster
	// traffic; with neither, a secret is generated in <data>/cluster/secret.
	ClusterSecret     string
	ClusterSecretFile string
	Cluster           cluster.Config
}

// DefaultConfig listens on loopback for every HTTP service and on port 4001
// of every interface for the swarm.
func DefaultConfig() Config {
	return Config{
		Data:      DefaultDataDir(),
		RPCListen: "127.0.0.1:5001",
		APIListen: "127.0.0.1:9094",
		OpsListen: "127.0.0.1:9090",
		Storage:   storage.DefaultConfig(),
		P2P:       p2p.DefaultConfig(),
		Node:      ipfs.DefaultConfig(),

		GatewayListen: "127.0.0.1:8080",
		PinSvcListen:  "127.0.0.1:9097",
		Gateway:       gateway.DefaultConfig(),
		API:           restapi.DefaultConfig(),
		Cluster:       cluster.DefaultConfig(),

		RegistryListen: "127.0.0.1:5000",
		Registry:       registry.DefaultConfig(),
	}
}

// DefaultDataDir is ~/.flotilla, or ./.flotilla when there is no home.
func DefaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".flotilla"
	}
	return filepath.Join(home, ".flotilla")
}

// Validate checks every part, naming the setting at fault.
func (c Config) Validate() error {
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("data directory is empty"))
	}
	for name, addr := range map[string]string{
		"gateway-listen": c.GatewayListen, "rpc-listen": c.RPCListen, "api-listen": c.APIListen,
		"pinsvc-listen": c.PinSvcListen, "ops-listen": c.OpsListen, "registry-listen": c.RegistryListen,
	} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	errs = append(errs, c.Storage.Validate(), c.Node.Validate(), c.Auth.validate(), c.Cluster.Validate())
	if c.GatewayListen != "" {
		errs = append(errs, c.Gateway.Validate())
	}
	if c.RegistryListen != "" {
		errs = append(errs, c.Registry.Validate())
	}
	if !c.Offline {
		errs = append(errs, c.P2P.Validate())
	}
	return errors.Join(errs...)
}
