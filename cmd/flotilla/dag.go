package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

// addDagCommands adds get, put and stat to the dag command.
func addDagCommands(dag *cobra.Command, g *globals) {
	get := &cobra.Command{
		Use:   "get PATH",
		Short: "Print an IPLD node (dag-json by default), following the path into its fields",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.rawToStdout(cmd, kuborpc.Request{Cmd: "dag/get", Args: args, Options: opts(cmd, "output-codec")})
		},
	}
	get.Flags().String("output-codec", "dag-json", "codec to print the node in (dag-json, dag-cbor, json, cbor, raw)")
	put := &cobra.Command{
		Use:   "put FILE|-...",
		Short: "Store IPLD nodes read in one codec and encoded in another; print their CIDs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, closeAll, err := openArgs(args)
			if err != nil {
				return err
			}
			defer closeAll()
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				req := kuborpc.Request{Cmd: "dag/put", Options: opts(cmd, "input-codec", "store-codec", "hash", "pin", "allow-big-block")}
				req.Files(files.NewSliceDirectory(entries))
				return kuborpc.Stream(ctx, c, req, func(o kuborpc.DagPutOutput) error {
					return g.out(cmd, o, func(w io.Writer) { fmt.Fprintln(w, o.Cid.Cid) })
				})
			})
		},
	}
	put.Flags().String("input-codec", "dag-json", "codec of the input")
	put.Flags().String("store-codec", "dag-cbor", "codec to store the node in")
	put.Flags().String("hash", "sha2-256", "multihash function")
	put.Flags().Bool("pin", false, "pin the new nodes")
	put.Flags().Bool("allow-big-block", false, "accept nodes over 2MiB (they cannot be exchanged)")
	stat := &cobra.Command{
		Use:   "stat PATH...",
		Short: "Count the blocks and bytes of DAGs (each block once)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := opts(cmd)
			o.Set("progress", "false")
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				return kuborpc.Stream(ctx, c, kuborpc.Request{Cmd: "dag/stat", Args: args, Options: o}, func(s kuborpc.DagStatSummary) error {
					return g.out(cmd, s, func(w io.Writer) {
						fmt.Fprintf(w, "%-62s %-10s %s\n", "CID", "Blocks", "Size")
						for _, d := range s.DagStats {
							fmt.Fprintf(w, "%-62s %-10d %d\n", d.Cid, d.NumBlocks, d.Size)
						}
						fmt.Fprintf(w, "Total size: %d\nUnique blocks: %d\nShared size: %d\nRatio: %f\n", s.TotalSize, s.UniqueBlocks, s.SharedSize, s.Ratio)
					})
				})
			})
		},
	}
	dag.AddCommand(get, put, stat)
}
