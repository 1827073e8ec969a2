package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

// siteMeta is the pin metadata that marks the versions of a site.
const siteMeta = "flotilla-site"

// Deployed is what site deploy did, as --json prints it.
type Deployed struct {
	Site      string   `json:"site"`
	Cid       string   `json:"cid"`
	Pinned    int      `json:"pinned"`
	Name      string   `json:"name"` // the IPNS name
	Key       string   `json:"key"`
	PathURL   string   `json:"path_url"`
	DomainURL string   `json:"subdomain_url"`
	DNSLink   string   `json:"dnslink"`
	Unpinned  []string `json:"unpinned"`
}

func siteCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "site", Short: "Deploy websites to the cluster under IPNS names"}
	var name, key, gateway, ttl string
	var keep int
	var timeout time.Duration
	deploy := &cobra.Command{
		Use:   "deploy DIR",
		Short: "Add a built site as a cluster pin, publish its name, drop old versions",
		Long: `Deploy the directory DIR (files starting with a dot left out; a _redirects
file is honoured by the gateway) as a website:

  1. add it as a cluster pin (CIDv1) named after the site,
  2. wait until it is pinned on its minimum number of peers,
  3. point the IPNS name of --key at it (the key is created if missing;
     the cluster renews the name from then on),
  4. unpin the site's versions older than the last --keep,

then print the gateway URLs and the DNSLink record to set for a domain.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if st, err := os.Stat(dir); err != nil {
				return err
			} else if !st.IsDir() {
				return fmt.Errorf("%s is not a directory: a site is a directory of files", args[0])
			}
			if name == "" {
				name = filepath.Base(dir)
			}
			if key == "" {
				key = name
			}
			if keep < 1 {
				return fmt.Errorf("--keep %d: at least the version just deployed is kept (1 or more)", keep)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			api, err := g.apiClient()
			if err != nil {
				return err
			}
			d := Deployed{Site: name, Key: key, Unpinned: []string{}}
			if d.Cid, err = addSite(ctx, api, dir, name); err != nil {
				return err
			}
			progress := func(format string, a ...any) {
				if !g.json {
					fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", a...)
				}
			}
			progress("added %s as /ipfs/%s", args[0], d.Cid)
			if d.Pinned, err = waitPinned(ctx, api, d.Cid, progress); err != nil {
				return err
			}
			err = g.run(cmd, func(ctx context.Context, c *kuborpc.Client) error {
				if err := ensureKey(ctx, c, key); err != nil {
					return err
				}
				var out kuborpc.IpnsEntry
				o := url.Values{"key": {key}}
				if ttl != "" {
					o.Set("ttl", ttl)
				}
				if err := c.Single(ctx, kuborpc.Request{Cmd: "name/publish", Args: []string{"/ipfs/" + d.Cid}, Options: o}, &out); err != nil {
					return fmt.Errorf("publish: %w", err)
				}
				d.Name = out.Name
				return nil
			})
			if err != nil {
				return err
			}
			if d.Unpinned, err = unpinOld(ctx, api, name, d.Cid, keep); err != nil {
				return err
			}
			base, err := g.gatewayURL(gateway)
			if err != nil {
				return err
			}
			d.PathURL = base.JoinPath("ipns", d.Name).String() + "/"
			sub := *base
			sub.Host = d.Name + ".ipns." + subdomainHost(base)
			d.DomainURL = sub.String() + "/"
			domain := name
			if !strings.Contains(domain, ".") {
				domain = "<your domain>"
			}
			d.DNSLink = fmt.Sprintf("_dnslink.%s TXT \"dnslink=/ipns/%s\"", domain, d.Name)
			return g.out(cmd, d, func(w io.Writer) {
				fmt.Fprintf(w, "deployed %s: /ipfs/%s, pinned on %d peers\n", d.Site, d.Cid, d.Pinned)
				fmt.Fprintf(w, "published /ipns/%s (key %s)\n", d.Name, d.Key)
				fmt.Fprintf(w, "  path:      %s\n", d.PathURL)
				fmt.Fprintf(w, "  subdomain: %s\n", d.DomainURL)
				fmt.Fprintf(w, "  DNSLink:   %s\n", d.DNSLink)
				for _, c := range d.Unpinned {
					fmt.Fprintf(w, "unpinned old version %s\n", c)
				}
			})
		},
	}
	f := deploy.Flags()
	f.StringVar(&name, "name", "", "the site's name: its pins' name and the default key (default: DIR's base name)")
	f.StringVar(&key, "key", "", "the IPNS key to publish with, created if missing (default: the site's name)")
	f.IntVar(&keep, "keep", 3, "versions of the site kept pinned, the new one included")
	f.StringVar(&ttl, "ttl", "", "how long resolvers may cache the name (default 5m)")
	f.StringVar(&gateway, "gateway", "", "gateway base URL for the printed links (default: the local daemon's gateway)")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	bindAPIFlags(f, &g.api)
	cmd.AddCommand(deploy)
	return cmd
}

// addSite adds dir through the REST API as a pin named after the site and
// returns the root CID.
func addSite(ctx context.Context, api *apiclient.Client, dir, site string) (string, error) {
	entries, _, err := addEntries([]string{dir}, true, false)
	if err != nil {
		return "", err
	}
	q := url.Values{
		"cid-version":      {"1"}, // subdomain gateways need CIDv1
		"name":             {site},
		"meta-" + siteMeta: {site},
	}
	var root string
	err = api.Add(ctx, files.NewSliceDirectory(entries), q, func(a apiclient.AddedOutput) error {
		if a.Cid != "" && a.Name == filepath.Base(dir) {
			root = a.Cid
		}
		return nil
	})
	if err != nil {
		return "", explain(err)
	}
	if root == "" {
		return "", errors.New("the add answered no CID for the site's directory")
	}
	return root, nil
}

// waitPinned polls until c is pinned on its minimum number of peers (all
// its allocations when it has no minimum) and returns how many hold it.
func waitPinned(ctx context.Context, api *apiclient.Client, c string, progress func(string, ...any)) (int, error) {
	p, err := api.Allocation(ctx, c)
	if err != nil {
		return 0, err
	}
	want := p.ReplicationFactorMin
	if want <= 0 || want > len(p.Allocations) {
		want = len(p.Allocations)
	}
	last := -1
	for {
		st, err := api.Status(ctx, c, false)
		if err != nil {
			return 0, err
		}
		if len(p.Allocations) == 0 {
			want = len(st.PeerMap) // pinned everywhere
		}
		n := 0
		for _, pi := range st.PeerMap {
			switch pi.Status {
			case "pinned":
				n++
			case "pin_error":
				return 0, fmt.Errorf("pinning %s failed on %s: %s", c, pi.PeerName, pi.Error)
			}
		}
		if n != last {
			progress("pinned on %d of %d peers", n, want)
			last = n
		}
		if n >= want {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %s to be pinned on %d peers: %w", c, want, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ensureKey creates the key unless the cluster has it.
func ensureKey(ctx context.Context, c *kuborpc.Client, key string) error {
	var list kuborpc.KeyOutputList
	if err := c.Single(ctx, kuborpc.Request{Cmd: "key/list"}, &list); err != nil {
		return err
	}
	if slices.ContainsFunc(list.Keys, func(k kuborpc.KeyOutput) bool { return k.Name == key }) {
		return nil
	}
	var out kuborpc.KeyOutput
	if err := c.Single(ctx, kuborpc.Request{Cmd: "key/gen", Args: []string{key}}, &out); err != nil {
		return fmt.Errorf("create key %s: %w", key, err)
	}
	return nil
}

// unpinOld unpins the site's pins other than the newest keep (current
// included), newest first by the time they were pinned.
func unpinOld(ctx context.Context, api *apiclient.Client, site, current string, keep int) ([]string, error) {
	var versions []apiclient.Pin
	err := api.Allocations(ctx, func(p apiclient.Pin) error {
		if p.Metadata[siteMeta] == site && p.Cid != current {
			versions = append(versions, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(versions, func(a, b apiclient.Pin) int { return b.Timestamp.Compare(a.Timestamp) })
	unpinned := []string{}
	for i, p := range versions {
		if i < keep-1 {
			continue
		}
		if _, err := api.Unpin(ctx, p.Cid); err != nil {
			return unpinned, fmt.Errorf("unpin old version %s: %w", p.Cid, err)
		}
		unpinned = append(unpinned, p.Cid)
	}
	return unpinned, nil
}

// gatewayURL is the base of the printed links: the flag, else the local
// daemon's gateway, else Kubo's default address.
func (g *globals) gatewayURL(flag string) (*url.URL, error) {
	raw := flag
	if raw == "" {
		raw = "http://127.0.0.1:8080"
		if l, err := repo.ReadListen(g.cfg.Data); err == nil && l.Gateway != "" {
			raw = "http://" + l.Gateway
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--gateway %q: want a URL such as https://gateway.example.com", raw)
	}
	return u, nil
}

// subdomainHost is the host subdomain links go under: a loopback gateway
// serves subdomains of localhost, as Kubo's does.
func subdomainHost(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		host = "localhost"
	}
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	return host
}
