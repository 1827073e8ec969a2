package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
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
	var local, ready bool
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Show whether every peer is up, with its free space and alerts",
		Long: `Show every peer as the cluster's leader hears from it: up or down, when it
was last heard from, and its free space. It exits non-zero when a peer is
down (an alert), so that it can serve as a check. --json prints the REST
API's alerts and its ping and freespace metrics.

With --local, check only the daemon holding --data, through its ops port:
alive (/health), or with --ready also ready to serve (/ready: stores answer,
every service listens, a cluster leader is known). Exit status 0 or 1, for
container health checks, where there is no curl.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if local {
				return localHealth(cmd, g, ready)
			}
			if ready {
				return errors.New("--ready goes with --local")
			}
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
	cmd.Flags().BoolVar(&local, "local", false, "check the daemon holding --data through its ops port, not the cluster")
	cmd.Flags().BoolVar(&ready, "ready", false, "with --local: require readiness (/ready), not only liveness (/health)")
	bindAPIFlags(cmd.Flags(), &g.api)
	return cmd
}

// localHealth asks the ops port of the daemon holding the data directory
// for /health or /ready, and fails unless it answers 200. The address comes
// from listen.json, so any --ops-listen works; a wildcard host is reached
// on loopback.
func localHealth(cmd *cobra.Command, g *globals, ready bool) error {
	l, err := repo.ReadListen(g.cfg.Data)
	if err != nil || l.Ops == "" {
		return fmt.Errorf("no daemon's ops address in %s (not started yet, or --ops-listen is empty)", g.cfg.Data)
	}
	host, port, err := net.SplitHostPort(l.Ops)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	path := "/health"
	if ready {
		path = "/ready"
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if g.json {
		cmd.OutOrStdout().Write(body)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if !g.json {
		fmt.Fprintln(cmd.OutOrStdout(), strings.TrimPrefix(path, "/")+": ok")
	}
	return nil
}
