package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	cid "github.com/ipfs/go-cid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
	"github.com/flotilla-ipfs/flotilla/internal/config"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

// pinCmd groups the pin commands. A pin is a cluster pin, made through a
// daemon's REST API (a lone daemon is a one-peer cluster); only verify
// looks at this node's storage.
func pinCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pin",
		Short: "Manage the cluster's pins (through a daemon's REST API)",
		Long: `Manage the cluster's pins through the REST API of a running daemon: the one
holding --data, or the one --api names. The cluster's leader allocates each
pin to peers by zone and free space, and those peers fetch and keep it.
"pin verify" alone works on this node's storage, with or without a daemon.`,
	}
	cmd.AddCommand(pinAddCmd(g), pinRmCmd(g), pinLsCmd(g), pinUpdateCmd(g), pinVerifyCmd(g))
	return cmd
}

// pinFlags are the options of a pin, as ipfs-cluster-ctl's pin add.
type pinFlags struct {
	replication, replMin, replMax int
	name, mode                    string
	expireIn                      time.Duration
	meta, allocations             []string
}

func (f *pinFlags) bind(fs *pflag.FlagSet) {
	fs.IntVar(&f.replication, "replication", 0, "replicas, both minimum and maximum (-1: on every peer)")
	fs.IntVar(&f.replMin, "replication-min", 0, "fewest replicas the pin accepts (default: the cluster's)")
	fs.IntVar(&f.replMax, "replication-max", 0, "most replicas the pin gets (default: the cluster's)")
	fs.StringVar(&f.name, "name", "", "name of the pin")
	fs.StringVar(&f.mode, "mode", "recursive", "recursive (the whole DAG) or direct (the named block only)")
	fs.DurationVar(&f.expireIn, "expire-in", 0, "remove the pin this long from now (e.g. 720h)")
	fs.StringArrayVar(&f.meta, "meta", nil, "metadata key=value (repeatable)")
	fs.StringSliceVar(&f.allocations, "allocations", nil, "peer IDs to allocate first (comma-separated)")
	config.MarkCommandLineOnly(fs, "replication", "replication-min", "replication-max", "name", "mode", "expire-in", "meta", "allocations")
}

// options checks the flags and turns them into the API's options.
func (f *pinFlags) options(cmd *cobra.Command) (apiclient.PinOptions, error) {
	o := apiclient.PinOptions{ReplicationMin: f.replMin, ReplicationMax: f.replMax, Name: f.name, ExpireIn: f.expireIn, Allocations: f.allocations}
	if cmd.Flags().Changed("replication") {
		if cmd.Flags().Changed("replication-min") || cmd.Flags().Changed("replication-max") {
			return o, errors.New("--replication sets both bounds: give it, or --replication-min and --replication-max, not both")
		}
		o.ReplicationMin, o.ReplicationMax = f.replication, f.replication
	}
	switch f.mode {
	case "recursive":
	case "direct":
		o.Mode = f.mode
	default:
		return o, fmt.Errorf("--mode %q: want recursive or direct", f.mode)
	}
	if cmd.Flags().Changed("expire-in") && f.expireIn < time.Second {
		return o, fmt.Errorf("--expire-in %s: want a duration of a second or more, such as 24h", f.expireIn)
	}
	var err error
	o.Metadata, err = parseMeta(f.meta)
	return o, err
}

// parseMeta reads key=value pairs.
func parseMeta(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	meta := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--meta %q: want key=value", kv)
		}
		meta[k] = v
	}
	return meta, nil
}

// checkTarget refuses what is neither a CID nor a content path before any
// request.
func checkTarget(s string) error {
	for _, p := range []string{"/ipfs/", "/ipns/", "/ipld/"} {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return nil
		}
	}
	if _, err := cid.Decode(s); err != nil {
		return fmt.Errorf("%q is not a CID or an /ipfs/, /ipns/ or /ipld/ path: %v", s, err)
	}
	return nil
}

// waitFlags are --wait and its bounds, as ipfs-cluster-ctl's.
type waitFlags struct {
	wait    bool
	timeout time.Duration
	limit   int
}

func (w *waitFlags) bind(fs *pflag.FlagSet, what string) {
	fs.BoolVar(&w.wait, "wait", false, "wait until "+what)
	fs.DurationVar(&w.timeout, "wait-timeout", 0, "give up waiting after this long (0: never)")
	fs.IntVar(&w.limit, "wait-limit", 0, "with --wait, peers that must be done (0: every allocation)")
	config.MarkCommandLineOnly(fs, "wait", "wait-timeout", "wait-limit")
}

// waitStatus polls the status of c until done says so, failing on a pin
// error.
func (w *waitFlags) waitStatus(ctx context.Context, cl *apiclient.Client, c string, done func(apiclient.GlobalPinInfo) bool) (apiclient.GlobalPinInfo, error) {
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		info, err := cl.Status(ctx, c, false)
		if err != nil {
			return info, err
		}
		for _, id := range sortedPeers(info) {
			if st := info.PeerMap[id]; st.Status == "pin_error" || st.Status == "unpin_error" {
				return info, fmt.Errorf("%s on %s: %s: %s", c, id, st.Status, st.Error)
			}
		}
		if done(info) {
			return info, nil
		}
		select {
		case <-ctx.Done():
			return info, fmt.Errorf("gave up waiting for %s: %w", c, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// pinned says whether enough peers hold the pin: --wait-limit, else every
// allocation.
func (w *waitFlags) pinned(info apiclient.GlobalPinInfo) bool {
	want := w.limit
	if want <= 0 {
		want = len(info.Allocations)
	}
	return counts(info)["pinned"] >= max(want, 1)
}

// unpinned says whether no peer holds the pin any longer.
func unpinned(info apiclient.GlobalPinInfo) bool {
	for _, st := range info.PeerMap {
		if st.Status != "unpinned" && st.Status != "remote" {
			return false
		}
	}
	return true
}

func counts(info apiclient.GlobalPinInfo) map[string]int {
	n := map[string]int{}
	for _, st := range info.PeerMap {
		n[st.Status]++
	}
	return n
}

func sortedPeers(info apiclient.GlobalPinInfo) []string {
	ids := make([]string, 0, len(info.PeerMap))
	for id := range info.PeerMap {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func pinAddCmd(g *globals) *cobra.Command {
	var f pinFlags
	var w waitFlags
	var from string
	cmd := &cobra.Command{
		Use:   "add CID|PATH... | --from FILE|-",
		Short: "Pin content in the cluster; the allocated peers fetch it",
		Long: `Pin CIDs (or what /ipfs, /ipns and /ipld paths resolve to now) in the cluster.
The answer comes once the pin is committed; the allocated peers then fetch
the content. With --wait, it comes once they hold it.

--from FILE (- for stdin) pins in bulk, for moving a pinset from another
service: one pin per line, a CID or a JSON object with the fields of a pin
as 'pin ls --json' prints them (cid, name, mode, replication_factor_min,
replication_factor_max, expire_at, metadata, origins). The lines stream
to the cluster, which commits them thousands at a time; a bad line fails
alone and is reported with its number. The exit status is 1 if any failed.

--json prints the pin (with --wait: its status on every peer), as the
REST API answers it; with --from, one answer per line.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if from != "" {
				if len(args) > 0 {
					return errors.New("pin add: give CIDs or --from, not both")
				}
				return nil
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if from != "" {
				if w.wait || slices.ContainsFunc(pinOptionFlags, cmd.Flags().Changed) {
					return errors.New("pin add --from: options go on each line (as JSON), not on the command line; --wait is not taken")
				}
				return g.pinFrom(cmd, from)
			}
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			for _, a := range args {
				if err := checkTarget(a); err != nil {
					return err
				}
			}
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				names, err := g.peerNames(ctx, c)
				if err != nil {
					return err
				}
				for _, a := range args {
					p, err := c.Pin(ctx, a, o)
					if err != nil {
						return fmt.Errorf("pin add %s: %w", a, err)
					}
					if !w.wait {
						if err := g.out(cmd, p, func(wr io.Writer) {
							fmt.Fprintf(wr, "pinned %s%s: replication %s, allocated to %s\n", p.Cid, quoted(p.Name), replication(p), names.labels(p.Allocations))
						}); err != nil {
							return err
						}
						continue
					}
					info, err := w.waitStatus(ctx, c, p.Cid, w.pinned)
					if err != nil {
						return err
					}
					if err := g.out(cmd, info, func(wr io.Writer) {
						fmt.Fprintf(wr, "pinned %s%s on %s\n", info.Cid, quoted(info.Name), names.labels(statusPeers(info, "pinned")))
					}); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	f.bind(cmd.Flags())
	w.bind(cmd.Flags(), "the allocated peers hold the content")
	cmd.Flags().StringVar(&from, "from", "", "pin every line of FILE (- for stdin): a CID or a JSON pin object per line")
	bindAPIFlags(cmd.Flags(), &g.api)
	return cmd
}

func pinRmCmd(g *globals) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "rm CID|PATH...",
		Short: "Remove pins from the cluster; the peers holding them drop them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if err := checkTarget(a); err != nil {
					return err
				}
			}
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				for _, a := range args {
					p, err := c.Unpin(ctx, a)
					var ae *apiclient.Error
					if errors.As(err, &ae) && ae.Code == 404 {
						return fmt.Errorf("pin rm %s: not pinned in the cluster (content added without a daemon is pinned on its node only: `flotilla pin add` it to manage it)", a)
					}
					if err != nil {
						return fmt.Errorf("pin rm %s: %w", a, err)
					}
					if w.wait {
						if _, err := w.waitStatus(ctx, c, p.Cid, unpinned); err != nil {
							return err
						}
					}
					if err := g.out(cmd, p, func(wr io.Writer) { fmt.Fprintf(wr, "unpinned %s%s\n", p.Cid, quoted(p.Name)) }); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	w.bind(cmd.Flags(), "every peer reports the pin unpinned")
	bindAPIFlags(cmd.Flags(), &g.api)
	return cmd
}

func pinLsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls [CID...]",
		Short: "List the cluster's pins with their options and allocations",
		Long: `List the cluster's pins (or the given ones) with their options and the
peers allocated to hold them. --json prints one pin per line, as the REST
API's /allocations.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if _, err := cid.Decode(a); err != nil {
					return fmt.Errorf("%q is not a CID: %v", a, err)
				}
			}
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				names := peerNames{}
				var tw *tabwriter.Writer
				if !g.json {
					var err error
					if names, err = g.peerNames(ctx, c); err != nil {
						return err
					}
					tw = table(cmd.OutOrStdout(), "CID", "NAME", "MODE", "REPLICATION", "ALLOCATIONS", "EXPIRES", "METADATA")
					defer tw.Flush()
				}
				emit := func(p apiclient.Pin) error {
					if g.json {
						return printJSONLine(cmd.OutOrStdout(), p)
					}
					expires := "-"
					if !p.ExpireAt.IsZero() {
						expires = p.ExpireAt.Local().Format(time.RFC3339)
					}
					row(tw, p.Cid, dash(p.Name), p.Mode, replication(p), names.labels(p.Allocations), expires, metaString(p.Metadata))
					return nil
				}
				if len(args) == 0 {
					return c.Allocations(ctx, emit)
				}
				for _, a := range args {
					p, err := c.Allocation(ctx, a)
					var ae *apiclient.Error
					if errors.As(err, &ae) && ae.Code == 404 {
						return fmt.Errorf("%s is not pinned in the cluster", a)
					}
					if err != nil {
						return err
					}
					if err := emit(p); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	bindAPIFlags(cmd.Flags(), &g.api)
	return cmd
}

func pinUpdateCmd(g *globals) *cobra.Command {
	var w waitFlags
	var name string
	var expireIn time.Duration
	var unpin bool
	cmd := &cobra.Command{
		Use:   "update FROM TO",
		Short: "Pin TO with the options and peers of the pin FROM, fetching only the difference",
		Long: `Pin TO as the pin FROM is: same options, same peers, which fetch only the
blocks they do not hold yet. FROM stays pinned, as with ipfs-cluster-ctl;
--unpin removes it once TO is pinned everywhere it is allocated.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to := args[0], args[1]
			for _, a := range args {
				if _, err := cid.Decode(a); err != nil {
					return fmt.Errorf("%q is not a CID: %v", a, err)
				}
			}
			if cmd.Flags().Changed("expire-in") && expireIn < time.Second {
				return fmt.Errorf("--expire-in %s: want a duration of a second or more, such as 24h", expireIn)
			}
			if unpin {
				w.wait = true // FROM goes only once TO is safe
			}
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				names, err := g.peerNames(ctx, c)
				if err != nil {
					return err
				}
				p, err := c.Pin(ctx, to, apiclient.PinOptions{PinUpdate: from, Name: name, ExpireIn: expireIn})
				var ae *apiclient.Error
				if errors.As(err, &ae) && ae.Code == 404 {
					return fmt.Errorf("pin update: %s is not pinned in the cluster (%w)", from, err)
				}
				if err != nil {
					return fmt.Errorf("pin update %s %s: %w", from, to, err)
				}
				var v any = p
				if w.wait {
					info, err := w.waitStatus(ctx, c, to, w.pinned)
					if err != nil {
						return err
					}
					v = info
				}
				if unpin {
					if _, err := c.Unpin(ctx, from); err != nil {
						return fmt.Errorf("pin update: %s is pinned, but unpinning %s failed: %w", to, from, err)
					}
				}
				return g.out(cmd, v, func(wr io.Writer) {
					fmt.Fprintf(wr, "updated %s to %s%s, allocated to %s\n", from, to, quoted(p.Name), names.labels(p.Allocations))
				})
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the new pin (default: the old one's)")
	cmd.Flags().DurationVar(&expireIn, "expire-in", 0, "remove the new pin this long from now")
	cmd.Flags().BoolVar(&unpin, "unpin", false, "remove FROM once TO is pinned (implies --wait)")
	config.MarkCommandLineOnly(cmd.Flags(), "name", "expire-in", "unpin")
	w.bind(cmd.Flags(), "the allocated peers hold TO")
	bindAPIFlags(cmd.Flags(), &g.api)
	return cmd
}

// pinVerifyCmd checks this node's storage: node-local, with or without a
// daemon.
func pinVerifyCmd(g *globals) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that every block of every pin of this node is present and intact (node-local)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := opts(cmd, "verbose")
			broken := 0
			err := g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				return kuborpc.Stream(ctx, c, kuborpc.Request{Cmd: "pin/verify", Options: o}, func(v kuborpc.PinVerifyRes) error {
					if !v.Ok {
						broken++
					}
					return g.out(cmd, v, func(w io.Writer) {
						if v.Ok {
							fmt.Fprintf(w, "%s ok\n", v.Cid)
							return
						}
						fmt.Fprintf(w, "%s broken\n", v.Cid)
						for _, b := range v.BadNodes {
							fmt.Fprintf(w, "  %s: %s\n", b.Cid, b.Err)
						}
					})
				})
			})
			if err == nil && broken > 0 {
				err = fmt.Errorf("%d pins are broken", broken)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&verbose, "verbose", false, "also list the pins that are fine")
	return cmd
}

// statusCmd shows what every peer says of the pins.
func statusCmd(g *globals) *cobra.Command {
	var filter string
	var local bool
	cmd := &cobra.Command{
		Use:   "status [CID...]",
		Short: "Show the cluster's pins as each allocated peer holds them",
		Long: `Show, for the given pins or for the whole pinset, how many of the allocated
peers hold each, and what every allocated peer reports (pinned, pinning,
pin_queued, pin_error...). --filter keeps the pins where some peer is in
one of the given states (IPFS Cluster's names, comma-separated: error,
queued, pinned...). --json prints IPFS Cluster's GlobalPinInfo, one per
line.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if _, err := cid.Decode(a); err != nil {
					return fmt.Errorf("%q is not a CID: %v", a, err)
				}
			}
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				names := peerNames{}
				var tw *tabwriter.Writer
				if !g.json {
					var err error
					if names, err = g.peerNames(ctx, c); err != nil {
						return err
					}
					tw = table(cmd.OutOrStdout(), "CID", "NAME", "PINNED", "PEERS")
					defer tw.Flush()
				}
				failed := 0
				err := c.StatusAll(ctx, args, filter, local, func(info apiclient.GlobalPinInfo) error {
					if g.json {
						return printJSONLine(cmd.OutOrStdout(), info)
					}
					var peers []string
					held := 0
					ids := sortedPeers(info)
					slices.SortStableFunc(ids, func(a, b string) int { return strings.Compare(names.label(a), names.label(b)) })
					for _, id := range ids {
						st := info.PeerMap[id]
						switch st.Status {
						case "remote":
							continue
						case "pin_error", "unpin_error", "cluster_error":
							failed++
							peers = append(peers, fmt.Sprintf("%s:%s(%s)", names.label(id), st.Status, st.Error))
							continue
						case "pinned":
							held++
						}
						peers = append(peers, names.label(id)+":"+st.Status)
					}
					row(tw, info.Cid, dash(info.Name), fmt.Sprintf("%d/%d", held, len(peers)), dash(strings.Join(peers, " ")))
					return nil
				})
				return err
			})
		},
	}
	cmd.Flags().StringVar(&filter, "filter", "", "keep pins where a peer is in one of these states (comma-separated)")
	cmd.Flags().BoolVar(&local, "local", false, "only the contacted peer's view")
	config.MarkCommandLineOnly(cmd.Flags(), "filter", "local")
	bindAPIFlags(cmd.Flags(), &g.api)
	return cmd
}

// statusPeers are the peers in a state.
func statusPeers(info apiclient.GlobalPinInfo, status string) []string {
	var out []string
	for _, id := range sortedPeers(info) {
		if info.PeerMap[id].Status == status {
			out = append(out, id)
		}
	}
	return out
}

func replication(p apiclient.Pin) string {
	if p.ReplicationFactorMin == -1 {
		return "everywhere"
	}
	return fmt.Sprintf("%d..%d", p.ReplicationFactorMin, p.ReplicationFactorMax)
}

func quoted(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf(" %q", name)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func metaString(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

func gcCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Delete every block that no pin keeps (same as repo gc)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runGC(cmd, g) },
	}
}

func runGC(cmd *cobra.Command, g *globals) error {
	return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
		return kuborpc.Stream(ctx, c, kuborpc.Request{Cmd: "repo/gc"}, func(r kuborpc.GcResult) error {
			if r.Error != "" {
				return errors.New(r.Error)
			}
			return g.out(cmd, r, func(w io.Writer) {
				if r.Key != nil {
					fmt.Fprintf(w, "removed %s\n", r.Key.Cid)
				}
			})
		})
	})
}

func repoCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Inspect and maintain the local store"}
	stat := &cobra.Command{
		Use:   "stat",
		Short: "Show the store's size and object count",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var s kuborpc.RepoStat
				if err := c.Single(ctx, kuborpc.Request{Cmd: "repo/stat"}, &s); err != nil {
					return err
				}
				return g.out(cmd, s, func(w io.Writer) {
					fmt.Fprintf(w, "NumObjects: %d\nRepoSize:   %d\nRepoPath:   %s\nVersion:    %s\n", s.NumObjects, s.RepoSize, s.RepoPath, s.Version)
					if s.S3 != nil {
						printS3Stat(w, s.S3)
					}
				})
			})
		},
	}
	var drop bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Rehash every block and report (with --drop, delete) corrupt ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				return kuborpc.Stream(ctx, c, kuborpc.Request{Cmd: "repo/verify", Options: opts(cmd, "drop")}, func(p kuborpc.VerifyProgress) error {
					return g.out(cmd, p, func(w io.Writer) { fmt.Fprintln(w, p.Msg) })
				})
			})
		},
	}
	verify.Flags().BoolVar(&drop, "drop", false, "delete the corrupt blocks")
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Delete every block that no pin keeps",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runGC(cmd, g) },
	}
	cmd.AddCommand(stat, verify, gc)
	return cmd
}

// printS3Stat prints the S3 block store's part of repo stat.
func printS3Stat(w io.Writer, s *kuborpc.S3Stat) {
	where := s.Bucket
	if s.Prefix != "" {
		where += "/" + s.Prefix
	}
	if s.Shared {
		where += " (shared)"
	}
	fmt.Fprintf(w, "S3:         %s\n", where)
	fmt.Fprintf(w, "  Packs:      %d (%d bytes, %d awaiting deletion)\n", s.Packs, s.PackBytes, s.PacksDeleting)
	fmt.Fprintf(w, "  Live:       %d blocks, %d bytes (%.1f%% of the packs)\n", s.LiveBlocks, s.LiveBytes, 100*s.LiveFraction)
	fmt.Fprintf(w, "  Cache:      %d bytes, %d hits, %d misses (hit ratio %.1f%%)\n", s.CacheBytes, s.CacheHits, s.CacheMisses, 100*s.CacheHitRatio)
	fmt.Fprintf(w, "  Transfer:   %d bytes sent, %d received\n", s.SentBytes, s.ReceivedBytes)
	ops := make([]string, 0, len(s.Requests))
	var total int64
	for op, n := range s.Requests {
		ops = append(ops, op)
		total += n
	}
	slices.Sort(ops)
	fmt.Fprintf(w, "  Requests:   %d (%d failed)\n", total, s.FailedRequests)
	for _, op := range ops {
		fmt.Fprintf(w, "    %-24s %d\n", op, s.Requests[op])
	}
}
