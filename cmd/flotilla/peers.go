package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
)

// clusterCommands registers the commands about the cluster itself.
func clusterCommands(root *cobra.Command, g *globals) {
	root.AddCommand(statusCmd(g), peersCmd(g), healthCmd(g))
}

func peersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "peers", Short: "List and remove the cluster's peers (through a daemon's REST API)"}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the cluster's peers",
		Long: `List the cluster's peers: ID, name, cluster address and version. --json
prints IPFS Cluster's ID objects, one per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				var ids []apiclient.ID
				if err := c.Peers(ctx, func(id apiclient.ID) error { ids = append(ids, id); return nil }); err != nil {
					return err
				}
				if g.json {
					for _, id := range ids {
						if err := printJSONLine(cmd.OutOrStdout(), id); err != nil {
							return err
						}
					}
					return nil
				}
				tw := table(cmd.OutOrStdout(), "ID", "NAME", "ADDRESS", "VERSION")
				defer tw.Flush()
				for _, id := range ids {
					addr := "-"
					if len(id.Addresses) > 0 {
						addr = id.Addresses[0]
					}
					if id.Error != "" {
						addr = "error: " + id.Error
					}
					row(tw, id.ID, dash(id.Peername), addr, dash(id.Version))
				}
				return nil
			})
		},
	}
	bindAPIFlags(ls.Flags(), &g.api)
	rm := &cobra.Command{
		Use:   "rm PEER-ID",
		Short: "Remove a peer from the cluster; its pins are allocated to the others",
		Long: `Remove a peer from the cluster: the pins allocated to it are allocated to the
other peers at once, then it leaves the member list and the consensus. A
removed peer that still runs is not stopped: it no longer receives the
pinset; stop it, or restart it with --join to bring it back.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := peer.Decode(args[0])
			if err != nil {
				return fmt.Errorf("%q is not a peer ID: %v", args[0], err)
			}
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				if err := c.RemovePeer(ctx, id.String()); err != nil {
					return fmt.Errorf("peers rm %s: %w", id, err)
				}
				return g.out(cmd, map[string]string{"removed": id.String()}, func(w io.Writer) { fmt.Fprintf(w, "removed %s\n", id) })
			})
		},
	}
	bindAPIFlags(rm.Flags(), &g.api)
	cmd.AddCommand(ls, rm)
	return cmd
}

// healthReport is what health --json prints: the API's answers as they
// are.
type healthReport struct {
	Alerts    []apiclient.Alert  `json:"alerts"`
	Ping      []apiclient.Metric `json:"ping"`
	FreeSpace []apiclient.Metric `json:"freespace"`
}

func healthCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Show whether every peer is up, with its free space and alerts",
		Long: `Show every peer as the cluster's leader hears from it: up or down, when it
was last heard from, and its free space. It exits non-zero when a peer is
down (an alert), so that it can serve as a check. --json prints the REST
API's alerts and its ping and freespace metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var down int
			err := g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				var r healthReport
				var err error
				if r.Alerts, err = c.Alerts(ctx); err != nil {
					return err
				}
				if r.Ping, err = c.Metrics(ctx, "ping"); err != nil {
					return err
				}
				if r.FreeSpace, err = c.Metrics(ctx, "freespace"); err != nil {
					return err
				}
				down = len(r.Alerts)
				if g.json {
					return printJSON(cmd.OutOrStdout(), r)
				}
				names, err := g.peerNames(ctx, c)
				if err != nil {
					return err
				}
				free := map[string]string{}
				for _, m := range r.FreeSpace {
					if n, err := strconv.ParseUint(m.Value, 10, 64); err == nil {
						free[m.Peer] = bytesIEC(n)
					}
				}
				slices.SortFunc(r.Ping, func(a, b apiclient.Metric) int { return strings.Compare(names.label(a.Peer), names.label(b.Peer)) })
				now := time.Now()
				tw := table(cmd.OutOrStdout(), "PEER", "NAME", "STATE", "LAST SEEN", "FREE SPACE")
				for _, m := range r.Ping {
					state := "up"
					if !m.Valid {
						state = "DOWN"
					}
					seen := time.Time{}
					if m.ReceivedAt != 0 {
						seen = time.Unix(0, m.ReceivedAt)
					}
					row(tw, m.Peer, dash(names[m.Peer]), state, ago(seen, now), dash(free[m.Peer]))
				}
				tw.Flush()
				for _, a := range r.Alerts {
					fmt.Fprintf(cmd.OutOrStdout(), "alert: %s is down since %s\n", names.label(a.Peer), a.TriggeredAt.Local().Format(time.RFC3339))
				}
				return nil
			})
			if err == nil && down > 0 {
				err = fmt.Errorf("%d of the cluster's peers are down", down)
			}
			return err
		},
	}
	bindAPIFlags(cmd.Flags(), &g.api)
	return cmd
}
