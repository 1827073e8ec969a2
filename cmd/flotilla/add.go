package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
	"github.com/flotilla-ipfs/flotilla/internal/config"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

// addOptions are the add flags forwarded to the RPC call as Kubo names them.
var addOptions = []string{
	"cid-version", "raw-leaves", "chunker", "trickle", "max-file-links", "max-directory-links",
	"max-hamt-fanout", "wrap-with-directory", "hash", "inline", "inline-limit", "pin", "pin-name",
	"only-hash", "profile", "empty-dirs",
}

func addCmd(g *globals) *cobra.Command {
	var recursive, hidden, quiet, quieter bool
	var progress bool
	cmd := &cobra.Command{
		Use:   "add FILE|DIR|-...",
		Short: "Import files into UnixFS and pin them (Kubo-identical CIDs)",
		Long: `Import files or directories (with -r) into UnixFS DAGs and pin them. The
flags are Kubo's and give Kubo 0.43's CIDs for the same options; "-" reads
stdin. --profile selects Kubo's import profiles unixfs-v0-2015 or
unixfs-v1-2025 as defaults that explicit flags override.

With a daemon, the content is added through it and pinned in the cluster
with the cluster's default replication; without one, it is added to the
data directory and pinned on this node only (` + "`flotilla pin add`" + ` it once a
daemon runs to make it a cluster pin).

The cluster options --replication-min, --replication-max, --meta and
--expire-in send the add to the daemon's REST API (IPFS Cluster's /add):
the blocks go to the allocated peers as they are imported. --json then
prints IPFS Cluster's AddedOutput objects. Kubo's --only-hash, --inline,
--profile and the link-count flags are not available there.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, total, err := addEntries(args, recursive, hidden)
			if err != nil {
				return err
			}
			cluster := slices.ContainsFunc(clusterAddOptions, cmd.Flags().Changed)
			o := opts(cmd, addOptions...)
			if cluster {
				if o, err = clusterAddQuery(cmd); err != nil {
					return err
				}
			}
			showBar := !quiet && !quieter && !g.json && term.IsTerminal(int(os.Stderr.Fd()))
			if cmd.Flags().Changed("progress") {
				showBar = progress
			}
			var bar *progressbar.ProgressBar
			if showBar {
				o.Set("progress", "true")
				bar = progressbar.DefaultBytes(total, "adding")
			}
			seen := map[string]int64{} // bytes reported so far, per file
			var last string
			w := cmd.OutOrStdout()
			// emit prints one output, raw being what --json prints.
			emit := func(name, hash string, bytes int64, raw any) error {
				if hash == "" {
					if bar != nil {
						bar.Add64(bytes - seen[name])
						seen[name] = bytes
					}
					return nil
				}
				last = hash
				switch {
				case g.json:
					return printJSONLine(w, raw)
				case quieter:
				case quiet:
					fmt.Fprintln(w, hash)
				default:
					if bar != nil {
						bar.Clear()
					}
					fmt.Fprintf(w, "added %s %s\n", hash, name)
				}
				return nil
			}
			dir := files.NewSliceDirectory(entries)
			if cluster {
				err = g.addViaAPI(cmd, dir, o, func(a apiclient.AddedOutput) error { return emit(a.Name, a.Cid, int64(a.Bytes), a) })
			} else {
				err = g.addVia(cmd.Context(), dir, o, func(e kuborpc.AddEvent) error { return emit(e.Name, e.Hash, e.Bytes, e) })
			}
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			if quieter && last != "" {
				fmt.Fprintln(w, last)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&recursive, "recursive", "r", false, "add directories recursively")
	f.BoolVarP(&hidden, "hidden", "H", false, "include files whose names start with a dot")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the CIDs")
	f.BoolVarP(&quieter, "quieter", "Q", false, "print only the final CID")
	f.BoolVarP(&progress, "progress", "p", false, "show a progress bar (default: when stderr is a terminal)")
	f.Int("cid-version", 0, "CID version, 0 or 1 (1 implies --raw-leaves)")
	f.Bool("raw-leaves", false, "use raw blocks for leaf nodes")
	f.StringP("chunker", "s", "size-262144", "chunking: size-<bytes>, rabin-<min>-<avg>-<max> or buzhash")
	f.BoolP("trickle", "t", false, "use the trickle DAG layout")
	f.Int("max-file-links", 174, "maximum links per file node")
	f.Int("max-directory-links", 0, "maximum links per basic directory before sharding (0: size-based only)")
	f.Int("max-hamt-fanout", 256, "HAMT shard width (power of 2, 8..1024)")
	f.BoolP("wrap-with-directory", "w", false, "wrap the added entries in a directory")
	f.String("hash", "sha2-256", "hash function (non-sha2-256 implies CIDv1)")
	f.Bool("inline", false, "inline small blocks into identity CIDs")
	f.Int("inline-limit", 32, "largest block to inline, in bytes")
	f.Bool("pin", true, "pin the added content")
	f.String("pin-name", "", "name of the pin")
	f.BoolP("only-hash", "n", false, "only chunk and hash, store nothing")
	f.String("profile", "", "import profile: unixfs-v0-2015 or unixfs-v1-2025")
	f.BoolP("empty-dirs", "E", true, "include empty directories")
	f.Int("replication-min", 0, "cluster add: fewest replicas (default: the cluster's)")
	f.Int("replication-max", 0, "cluster add: most replicas (default: the cluster's)")
	f.StringArray("meta", nil, "cluster add: pin metadata key=value (repeatable)")
	f.Duration("expire-in", 0, "cluster add: remove the pin this long from now")
	config.MarkCommandLineOnly(f, clusterAddOptions...)
	bindAPIFlags(f, &g.api)
	return cmd
}

// clusterAddOptions send an add to the REST API.
var clusterAddOptions = []string{"replication-min", "replication-max", "meta", "expire-in"}

// clusterAddQuery translates the add flags into IPFS Cluster's /add
// options, refusing those it has no equivalent for.
func clusterAddQuery(cmd *cobra.Command) (url.Values, error) {
	fs := cmd.Flags()
	for _, n := range []string{"only-hash", "inline", "inline-limit", "profile", "max-file-links", "max-directory-links", "max-hamt-fanout", "empty-dirs"} {
		if fs.Changed(n) {
			return nil, fmt.Errorf("--%s cannot be used with the cluster options (%s): the REST API's /add does not take it",
				n, strings.Join(prefixed(clusterAddOptions), ", "))
		}
	}
	q := opts(cmd, "cid-version", "raw-leaves", "chunker", "hash", "wrap-with-directory", "replication-min", "replication-max")
	if v, _ := fs.GetBool("trickle"); v {
		q.Set("layout", "trickle")
	}
	if v, _ := fs.GetBool("pin"); !v {
		q.Set("no-pin", "true")
	}
	if v, _ := fs.GetString("pin-name"); v != "" {
		q.Set("name", v)
	}
	if d, _ := fs.GetDuration("expire-in"); fs.Changed("expire-in") {
		if d < time.Second {
			return nil, fmt.Errorf("--expire-in %s: want a duration of a second or more, such as 24h", d)
		}
		q.Set("expire-in", d.String())
	}
	kvs, _ := fs.GetStringArray("meta")
	meta, err := parseMeta(kvs)
	if err != nil {
		return nil, err
	}
	for k, v := range meta {
		q.Set("meta-"+k, v)
	}
	return q, nil
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "--" + n
	}
	return out
}

// addViaAPI adds through the REST API of the daemon in use.
func (g *globals) addViaAPI(cmd *cobra.Command, dir files.Directory, q url.Values, handle func(apiclient.AddedOutput) error) error {
	if g.rpc != "" && g.api.addr == "" {
		return errors.New("an add with cluster options goes through a daemon's REST API, which --rpc does not name: pass --api")
	}
	c, err := g.apiClient()
	if err != nil {
		return fmt.Errorf("an add with cluster options goes through a daemon's REST API: %w", err)
	}
	return explain(c.Add(cmd.Context(), dir, q, handle))
}

// addEntries turns the arguments into the top-level entries of the upload
// and sums the bytes to read, for the progress bar.
func addEntries(args []string, recursive, hidden bool) ([]files.DirEntry, int64, error) {
	filter, err := files.NewFilter("", nil, hidden)
	if err != nil {
		return nil, 0, err
	}
	var entries []files.DirEntry
	var total int64
	for _, a := range args {
		if a == "-" {
			entries = append(entries, files.FileEntry("", files.NewReaderFile(os.Stdin)))
			total = -1
			continue
		}
		st, err := os.Lstat(a)
		if err != nil {
			return nil, 0, err
		}
		if st.IsDir() && !recursive {
			return nil, 0, fmt.Errorf("%s is a directory, use -r to add directories", a)
		}
		nd, err := files.NewSerialFileWithFilter(a, filter, st)
		if err != nil {
			return nil, 0, err
		}
		entries = append(entries, files.FileEntry(filepath.Base(a), nd))
		if total >= 0 {
			total += treeSize(a, st, hidden)
		}
	}
	return entries, total, nil
}

func treeSize(root string, st os.FileInfo, hidden bool) int64 {
	if !st.IsDir() {
		return st.Size()
	}
	var n int64
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !hidden && p != root && len(d.Name()) > 0 && d.Name()[0] == '.' {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func printJSONLine(w io.Writer, v any) error {
	return jsonEncoder(w).Encode(v)
}

// addVia runs the add through the daemon when one is in use, and otherwise
// calls the very handler code in process: a local import then costs what
// the importer costs, with no multipart round trip.
func (g *globals) addVia(ctx context.Context, dir files.Directory, o url.Values, handle func(kuborpc.AddEvent) error) error {
	c, err := g.remote()
	if err != nil {
		return err
	}
	if c != nil {
		req := kuborpc.Request{Cmd: "add", Options: o}
		req.Files(dir)
		return kuborpc.Stream(ctx, c, req, handle)
	}
	local, _, err := g.openLocal(ctx)
	if err != nil {
		return err
	}
	var handleErr error
	err = kuborpc.Add(ctx, local.Node, dir, o, func(e kuborpc.AddEvent) {
		if handleErr == nil {
			handleErr = handle(e)
		}
	})
	return errors.Join(err, handleErr, local.Close())
}
