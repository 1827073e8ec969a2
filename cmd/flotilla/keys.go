package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

// keyCmd manages the cluster's IPNS keys, with Kubo's commands, options and
// output. The keys live in the cluster, sealed with the cluster secret:
// any peer can use them and none keeps them in clear.
func keyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Create, list, rename, remove, import and export the cluster's IPNS keys"}
	printKey := func(cmd *cobra.Command, out kuborpc.KeyOutput) error {
		return g.out(cmd, out, func(w io.Writer) { fmt.Fprintln(w, out.Id) })
	}
	printList := func(cmd *cobra.Command, out kuborpc.KeyOutputList) error {
		long, _ := cmd.Flags().GetBool("l")
		return g.out(cmd, out, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 1, 2, 1, ' ', 0)
			for _, k := range out.Keys {
				if long {
					fmt.Fprintf(tw, "%s\t%s\t\n", k.Id, k.Name)
				} else {
					fmt.Fprintf(tw, "%s\n", k.Name)
				}
			}
			tw.Flush()
		})
	}

	gen := &cobra.Command{
		Use:   "gen NAME",
		Short: "Create a key pair, stored in the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.KeyOutput
				if err := c.Single(ctx, kuborpc.Request{Cmd: "key/gen", Args: args, Options: opts(cmd, "type", "size", "ipns-base")}, &out); err != nil {
					return err
				}
				return printKey(cmd, out)
			})
		},
	}
	gen.Flags().StringP("type", "t", "ed25519", "type of the key to create: rsa, ed25519, secp256k1")
	gen.Flags().IntP("size", "s", 0, "size of the key to generate (rsa; default 2048)")

	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the keys: self (this peer's identity), then the cluster's",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.KeyOutputList
				if err := c.Single(ctx, kuborpc.Request{Cmd: "key/list", Options: opts(cmd, "ipns-base")}, &out); err != nil {
					return err
				}
				return printList(cmd, out)
			})
		},
	}
	list.Flags().BoolP("l", "l", false, "show the keys' IDs")

	rm := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove keys (their names are no longer renewed and expire)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.KeyOutputList
				if err := c.Single(ctx, kuborpc.Request{Cmd: "key/rm", Args: args, Options: opts(cmd, "ipns-base")}, &out); err != nil {
					return err
				}
				return printList(cmd, out)
			})
		},
	}
	rm.Flags().BoolP("l", "l", false, "show the keys' IDs")

	rename := &cobra.Command{
		Use:   "rename NAME NEWNAME",
		Short: "Rename a key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.KeyRenameOutput
				if err := c.Single(ctx, kuborpc.Request{Cmd: "key/rename", Args: args, Options: opts(cmd, "force", "ipns-base")}, &out); err != nil {
					return err
				}
				return g.out(cmd, out, func(w io.Writer) {
					if out.Overwrite {
						fmt.Fprintf(w, "Key %s renamed to %s with overwriting\n", out.Id, out.Now)
					} else {
						fmt.Fprintf(w, "Key %s renamed to %s\n", out.Id, out.Now)
					}
				})
			})
		},
	}
	rename.Flags().BoolP("force", "f", false, "allow overwriting an existing key")

	imp := &cobra.Command{
		Use:   "import NAME FILE|-",
		Short: "Import a private key (as 'ipfs key export' writes it) under NAME",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, closeAll, err := openArgs(args[1:2])
			if err != nil {
				return err
			}
			defer closeAll()
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				req := kuborpc.Request{Cmd: "key/import", Args: args[:1], Options: opts(cmd, "format", "ipns-base")}
				req.Files(files.NewSliceDirectory(entries))
				var out kuborpc.KeyOutput
				if err := c.Single(ctx, req, &out); err != nil {
					return err
				}
				return printKey(cmd, out)
			})
		},
	}
	imp.Flags().StringP("format", "f", "libp2p-protobuf-cleartext", "format of the key: libp2p-protobuf-cleartext or pem-pkcs8-cleartext")

	exp := &cobra.Command{
		Use:   "export NAME",
		Short: "Write a key's private key to a file (./NAME.key by default), readable by 'ipfs key import'",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, _ := cmd.Flags().GetString("format")
			out, _ := cmd.Flags().GetString("output")
			if out == "" {
				ext := "key"
				if format == "pem-pkcs8-cleartext" {
					ext = "pem"
				}
				out = filepath.Clean(filepath.Base(strings.TrimRight(args[0]+"."+ext, "/")))
			}
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				body, err := c.Raw(ctx, kuborpc.Request{Cmd: "key/export", Args: args, Options: opts(cmd, "format")})
				if err != nil {
					return err
				}
				defer body.Close()
				raw, err := io.ReadAll(body)
				if err != nil {
					return err
				}
				if format == "pem-pkcs8-cleartext" {
					raw = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: raw})
				}
				// Owner-only: this is a private key.
				return os.WriteFile(out, raw, 0o600)
			})
		},
	}
	exp.Flags().StringP("output", "o", "", "the file to write (default ./NAME.key, or ./NAME.pem)")
	exp.Flags().StringP("format", "f", "libp2p-protobuf-cleartext", "format of the key: libp2p-protobuf-cleartext or pem-pkcs8-cleartext")

	for _, c := range []*cobra.Command{gen, list, rm, rename, imp} {
		c.Flags().String("ipns-base", "base36", "encoding of the key IDs: a multibase name, or b58mh")
	}
	cmd.AddCommand(gen, list, rm, rename, imp, exp)
	return cmd
}
