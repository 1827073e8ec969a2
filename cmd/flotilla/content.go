package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

// addContentCommands registers the commands that work on content. Each one
// is a thin shell over one RPC call: what it prints is decided here, what it
// does is decided by the node.
func addContentCommands(root *cobra.Command, g *globals) {
	root.AddCommand(addCmd(g), catCmd(g), getCmd(g), lsCmd(g), blockCmd(g), dagCmd(g),
		pinCmd(g), gcCmd(g), repoCmd(g), idCmd(g), swarmCmd(g))
	root.AddCommand(nameCmd(g), keyCmd(g), resolveCmd(g), refsCmd(g))
}

// run opens a client for the duration of fn.
func (g *globals) run(cmd *cobra.Command, fn func(ctx context.Context, c *kuborpc.Client) error) error {
	ctx := cmd.Context()
	c, closeFn, err := g.client(ctx)
	if err != nil {
		return err
	}
	err = fn(ctx, c)
	if cerr := closeFn(); err == nil {
		err = cerr
	}
	return err
}

// rawToStdout writes a byte-stream response (cat, block get, dag export,
// dag get) to stdout.
func (g *globals) rawToStdout(cmd *cobra.Command, req kuborpc.Request) error {
	return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
		body, err := c.Raw(ctx, req)
		if err != nil {
			return err
		}
		defer body.Close()
		_, err = io.Copy(cmd.OutOrStdout(), body)
		return err
	})
}

// opts collects the options of a request from the flags the user set, so
// that unset flags keep the server's defaults (which is what Kubo's flag
// semantics need: --raw-leaves=false is not the same as no --raw-leaves).
func opts(cmd *cobra.Command, names ...string) url.Values {
	v := url.Values{}
	for _, n := range names {
		f := cmd.Flags().Lookup(n)
		if f != nil && f.Changed {
			v.Set(n, f.Value.String())
		}
	}
	return v
}

// out prints v as JSON with --json, else calls human.
func (g *globals) out(cmd *cobra.Command, v any, human func(w io.Writer)) error {
	if g.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
	}
	human(cmd.OutOrStdout())
	return nil
}

func catCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cat PATH",
		Short: "Write the content of a file to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.rawToStdout(cmd, kuborpc.Request{Cmd: "cat", Args: args, Options: opts(cmd, "offset", "length")})
		},
	}
	cmd.Flags().Int64("offset", 0, "byte offset to start reading at")
	cmd.Flags().Int64("length", 0, "maximum number of bytes to read")
	return cmd
}

func lsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls PATH...",
		Short: "List the links of directories or other DAG nodes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.LsOutput
				if err := c.Single(ctx, kuborpc.Request{Cmd: "ls", Args: args}, &out); err != nil {
					return err
				}
				return g.out(cmd, out, func(w io.Writer) {
					for _, o := range out.Objects {
						if len(out.Objects) > 1 {
							fmt.Fprintf(w, "%s:\n", o.Hash)
						}
						for _, l := range o.Links {
							size, name := strconv.FormatUint(l.Size, 10), l.Name
							if l.Type == 1 || l.Type == 5 {
								size, name = "-", name+"/"
							}
							fmt.Fprintf(w, "%s %s %s\n", l.Hash, size, name)
						}
					}
				})
			})
		},
	}
	return cmd
}

func idCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Show the peer's identity and addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.IDOutput
				if err := c.Single(ctx, kuborpc.Request{Cmd: "id"}, &out); err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), out)
			})
		},
	}
}

func swarmCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "swarm", Short: "Inspect and manage swarm connections"}
	peers := &cobra.Command{
		Use:   "peers",
		Short: "List connected peers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.SwarmPeers
				if err := c.Single(ctx, kuborpc.Request{Cmd: "swarm/peers"}, &out); err != nil {
					return err
				}
				return g.out(cmd, out, func(w io.Writer) {
					for _, p := range out.Peers {
						fmt.Fprintf(w, "%s/p2p/%s\n", p.Addr, p.Peer)
					}
				})
			})
		},
	}
	connect := &cobra.Command{
		Use:   "connect MULTIADDR...",
		Short: "Connect to peers (multiaddrs ending in /p2p/<peer-id>)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.Strings
				if err := c.Single(ctx, kuborpc.Request{Cmd: "swarm/connect", Args: args}, &out); err != nil {
					return err
				}
				return g.out(cmd, out, func(w io.Writer) {
					for _, s := range out.Strings {
						fmt.Fprintln(w, s)
					}
				})
			})
		},
	}
	cmd.AddCommand(peers, connect)
	return cmd
}

// openArgs opens each argument (a file name, or "-" for stdin) as one
// unnamed entry of a multipart upload. closeAll closes what it opened.
func openArgs(args []string) ([]files.DirEntry, func(), error) {
	var entries []files.DirEntry
	var opened []io.Closer
	closeAll := func() {
		for _, c := range opened {
			c.Close()
		}
	}
	for _, a := range args {
		var r io.Reader = os.Stdin
		if a != "-" {
			f, err := os.Open(a)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			opened = append(opened, f)
			r = f
		}
		entries = append(entries, files.FileEntry("", files.NewReaderFile(r)))
	}
	return entries, closeAll, nil
}
