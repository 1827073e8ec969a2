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

	"github.com/ipfs/boxo/files"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

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
unixfs-v1-2025 as defaults that explicit flags override.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, total, err := addEntries(args, recursive, hidden)
			if err != nil {
				return err
			}
			o := opts(cmd, addOptions...)
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
			handle := func(e kuborpc.AddEvent) error {
				if e.Hash == "" {
					if bar != nil {
						bar.Add64(e.Bytes - seen[e.Name])
						seen[e.Name] = e.Bytes
					}
					return nil
				}
				last = e.Hash
				switch {
				case g.json:
					return printJSONLine(w, e)
				case quieter:
				case quiet:
					fmt.Fprintln(w, e.Hash)
				default:
					if bar != nil {
						bar.Clear()
					}
					fmt.Fprintf(w, "added %s %s\n", e.Hash, e.Name)
				}
				return nil
			}
			err = g.addVia(cmd.Context(), files.NewSliceDirectory(entries), o, handle)
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
	return cmd
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
