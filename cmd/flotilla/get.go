package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path"
	"strings"

	"github.com/ipfs/boxo/tar"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

func getCmd(g *globals) *cobra.Command {
	var output string
	var archive bool
	cmd := &cobra.Command{
		Use:   "get PATH",
		Short: "Download a file or directory to the local filesystem (or as a tar with -a)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				body, err := c.Raw(ctx, kuborpc.Request{Cmd: "get", Args: args})
				if err != nil {
					return err
				}
				defer body.Close()
				if archive {
					w := cmd.OutOrStdout()
					if output != "" {
						f, err := os.Create(output)
						if err != nil {
							return err
						}
						defer f.Close()
						w = f
					}
					_, err := io.Copy(w, body)
					return err
				}
				if output == "" {
					output = path.Base(strings.TrimRight(args[0], "/"))
				}
				// The extractor refuses entries that escape the target
				// directory, so a hostile DAG cannot write elsewhere.
				ex := &tar.Extractor{Path: output}
				return ex.Extract(body)
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "where to write (default: the last path segment)")
	cmd.Flags().BoolVarP(&archive, "archive", "a", false, "write a tar archive instead of extracting")
	return cmd
}

func jsonEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }
