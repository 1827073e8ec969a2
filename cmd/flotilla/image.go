package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

// The image commands read the registry port with the OCI distribution API
// itself: its answers carry the CIDs (X-Ipfs-Cid, X-Ipfs-Root), so no
// route of flotilla's own is needed.

func imageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Images of the daemon's OCI registry"}
	var registryAddr string
	cid := &cobra.Command{
		Use:   "cid REPO:TAG|REPO@DIGEST",
		Short: "Print the CIDs of an image's parts: its pinned directory, manifests, configs and layers",
		Long: `Print the CIDs of an image pushed to the registry: the directory its
cluster pin holds, then every manifest (an index's children too), config
and layer, each with its digest. A layer's CID is what ipfs add gives its
bytes: /ipfs/<cid> on any gateway serves it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			repoName, ref, err := splitImageRef(args[0])
			if err != nil {
				return err
			}
			rc, err := g.registryClient(registryAddr)
			if err != nil {
				return err
			}
			img, err := rc.image(c.Context(), repoName, ref)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(c.OutOrStdout(), img)
			}
			tw := table(c.OutOrStdout(), "CID", "PART", "DIGEST", "SIZE")
			row(tw, img.Root, "image", args[0], "-")
			for _, p := range img.Parts {
				row(tw, p.Cid, p.Kind, p.Digest, fmt.Sprint(p.Size))
			}
			return tw.Flush()
		},
	}
	cid.Flags().StringVar(&registryAddr, "registry", "", "registry of a daemon: host:port or http(s)://host:port (default: the daemon holding --data)")
	cmd.AddCommand(cid)
	return cmd
}

// splitImageRef reads REPO:TAG or REPO@DIGEST; a bare REPO is REPO:latest,
// as docker reads it.
func splitImageRef(s string) (repoName, ref string, err error) {
	if r, d, ok := strings.Cut(s, "@"); ok {
		return r, d, nil
	}
	// The tag follows the last colon after the last slash (a registry
	// host:port may come first, as in docker's references).
	slash := strings.LastIndex(s, "/")
	if i := strings.LastIndex(s, ":"); i > slash {
		return s[:i], s[i+1:], nil
	}
	if s == "" {
		return "", "", fmt.Errorf("empty image reference")
	}
	return s, "latest", nil
}

// imageParts is what `image cid` prints.
type imageParts struct {
	Repository string      `json:"repository"`
	Reference  string      `json:"reference"`
	Digest     string      `json:"digest"`
	Root       string      `json:"root"` // the pinned directory
	Parts      []imagePart `json:"parts"`
}

type imagePart struct {
	Kind      string `json:"kind"` // manifest, config, layer
	Digest    string `json:"digest"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	Cid       string `json:"cid"`
}

type registryClient struct {
	base string
	http *http.Client
}

// registryClient reaches the registry named by --registry, or the one of
// the daemon holding the data directory, with the admin credentials.
func (g *globals) registryClient(addr string) (*registryClient, error) {
	if addr == "" {
		l, err := repo.ReadListen(g.cfg.Data)
		if err != nil || l.Registry == "" {
			return nil, fmt.Errorf("no registry address for %s (is a daemon running, with --registry-listen?): pass --registry host:port", g.cfg.Data)
		}
		addr = "http://" + l.Registry
		if l.TLS {
			addr = "https://" + l.Registry
		}
	} else if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	auth, err := g.api.credentials()
	if err != nil {
		return nil, err
	}
	rt, err := apiclient.Transport(g.api.ca)
	if err != nil {
		return nil, err
	}
	return &registryClient{base: strings.TrimSuffix(addr, "/"), http: &http.Client{Transport: apiclient.WithAuth(rt, auth)}}, nil
}

// manifestAccept is every manifest type the registry stores.
const manifestAccept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"

// image walks an image from its reference: the manifest (and an index's
// children), then each config and layer, asking HEAD for their CIDs.
func (rc *registryClient) image(ctx context.Context, repoName, ref string) (imageParts, error) {
	out := imageParts{Repository: repoName, Reference: ref}
	var walk func(ref string, top bool) error
	walk = func(ref string, top bool) error {
		resp, body, err := rc.get(ctx, "/v2/"+repoName+"/manifests/"+ref, manifestAccept)
		if err != nil {
			return err
		}
		d := resp.Header.Get("Docker-Content-Digest")
		if top {
			out.Digest, out.Root = d, resp.Header.Get("X-Ipfs-Root")
		}
		out.Parts = append(out.Parts, imagePart{Kind: "manifest", Digest: d, MediaType: resp.Header.Get("Content-Type"), Size: int64(len(body)), Cid: resp.Header.Get("X-Ipfs-Cid")})
		var m struct {
			Config    *imageDescriptor  `json:"config"`
			Layers    []imageDescriptor `json:"layers"`
			Manifests []imageDescriptor `json:"manifests"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", d, err)
		}
		for _, child := range m.Manifests {
			if err := walk(child.Digest, false); err != nil {
				return err
			}
		}
		blobs := m.Layers
		kinds := make([]string, len(blobs))
		for i := range kinds {
			kinds[i] = "layer"
		}
		if m.Config != nil {
			blobs = append([]imageDescriptor{*m.Config}, blobs...)
			kinds = append([]string{"config"}, kinds...)
		}
		for i, b := range blobs {
			part := imagePart{Kind: kinds[i], Digest: b.Digest, MediaType: b.MediaType, Size: b.Size}
			req, err := http.NewRequestWithContext(ctx, http.MethodHead, rc.base+"/v2/"+repoName+"/blobs/"+b.Digest, nil)
			if err != nil {
				return err
			}
			resp, err := rc.http.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				part.Cid = resp.Header.Get("X-Ipfs-Cid")
			case http.StatusNotFound:
				part.Cid = "-" // not pushed (a non-distributable layer)
			default:
				return fmt.Errorf("HEAD blob %s: %s", b.Digest, resp.Status)
			}
			out.Parts = append(out.Parts, part)
		}
		return nil
	}
	return out, walk(ref, true)
}

type imageDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// get reads a small answer, turning the registry's errors into messages.
func (rc *registryClient) get(ctx context.Context, path, accept string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := rc.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
			return nil, nil, fmt.Errorf("%s: %s", e.Errors[0].Code, e.Errors[0].Message)
		}
		return nil, nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp, body, nil
}
