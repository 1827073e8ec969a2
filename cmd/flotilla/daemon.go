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

	fs.StringArrayVar(&c.P2P.Listen, "swarm-listen", c.P2P.Listen, "swarm listen multiaddr (repeatable)")
	fs.StringArrayVar(&c.P2P.Announce, "swarm-announce", c.P2P.Announce, "address to announce instead of the bound ones, e.g. a public IP behind NAT (repeatable)")
	fs.StringVar(&c.P2P.SwarmKey, "swarm-key", c.P2P.SwarmKey, "private network key file (Kubo swarm.key format); TCP only")
	config.MarkSecret(fs, "swarm-key")
	fs.StringArrayVar(&c.P2P.Bootstrap, "bootstrap", c.P2P.Bootstrap, "bootstrap peer multiaddr (repeatable)")
	fs.IntVar(&c.P2P.ConnLow, "conn-low", c.P2P.ConnLow, "connection manager low water mark")
	fs.IntVar(&c.P2P.ConnHigh, "conn-high", c.P2P.ConnHigh, "connection manager high water mark")
	fs.BoolVar(&c.P2P.NATPortMap, "nat-portmap", c.P2P.NATPortMap, "ask the local router for a port mapping (UPnP/NAT-PMP)")
	fs.StringVar(&c.P2P.DHT, "dht", c.P2P.DHT, "DHT mode: server, client or off")

	fs.StringVar(&c.Storage.Shard, "flatfs-shard", c.Storage.Shard, "flatfs sharding for a new block store: next-to-last/2 or next-to-last/3")
	fs.StringVar(&c.Node.Provide, "provide", c.Node.Provide, "what to announce on the DHT: roots, pinned, all or none")
	fs.DurationVar(&c.Node.ReprovideInterval, "reprovide-interval", c.Node.ReprovideInterval, "how often to announce the provided set again")
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
				for _, a := range l.Swarm {
					fmt.Fprintf(cmd.OutOrStdout(), "  swarm   %s\n", a)
				}
				if l.RPC != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  rpc     http://%s/api/v0\n", l.RPC)
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
