package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

func blockCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "block", Short: "Work with raw blocks"}
	get := &cobra.Command{
		Use:   "get CID",
		Short: "Write a block's bytes to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.rawToStdout(cmd, kuborpc.Request{Cmd: "block/get", Args: args})
		},
	}
	put := &cobra.Command{
		Use:   "put FILE|-...",
		Short: "Store files as blocks and print their CIDs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, closeAll, err := openArgs(args)
			if err != nil {
				return err
			}
			defer closeAll()
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				req := kuborpc.Request{Cmd: "block/put", Options: opts(cmd, "cid-codec", "mhtype", "pin", "allow-big-block")}
				req.Files(files.NewSliceDirectory(entries))
				return kuborpc.Stream(ctx, c, req, func(s kuborpc.BlockStat) error {
					return g.out(cmd, s, func(w io.Writer) { fmt.Fprintln(w, s.Key) })
				})
			})
		},
	}
	put.Flags().String("cid-codec", "raw", "multicodec of the new blocks (raw, dag-pb, dag-cbor, dag-json, …)")
	put.Flags().String("mhtype", "sha2-256", "multihash function")
	put.Flags().Bool("pin", false, "pin the new blocks")
	put.Flags().Bool("allow-big-block", false, "accept blocks over 2MiB (they cannot be exchanged)")
	stat := &cobra.Command{
		Use:   "stat CID",
		Short: "Print a block's size",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var s kuborpc.BlockStat
				if err := c.Single(ctx, kuborpc.Request{Cmd: "block/stat", Args: args}, &s); err != nil {
					return err
				}
				return g.out(cmd, s, func(w io.Writer) { fmt.Fprintf(w, "Key: %s\nSize: %d\n", s.Key, s.Size) })
			})
		},
	}
	var force bool
	rm := &cobra.Command{
		Use:   "rm CID...",
		Short: "Delete local blocks (pinned blocks are refused)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				req := kuborpc.Request{Cmd: "block/rm", Args: args, Options: opts(cmd, "force")}
				return kuborpc.Stream(ctx, c, req, func(r kuborpc.RemovedBlock) error {
					return g.out(cmd, r, func(w io.Writer) {
						if r.Error != "" {
							fmt.Fprintf(cmd.ErrOrStderr(), "cannot remove %s: %s\n", r.Hash, r.Error)
							return
						}
						fmt.Fprintf(w, "removed %s\n", r.Hash)
					})
				})
			})
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "ignore blocks that are not present")
	cmd.AddCommand(get, put, stat, rm)
	return cmd
}

func dagCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "dag", Short: "Import and export DAGs as CAR files"}
	imp := &cobra.Command{
		Use:   "import FILE|-...",
		Short: "Import CAR files (v1 or v2); every block is verified against its CID",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, closeAll, err := openArgs(args)
			if err != nil {
				return err
			}
			defer closeAll()
			o := opts(cmd, "pin-roots")
			o.Set("stats", "true")
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				req := kuborpc.Request{Cmd: "dag/import", Options: o}
				req.Files(files.NewSliceDirectory(entries))
				return kuborpc.Stream(ctx, c, req, func(line map[string]any) error {
					if g.json {
						return printJSONLine(cmd.OutOrStdout(), line)
					}
					if root, ok := line["Root"].(map[string]any); ok {
						c, _ := root["Cid"].(map[string]any)
						fmt.Fprintf(cmd.OutOrStdout(), "Pinned root\t%v\tsuccess\n", c["/"])
					}
					if st, ok := line["Stats"].(map[string]any); ok {
						fmt.Fprintf(cmd.OutOrStdout(), "Imported %v blocks (%v bytes)\n", st["BlockCount"], st["BlockBytesCount"])
					}
					return nil
				})
			})
		},
	}
	imp.Flags().Bool("pin-roots", true, "pin the roots of the CARs (each root's DAG must be complete)")
	exp := &cobra.Command{
		Use:   "export CID",
		Short: "Write the DAG under a root to stdout as a CARv1",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.rawToStdout(cmd, kuborpc.Request{Cmd: "dag/export", Args: args})
		},
	}
	cmd.AddCommand(imp, exp)
	addDagCommands(cmd, g)
	return cmd
}
