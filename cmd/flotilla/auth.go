package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
)

func authCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Credentials of the admin APIs: password hashes and tokens",
	}
	cmd.AddCommand(authHashCmd(g))
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
