package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

func pinCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "pin", Short: "Keep content from garbage collection"}
	var direct bool
	add := &cobra.Command{
		Use:   "add PATH...",
		Short: "Pin content (recursively by default), fetching what is missing",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := opts(cmd, "name")
			if direct {
				o.Set("recursive", "false")
			}
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.PinOutput
				if err := c.Single(ctx, kuborpc.Request{Cmd: "pin/add", Args: args, Options: o}, &out); err != nil {
					return err
				}
				how := "recursively"
				if direct {
					how = "directly"
				}
				return g.out(cmd, out, func(w io.Writer) {
					for _, p := range out.Pins {
						fmt.Fprintf(w, "pinned %s %s\n", p, how)
					}
				})
			})
		},
	}
	add.Flags().BoolVar(&direct, "direct", false, "pin only the named block, not its children")
	add.Flags().String("name", "", "name of the pin")
	rm := &cobra.Command{
		Use:   "rm PATH...",
		Short: "Remove pins",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := opts(cmd)
			if direct {
				o.Set("recursive", "false")
			}
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.PinOutput
				if err := c.Single(ctx, kuborpc.Request{Cmd: "pin/rm", Args: args, Options: o}, &out); err != nil {
					return err
				}
				return g.out(cmd, out, func(w io.Writer) {
					for _, p := range out.Pins {
						fmt.Fprintf(w, "unpinned %s\n", p)
					}
				})
			})
		},
	}
	rm.Flags().BoolVar(&direct, "direct", false, "remove only a direct pin")
	ls := &cobra.Command{
		Use:   "ls [PATH...]",
		Short: "List pins (all types by default, indirect included)",
		RunE: func(cmd *cobra.Command, args []string) error {
			o := opts(cmd, "type")
			o.Set("stream", "true")
			o.Set("names", "true")
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				req := kuborpc.Request{Cmd: "pin/ls", Args: args, Options: o}
				return kuborpc.Stream(ctx, c, req, func(p kuborpc.PinLsObject) error {
					return g.out(cmd, p, func(w io.Writer) {
						if p.Name != "" {
							fmt.Fprintf(w, "%s %s %s\n", p.Cid, p.Type, p.Name)
						} else {
							fmt.Fprintf(w, "%s %s\n", p.Cid, p.Type)
						}
					})
				})
			})
		},
	}
	ls.Flags().StringP("type", "t", "all", "pin type: all, recursive, direct or indirect")
	update := &cobra.Command{
		Use:   "update FROM TO",
		Short: "Move a recursive pin to a new root, fetching only the difference",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				var out kuborpc.PinOutput
				if err := c.Single(ctx, kuborpc.Request{Cmd: "pin/update", Args: args, Options: opts(cmd, "unpin")}, &out); err != nil {
					return err
				}
				return g.out(cmd, out, func(w io.Writer) { fmt.Fprintf(w, "updated %s to %s\n", args[0], args[1]) })
			})
		},
	}
	update.Flags().Bool("unpin", true, "remove the old pin")
	var verbose bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check that every block of every recursive pin is present and intact",
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
	verify.Flags().BoolVar(&verbose, "verbose", false, "also list the pins that are fine")
	cmd.AddCommand(add, rm, ls, update, verify)
	return cmd
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
