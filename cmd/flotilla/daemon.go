package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-ipfs/flotilla/internal/config"
	"github.com/flotilla-ipfs/flotilla/internal/daemon"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

// bindDaemonFlags declares every daemon setting as a flag bound to its
// field; the same flag set is the schema of the environment and the file.
func bindDaemonFlags(fs *pflag.FlagSet, c *daemon.Config) {
	fs.BoolVar(&c.Offline, "offline", c.Offline, "run without any network: no swarm, no DHT")
	fs.StringVar(&c.GatewayListen, "gateway-listen", c.GatewayListen, "HTTP gateway address (host:port)")
	fs.StringVar(&c.RPCListen, "rpc-listen", c.RPCListen, "Kubo RPC API address (host:port)")
	fs.StringVar(&c.APIListen, "api-listen", c.APIListen, "cluster REST API address (host:port)")
	fs.StringVar(&c.PinSvcListen, "pinsvc-listen", c.PinSvcListen, "Pinning Service API address (host:port)")
	fs.StringVar(&c.OpsListen, "ops-listen", c.OpsListen, "metrics and health address (host:port)")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve Go's profiler under /debug/pprof/ on the ops address")
	fs.StringVar(&c.Auth.UsersFile, "api-auth-file", c.Auth.UsersFile, "users of the admin APIs (api, pinsvc, rpc) with bcrypt password hashes and scopes (default <data>/api-users.json, created with a generated admin password when an admin port is bound beyond loopback)")
	fs.StringVar(&c.Auth.AdminPassword, "api-admin-password", c.Auth.AdminPassword, "password of the admin user, hashed in memory; only as FLOTILLA_API_ADMIN_PASSWORD, from a platform's secret store (ECS secrets); elsewhere use --api-auth-file")
	config.MarkEnvironmentOnly(fs, "api-admin-password")
	fs.StringVar(&c.Auth.TLSCert, "tls-cert", c.Auth.TLSCert, "PEM certificate (chain) to serve the admin APIs over HTTPS; reloaded when the file changes")
	fs.StringVar(&c.Auth.TLSKey, "tls-key", c.Auth.TLSKey, "PEM private key of --tls-cert")
	fs.StringSliceVar(&c.Auth.TrustedProxies, "api-trusted-proxies", c.Auth.TrustedProxies, "CIDRs of load balancers whose X-Forwarded-For names the client (rate limits, audit log)")

	fs.StringArrayVar(&c.P2P.Listen, "swarm-listen", c.P2P.Listen, "swarm listen multiaddr (repeatable)")
	fs.StringArrayVar(&c.P2P.Announce, "swarm-announce", c.P2P.Announce, "address to announce instead of the bound ones, e.g. a public IP behind NAT (repeatable)")
	fs.StringVar(&c.P2P.SwarmKey, "swarm-key", c.P2P.SwarmKey, "private network key file (Kubo swarm.key format); TCP only")
	config.MarkSecret(fs, "swarm-key")
	fs.StringArrayVar(&c.P2P.Bootstrap, "bootstrap", c.P2P.Bootstrap, "bootstrap peer multiaddr (repeatable)")
	fs.IntVar(&c.P2P.ConnLow, "conn-low", c.P2P.ConnLow, "connection manager low water mark")
	fs.IntVar(&c.P2P.ConnHigh, "conn-high", c.P2P.ConnHigh, "connection manager high water mark")
	fs.BoolVar(&c.P2P.NATPortMap, "nat-portmap", c.P2P.NATPortMap, "ask the local router for a port mapping (UPnP/NAT-PMP)")
	fs.StringVar(&c.P2P.DHT, "dht", c.P2P.DHT, "DHT mode: server, client or off")

	fs.StringVar(&c.Storage.Backend, "blockstore", c.Storage.Backend, "where blocks live: flatfs (files in the data directory) or s3 (packs in a bucket; the data directory keeps their index and a read cache)")
	fs.StringVar(&c.Storage.Shard, "flatfs-shard", c.Storage.Shard, "flatfs sharding for a new block store: next-to-last/2 or next-to-last/3")
	fs.StringVar(&c.Storage.S3.Bucket, "s3-bucket", c.Storage.S3.Bucket, "S3 bucket of the blocks, which must exist (required with --blockstore s3); credentials come from the AWS SDK's default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared files, a task or instance role")
	fs.StringVar(&c.Storage.S3.Prefix, "s3-prefix", c.Storage.S3.Prefix, "key prefix of the blocks in the bucket (e.g. flotilla/zone-a), which the store treats as its own")
	fs.StringVar(&c.Storage.S3.Endpoint, "s3-endpoint", c.Storage.S3.Endpoint, "URL of an S3-compatible server; empty: AWS")
	fs.StringVar(&c.Storage.S3.Region, "s3-region", c.Storage.S3.Region, "region of the bucket; empty: the SDK's (AWS_REGION, shared config), us-east-1 with --s3-endpoint")
	fs.BoolVar(&c.Storage.S3.PathStyle, "s3-path-style", c.Storage.S3.PathStyle, "address the bucket in the URL path (http://host/bucket/key), as most S3-compatible servers want")
	fs.BoolVar(&c.Storage.S3.Shared, "s3-shared", c.Storage.S3.Shared, "every peer of the cluster uses this bucket and prefix: a block is stored once whatever the replication, and replicas add serving capacity, not durability")
	fs.DurationVar(&c.Storage.S3.CompactEvery, "s3-compact-interval", c.Storage.S3.CompactEvery, "how often packs that GC left mostly dead are rewritten and the old ones deleted after an hour (0: never); on a shared bucket the cluster's GC does it")
	fs.Int64Var(&c.Storage.S3.CacheSize, "s3-cache-size", c.Storage.S3.CacheSize, "bytes of the local disk cache of blocks read from S3 (at least 16 MiB)")
	fs.StringVar(&c.Node.Provide, "provide", c.Node.Provide, "what to announce on the DHT: roots, pinned, all or none")
	fs.DurationVar(&c.Node.ReprovideInterval, "reprovide-interval", c.Node.ReprovideInterval, "how often to announce the provided set again")

	fs.StringVar(&c.ClusterListen, "cluster-listen", c.ClusterListen, "cluster port, multiaddr or host:port (default /ip4/0.0.0.0/tcp/9096; 127.0.0.1:0 with --offline)")
	fs.StringVar(&c.ClusterAnnounce, "cluster-announce", c.ClusterAnnounce, "cluster address other peers dial, when it is not the bound one")
	fs.StringVar(&c.ClusterSecret, "cluster-secret", c.ClusterSecret, "cluster secret, hex (at least 32 digits); only as FLOTILLA_CLUSTER_SECRET, from a platform's secret store; elsewhere use --cluster-secret-file; default: generated in <data>/cluster/secret")
	config.MarkEnvironmentOnly(fs, "cluster-secret")
	fs.StringVar(&c.ClusterSecretFile, "cluster-secret-file", c.ClusterSecretFile, "file holding the hex cluster secret")
	fs.StringSliceVar(&c.Cluster.Join, "join", c.Cluster.Join, "join the cluster through these peers: host:port, DNS names or multiaddrs (comma-separated, repeatable)")
	fs.IntVar(&c.Cluster.BootstrapExpect, "bootstrap-expect", c.Cluster.BootstrapExpect, "form a new cluster once this many peers found each other through --join")
	fs.StringVar(&c.Cluster.Zone, "zone", c.Cluster.Zone, "failure domain of this peer (default: the ECS task's availability zone, when on ECS)")
	fs.StringVar(&c.Cluster.PeerName, "peername", c.Cluster.PeerName, "human name of this peer")
	fs.IntVar(&c.Cluster.ReplicationMin, "replication-min", c.Cluster.ReplicationMin, "default minimum replicas of a pin (-1: everywhere)")
	fs.IntVar(&c.Cluster.ReplicationMax, "replication-max", c.Cluster.ReplicationMax, "default maximum replicas of a pin (-1: everywhere)")
	fs.DurationVar(&c.Cluster.RepairAfter, "repair-after", c.Cluster.RepairAfter, "re-allocate the pins of a peer down this long")
	fs.DurationVar(&c.Cluster.DeadNodeTimeout, "dead-node-timeout", c.Cluster.DeadNodeTimeout, "remove a peer down this long from the cluster")

	fs.StringVar(&c.RegistryListen, "registry-listen", c.RegistryListen, "OCI registry address (host:port), for docker push/pull; empty disables")
	fs.IntVar(&c.Registry.ReplicationMin, "registry-replication-min", c.Registry.ReplicationMin, "minimum replicas of each pushed image (0: the cluster's --replication-min, -1: everywhere)")
	fs.IntVar(&c.Registry.ReplicationMax, "registry-replication-max", c.Registry.ReplicationMax, "maximum replicas of each pushed image (0: the cluster's --replication-max, -1: everywhere)")
	fs.BoolVar(&c.Registry.PublicPull, "registry-public-pull", c.Registry.PublicPull, "let anyone pull from the registry without credentials (pushing still needs the pin scope)")

	fs.StringArrayVar(&c.Gateway.PublicHosts, "gateway-public-host", c.Gateway.PublicHosts, "public gateway hostname: subdomain gateway (<cid>.ipfs.HOST) with DNSLink inlining, paths /ipfs and /ipns (repeatable)")
	fs.BoolVar(&c.Gateway.NoFetch, "gateway-no-fetch", c.Gateway.NoFetch, "gateway serves local content only: no fetching from peers, IPNS from local records")
	fs.StringArrayVar(&c.Gateway.Denylists, "gateway-denylist", c.Gateway.Denylists, "IPIP-383 denylist file (*.deny); blocked content answers 410 (repeatable)")
	fs.DurationVar(&c.Gateway.RetrievalTimeout, "gateway-retrieval-timeout", c.Gateway.RetrievalTimeout, "gateway: longest wait for the first byte and between writes (504 or truncation beyond); 0 disables")
	fs.IntVar(&c.Gateway.MaxConcurrentRequests, "gateway-max-concurrent-requests", c.Gateway.MaxConcurrentRequests, "gateway: requests served at once; beyond, 429 with Retry-After; 0 disables")
	fs.DurationVar(&c.Gateway.MaxRequestDuration, "gateway-max-request-duration", c.Gateway.MaxRequestDuration, "gateway: absolute deadline of one request")
	fs.Int64Var(&c.Gateway.BlockCacheBytes, "gateway-block-cache-bytes", c.Gateway.BlockCacheBytes, "gateway: memory for recently served small blocks; 0 disables")
	fs.IntVar(&c.Gateway.PathCacheEntries, "gateway-path-cache-entries", c.Gateway.PathCacheEntries, "gateway: resolved immutable paths kept in memory; 0 disables")
	fs.Int64Var(&c.Gateway.ResponseCacheBytes, "gateway-response-cache-bytes", c.Gateway.ResponseCacheBytes, "gateway: memory for whole small responses to immutable paths, replayed to identical requests; 0 disables (always off with denylists)")
}

func daemonCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run a flotilla peer",
		Long: `Run a flotilla peer. The first start creates the data directory and an
ed25519 identity. Every flag can also be given as a FLOTILLA_* environment
variable (--rpc-listen is FLOTILLA_RPC_LISTEN) or as a key of the settings
file; the command line wins, then the environment, then the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := overlayFile(cmd, g); err != nil {
				return err
			}
			log, err := g.logger(os.Stderr)
			if err != nil {
				return err
			}
			settings := func() any { return config.Show(cmd.Flags()) }
			return daemon.Run(cmd.Context(), g.cfg, settings, log, func(l repo.Listen) {
				if g.json {
					return // the structured "ready" log line carries the same facts
				}
				fmt.Fprintf(cmd.OutOrStdout(), "flotilla peer %s ready\n", l.PeerID)
				scheme := "http" // of the admin ports
				if l.TLS {
					scheme = "https"
				}
				for _, a := range l.Swarm {
					fmt.Fprintf(cmd.OutOrStdout(), "  swarm   %s\n", a)
				}
				if l.Gateway != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  gateway http://%s/ipfs/\n", l.Gateway)
				}
				if l.RPC != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  rpc     %s://%s/api/v0\n", scheme, l.RPC)
				}
				if l.API != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  api     %s://%s/id (IPFS Cluster REST API)\n", scheme, l.API)
				}
				if l.PinSvc != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  pinsvc  %s://%s/pins (IPFS Pinning Service API)\n", scheme, l.PinSvc)
				}
				if l.Registry != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  registry %s (OCI registry: docker push %s/<name>:<tag>)\n", l.Registry, l.Registry)
				}
				if l.Ops != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  ops     http://%s/metrics\n", l.Ops)
				}
			})
		},
	}
	bindDaemonFlags(cmd.Flags(), &g.cfg)
	return cmd
}

// overlayFile applies the settings file to the flags that neither the
// command line nor the environment set.
func overlayFile(cmd *cobra.Command, g *globals) error {
	path, optional := g.settingsFile()
	file, err := config.LoadFile(path, optional)
	if err != nil {
		return err
	}
	// The environment has already been applied (PersistentPreRunE), and
	// marked its flags as changed, so the file only fills the rest.
	return config.Overlay(cmd.Flags(), func(string) (string, bool) { return "", false }, file)
}

func configCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective daemon configuration (flags, FLOTILLA_* variables, settings file), secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := overlayFile(c, g); err != nil {
				return err
			}
			if err := g.cfg.Validate(); err != nil {
				return err
			}
			return printJSON(c.OutOrStdout(), config.Show(c.Flags()))
		},
	}
	bindDaemonFlags(show.Flags(), &g.cfg)
	cmd.AddCommand(show)
	return cmd
}
