package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
	"github.com/flotilla-ipfs/flotilla/internal/config"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

// The cluster commands (pin, status, peers, health, and add with cluster
// options) talk to a daemon's REST API, the IPFS Cluster-compatible one.

// apiOptions say which API to call and with which credentials. The daemon
// has its own --api-auth-file (its users), hence --api-credentials here.
type apiOptions struct {
	addr string // --api: host:port or an http(s):// URL
	auth string // --api-auth: user:password or a token
	file string // --api-credentials: a file holding what --api-auth takes
	ca   string // --api-ca: PEM CAs for HTTPS
}

// bindAPIFlags declares --api on a cluster command. The credentials are
// global flags (bindCredentialFlags): the Kubo RPC port takes the same ones.
func bindAPIFlags(fs *pflag.FlagSet, o *apiOptions) {
	fs.StringVar(&o.addr, "api", "", "REST API of a daemon: host:port or http(s)://host:port (default: the daemon holding --data)")
}

// bindCredentialFlags declares the admin APIs' credentials and CA.
func bindCredentialFlags(fs *pflag.FlagSet, o *apiOptions) {
	fs.StringVar(&o.auth, "api-auth", "", "credentials of the daemon's admin APIs (REST and RPC): user:password (Basic) or a token (Bearer)")
	config.MarkSecret(fs, "api-auth")
	fs.StringVar(&o.file, "api-credentials", "", "file holding the admin API credentials (one line, as --api-auth)")
	fs.StringVar(&o.ca, "api-ca", "", "PEM file of CA certificates to trust for a daemon serving HTTPS")
}

// credentials are --api-auth, or the first line of --api-credentials.
func (o apiOptions) credentials() (string, error) {
	if o.auth != "" || o.file == "" {
		return o.auth, nil
	}
	raw, err := os.ReadFile(o.file)
	if err != nil {
		return "", fmt.Errorf("--api-credentials: %w", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	auth := strings.TrimSpace(line)
	if auth == "" {
		return "", fmt.Errorf("--api-credentials %s: the first line is empty; want user:password or a token", o.file)
	}
	return auth, nil
}

// apiClient returns a client of the API named by --api, or of the daemon
// holding the data directory.
func (g *globals) apiClient() (*apiclient.Client, error) {
	addr := g.api.addr
	if addr == "" {
		locked, err := repo.Locked(g.cfg.Data)
		if err != nil {
			return nil, err
		}
		if !locked {
			return nil, fmt.Errorf("no daemon is running on %s: start `flotilla daemon`, or pass --api host:port (or FLOTILLA_API) to use another one", g.cfg.Data)
		}
		l, err := repo.ReadListen(g.cfg.Data)
		if err != nil || l.API == "" {
			return nil, fmt.Errorf("a daemon holds %s but its REST API address is unknown (is --api-listen empty?): pass --api", g.cfg.Data)
		}
		addr = l.API
	} else if strings.HasPrefix(addr, "/") {
		addr = baseURL(addr) // a /ip4/…/tcp/… multiaddr, as ipfs-cluster-ctl's --host
	}
	auth, err := g.api.credentials()
	if err != nil {
		return nil, err
	}
	return apiclient.New(apiclient.Config{Addr: addr, Auth: auth, CAFile: g.api.ca})
}

// runAPI calls fn with an API client, and explains the failures a user
// can do something about.
func (g *globals) runAPI(cmd *cobra.Command, fn func(ctx context.Context, c *apiclient.Client) error) error {
	c, err := g.apiClient()
	if err != nil {
		return err
	}
	return explain(fn(cmd.Context(), c))
}

// explain adds what to do to the errors that have a remedy.
func explain(err error) error {
	var ae *apiclient.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, apiclient.ErrUnreachable) && strings.Contains(err.Error(), "x509"):
		return fmt.Errorf("%w (pass --api-ca with the CA that signed the daemon's certificate)", err)
	case errors.Is(err, apiclient.ErrUnreachable):
		return fmt.Errorf("%w (is `flotilla daemon` running? --api names another one)", err)
	case errors.As(err, &ae) && ae.Code == 401:
		return fmt.Errorf("the API refused the credentials: %w (pass --api-auth user:password or a token, or --api-credentials FILE)", err)
	case errors.As(err, &ae) && ae.Code == 403:
		return fmt.Errorf("not allowed with these credentials: %w", err)
	}
	return err
}

// table writes aligned columns.
func table(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

func row(tw *tabwriter.Writer, cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }

// peerNames maps peer IDs to a short label: the peer name when it has
// one, else the ID shortened as ipfs-cluster-ctl does.
type peerNames map[string]string

func (g *globals) peerNames(ctx context.Context, c *apiclient.Client) (peerNames, error) {
	names := peerNames{}
	err := c.Peers(ctx, func(id apiclient.ID) error {
		names[id.ID] = id.Peername
		return nil
	})
	return names, err
}

func (n peerNames) label(id string) string {
	if name := n[id]; name != "" {
		return name
	}
	if len(id) > 12 {
		return id[:2] + "*" + id[len(id)-6:]
	}
	return id
}

// labels are the peers' labels in order, comma-separated.
func (n peerNames) labels(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = n.label(id)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// ago prints a past time relative to now.
func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < time.Second {
		return "now"
	}
	return d.Round(time.Second).String() + " ago"
}

// bytesIEC prints a byte count in binary units.
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
