package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/config"
)

func authCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Credentials of the admin APIs: password hashes and tokens",
	}
	cmd.AddCommand(authHashCmd(g), tokenCmd(g))
	return cmd
}

func tokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Bearer tokens of the admin APIs: create, list, revoke (cluster-wide)",
	}
	var scope, name string
	var expiresIn time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token for the user of --api-auth (a password, not a token)",
		Long: `Create a bearer token for the user whose password --api-auth (or
--api-credentials) gives. The token is printed once; the cluster keeps only
its ID, to check and revoke it. Use it as --api-auth TOKEN, with kubo's
--api-auth bearer:TOKEN, or as the key of ipfs pin remote service add.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				t, err := c.IssueToken(ctx, scope, expiresIn, name)
				if err != nil {
					return err
				}
				if g.json {
					return printJSONLine(cmd.OutOrStdout(), t)
				}
				fmt.Fprintln(cmd.OutOrStdout(), t.Token)
				fmt.Fprintf(cmd.ErrOrStderr(), "token %s for %s, scope %s, expires %s\n", t.ID, t.User, t.Scope, t.Expires.Format(time.RFC3339))
				return nil
			})
		},
	}
	create.Flags().StringVar(&scope, "scope", "", "read, pin or admin (default and ceiling: the user's)")
	create.Flags().DurationVar(&expiresIn, "expires-in", 0, "lifetime (default 720h, at most 8760h)")
	create.Flags().StringVar(&name, "name", "", "a label, shown by token ls")
	config.MarkCommandLineOnly(create.Flags(), "scope", "expires-in", "name")
	bindAPIFlags(create.Flags(), &g.api)

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List tokens: all for an admin, one's own otherwise",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				var tw *tabwriter.Writer
				if !g.json {
					tw = table(cmd.OutOrStdout(), "ID", "USER", "SCOPE", "NAME", "EXPIRES", "STATE")
					defer tw.Flush()
				}
				now := time.Now()
				return c.Tokens(ctx, func(t apiclient.TokenInfo) error {
					if g.json {
						return printJSONLine(cmd.OutOrStdout(), t)
					}
					state := "valid"
					switch {
					case t.Revoked:
						state = "revoked"
					case !now.Before(t.Expires):
						state = "expired"
					}
					row(tw, t.ID, t.User, t.Scope, dash(t.Name), t.Expires.Format(time.RFC3339), state)
					return nil
				})
			})
		},
	}
	bindAPIFlags(ls.Flags(), &g.api)

	revoke := &cobra.Command{
		Use:   "revoke ID…",
		Short: "Revoke tokens cluster-wide (an admin any, a user their own)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			return g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
				for _, id := range ids {
					t, err := c.RevokeToken(ctx, id)
					if err != nil {
						return fmt.Errorf("revoke %s: %w", id, err)
					}
					if g.json {
						if err := printJSONLine(cmd.OutOrStdout(), t); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s, %s)\n", t.ID, t.User, t.Scope)
				}
				return nil
			})
		},
	}
	bindAPIFlags(revoke.Flags(), &g.api)
	cmd.AddCommand(create, ls, revoke)
	return cmd
}

func authHashCmd(g *globals) *cobra.Command {
	var user, scope string
	cmd := &cobra.Command{
		Use:   "hash",
		Short: "Hash a password for --api-auth-file (read from the terminal or stdin)",
		Long: `Hash a password with bcrypt for the users file of the admin APIs
(--api-auth-file). The password is read from the terminal without echo, or
as the first line of stdin. With --user, print a whole user entry:

  {"users": [ <entry>, ... ]}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			password, err := readPassword(cmd)
			if err != nil {
				return err
			}
			hash, err := auth.HashPassword(password)
			if err != nil {
				return err
			}
			if user == "" {
				if g.json {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"password_hash": hash})
				}
				fmt.Fprintln(cmd.OutOrStdout(), hash)
				return nil
			}
			s, err := auth.ParseScope(scope)
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(auth.User{Name: user, PasswordHash: hash, Scope: s})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "print a users-file entry for this user instead of the bare hash")
	cmd.Flags().StringVar(&scope, "scope", "admin", "scope of the entry: read, pin or admin")
	return cmd
}

// readPassword reads a password from the terminal without echo, or the
// first line of stdin.
func readPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on stdin")
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("empty password")
	}
	return password, nil
}
