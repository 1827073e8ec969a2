package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

// nameCmd works with IPNS names: records are imported (and published when
// the daemon is online), read back, and resolved.
func nameCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "name", Short: "Publish, import, export and resolve IPNS names"}
	put := &cobra.Command{
		Use:   "put NAME FILE|-",
		Short: "Store a signed IPNS record for NAME (published to the DHT when the daemon is online)",
		Long: `Store a signed IPNS record (the protobuf 'ipfs name publish' produces, or
'ipfs routing get /ipns/NAME' returns). The record is validated against the
name (signature, validity, V1/V2 agreement) and kept in the local record
store, which the gateway and 'name resolve' read; a running online daemon
also publishes it to the DHT. NAME is a peer ID or a libp2p-key CID, with or
without /ipns/.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, closeAll, err := openArgs(args[1:2])
			if err != nil {
				return err
			}
			defer closeAll()
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				// Importing a record is the point of this command: it is
				// stored even where it cannot be published.
				req := kuborpc.Request{Cmd: "routing/put", Args: []string{ipnsKey(args[0])}, Options: map[string][]string{"allow-offline": {"true"}}}
				req.Files(files.NewSliceDirectory(entries))
				return kuborpc.Stream(ctx, c, req, func(e kuborpc.QueryEvent) error {
					return g.out(cmd, e, func(w io.Writer) { fmt.Fprintf(w, "stored %s\n", e.ID) })
				})
			})
		},
	}
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Write the best known IPNS record of NAME to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				req := kuborpc.Request{Cmd: "routing/get", Args: []string{ipnsKey(args[0])}}
				return kuborpc.Stream(ctx, c, req, func(e kuborpc.QueryEvent) error {
					rec, err := base64.StdEncoding.DecodeString(e.Extra)
					if err != nil {
						return fmt.Errorf("decode record: %w", err)
					}
					_, err = cmd.OutOrStdout().Write(rec)
					return err
				})
			})
		},
	}
	resolve := &cobra.Command{
		Use:   "resolve NAME",
		Short: "Resolve an IPNS name or a DNSLink domain to the path it points to",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.ResolvedPath
				req := kuborpc.Request{Cmd: "name/resolve", Args: args, Options: opts(cmd, "recursive", "nocache")}
				if err := c.Single(ctx, req, &out); err != nil {
					return err
				}
				return g.out(cmd, out, func(w io.Writer) { fmt.Fprintln(w, out.Path) })
			})
		},
	}
	resolve.Flags().BoolP("recursive", "r", true, "resolve until the result is not a name")
	resolve.Flags().BoolP("nocache", "n", false, "do not use cached resolutions")
	publish := &cobra.Command{
		Use:   "publish PATH",
		Short: "Point an IPNS name at PATH, signed with a cluster key; the cluster keeps it alive",
		Long: `Sign an IPNS record that points the name of --key at PATH (/ipfs/CID, a
bare CID, or /ipns/NAME), as 'ipfs name publish' does. The record is stored
in the cluster: every peer's gateway resolves it at once, the leader renews
it before it expires for as long as the key exists, and it is announced to
the DHT when the daemon is online. The key must be a cluster key ('flotilla
key gen'): 'self', the peer's own identity, would die with the peer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.IpnsEntry
				req := kuborpc.Request{Cmd: "name/publish", Args: args, Options: opts(cmd, "key", "lifetime", "ttl", "resolve", "v1compat", "sequence")}
				if err := c.Single(ctx, req, &out); err != nil {
					return err
				}
				quiet, _ := cmd.Flags().GetBool("quieter")
				return g.out(cmd, out, func(w io.Writer) {
					if quiet {
						fmt.Fprintln(w, out.Name)
					} else {
						fmt.Fprintf(w, "Published to %s: %s\n", out.Name, out.Value)
					}
				})
			})
		},
	}
	publish.Flags().StringP("key", "k", "self", "name of the key to sign with, or its ID as 'key list -l' shows it")
	publish.Flags().StringP("lifetime", "t", "48h", "how long the signed record is valid (the cluster renews it before then)")
	publish.Flags().String("ttl", "5m", "how long resolvers may cache the record (at most --lifetime)")
	publish.Flags().Bool("resolve", true, "check that PATH resolves before publishing")
	publish.Flags().Bool("v1compat", true, "also sign the record's V1 fields, for old resolvers")
	publish.Flags().Uint64("sequence", 0, "sequence number of the record (higher than the current one)")
	publish.Flags().BoolP("quieter", "Q", false, "print only the name")
	publish.Flags().Bool("allow-offline", false, "accepted for Kubo compatibility: the cluster always stores the record")
	cmd.AddCommand(put, get, resolve, publish)
	return cmd
}

// ipnsKey turns a name into Kubo's routing key, /ipns/<name>.
func ipnsKey(name string) string {
	return "/ipns/" + strings.TrimPrefix(name, "/ipns/")
}

func resolveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resolve PATH",
		Short: "Resolve a path (/ipfs/…, /ipns/…) to the /ipfs/ path of what it names",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.ResolvedPath
				if err := c.Single(ctx, kuborpc.Request{Cmd: "resolve", Args: args, Options: opts(cmd, "recursive")}, &out); err != nil {
					return err
				}
				return g.out(cmd, out, func(w io.Writer) { fmt.Fprintln(w, out.Path) })
			})
		},
	}
	cmd.Flags().BoolP("recursive", "r", true, "resolve names until the result is an /ipfs/ path")
	return cmd
}

func refsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "refs PATH...",
		Short: "List the links of DAGs (recursively with -r)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				req := kuborpc.Request{Cmd: "refs", Args: args, Options: opts(cmd, "format", "edges", "unique", "recursive", "max-depth")}
				return printRefs(ctx, cmd, g, c, req)
			})
		},
	}
	cmd.Flags().String("format", "<dst>", "output format: tokens <src> <dst> <linkname>")
	cmd.Flags().BoolP("edges", "e", false, "print edges: <src> -> <dst>")
	cmd.Flags().BoolP("unique", "u", false, "print each ref once")
	cmd.Flags().BoolP("recursive", "r", false, "walk the whole DAG")
	cmd.Flags().Int("max-depth", -1, "with -r, stop at this depth")
	local := &cobra.Command{
		Use:   "local",
		Short: "List every block of the local store (as CIDv1 raw)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				return printRefs(ctx, cmd, g, c, kuborpc.Request{Cmd: "refs/local"})
			})
		},
	}
	cmd.AddCommand(local)
	return cmd
}

func printRefs(ctx context.Context, cmd *cobra.Command, g *globals, c *kuborpc.Client, req kuborpc.Request) error {
	return kuborpc.Stream(ctx, c, req, func(r kuborpc.RefWrapper) error {
		if r.Err != "" {
			return fmt.Errorf("%s", r.Err)
		}
		return g.out(cmd, r, func(w io.Writer) { fmt.Fprintln(w, r.Ref) })
	})
}
