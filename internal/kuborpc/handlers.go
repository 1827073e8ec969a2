package kuborpc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/ipfs/boxo/files"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/version"
)

// multipartFiles reads a Kubo multipart request body as a directory of its
// top-level entries.
func multipartFiles(req *request) (files.Directory, error) {
	mediatype, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediatype, "multipart/") || params["boundary"] == "" {
		return nil, badRequest("request body must be multipart/form-data with a boundary (got %q)", req.Header.Get("Content-Type"))
	}
	dir, err := files.NewFileFromPartReader(multipart.NewReader(req.Body, params["boundary"]), mediatype)
	if err != nil {
		return nil, badRequest("malformed multipart body: %v", err)
	}
	return dir, nil
}

// bodyError turns failures to read the request body into client errors:
// a truncated or malformed upload is the client's doing.
func bodyError(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	if _, code := status(err); code == codeClient {
		return err
	}
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "multipart") || strings.Contains(msg, "NextPart") {
		return badRequest("malformed multipart body: %v", err)
	}
	return err
}

// importParams reads Kubo's add options (plus flotilla's profile).
func importParams(req *request) (importer.Params, error) {
	var p importer.Params
	var err error
	p.Profile = req.str("profile")
	p.Hash = req.str("hash")
	p.Chunker = req.str("chunker")
	if p.CidVersion, err = req.optInt("cid-version"); err != nil {
		return p, err
	}
	if p.RawLeaves, err = req.optBool("raw-leaves"); err != nil {
		return p, err
	}
	if p.Trickle, err = req.optBool("trickle"); err != nil {
		return p, err
	}
	if p.MaxFileLinks, err = req.optInt("max-file-links"); err != nil {
		return p, err
	}
	if p.MaxDirectoryLinks, err = req.optInt("max-directory-links"); err != nil {
		return p, err
	}
	if p.MaxHAMTFanout, err = req.optInt("max-hamt-fanout"); err != nil {
		return p, err
	}
	if p.EmptyDirs, err = req.optBool("empty-dirs"); err != nil {
		return p, err
	}
	if p.Inline, err = req.boolOpt("inline", false); err != nil {
		return p, err
	}
	limit, err := req.optInt("inline-limit")
	if err != nil {
		return p, err
	}
	if limit != nil {
		p.InlineLimit = *limit
	}
	p.Wrap, err = req.boolOpt("wrap-with-directory", false)
	return p, err
}

func (s *server) add(ctx context.Context, req *request, res *response) error {
	// Options first: a bad one fails before a byte of the upload is read.
	a, err := parseAdd(req.query)
	if err != nil {
		return err
	}
	dir, err := multipartFiles(req)
	if err != nil {
		return err
	}
	roots, err := runAdd(ctx, s.Node, dir, a, func(e AddEvent) { res.emit(e) })
	if err != nil {
		return bodyError(ctx, err)
	}
	opts := a.opts
	if s.Cluster != nil && opts.Pin && !opts.OnlyHash {
		return s.clusterPinAdded(ctx, roots, opts.PinName)
	}
	return nil
}

// path parses the first argument as a content path.
func (s *server) path(req *request) (string, error) {
	a, err := req.needArgs(1, "ipfs-path")
	if err != nil {
		return "", err
	}
	return a[0], nil
}

func (s *server) cat(ctx context.Context, req *request, res *response) error {
	arg, err := s.path(req)
	if err != nil {
		return err
	}
	p, err := s.Node.ResolvePath(ctx, arg)
	if err != nil {
		return err
	}
	nd, err := s.Node.Get(ctx, p)
	if err != nil {
		return err
	}
	f, ok := nd.(files.File)
	if !ok {
		return badRequest("%s is a directory: use get or ls", arg)
	}
	defer f.Close()
	offset, err := req.optInt("offset")
	if err != nil {
		return err
	}
	length, err := req.optInt("length")
	if err != nil {
		return err
	}
	if offset != nil {
		if *offset < 0 {
			return badRequest("offset must not be negative")
		}
		if sk, ok := f.(io.Seeker); ok {
			if _, err := sk.Seek(int64(*offset), io.SeekStart); err != nil {
				return err
			}
		} else if _, err := io.CopyN(io.Discard, f, int64(*offset)); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	var r io.Reader = f
	if length != nil {
		if *length < 0 {
			return badRequest("length must not be negative")
		}
		r = io.LimitReader(f, int64(*length))
	}
	_, err = io.Copy(res.stream("text/plain"), r)
	return err
}

func (s *server) get(ctx context.Context, req *request, res *response) error {
	arg, err := s.path(req)
	if err != nil {
		return err
	}
	p, err := s.Node.ResolvePath(ctx, arg)
	if err != nil {
		return err
	}
	nd, err := s.Node.Get(ctx, p)
	if err != nil {
		return err
	}
	defer nd.Close()
	segs := p.Segments()
	name := segs[len(segs)-1]
	tw, err := files.NewTarWriter(res.stream("application/x-tar"))
	if err != nil {
		return err
	}
	if err := tw.WriteFile(nd, name); err != nil {
		return err
	}
	return tw.Close()
}

func (s *server) ls(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "ipfs-path")
	if err != nil {
		return err
	}
	stream, err := req.boolOpt("stream", false)
	if err != nil {
		return err
	}
	var out LsOutput
	for _, arg := range args {
		p, err := s.Node.ResolvePath(ctx, arg)
		if err != nil {
			return err
		}
		obj := LsObject{Hash: arg, Links: []LsLink{}}
		err = s.Node.Ls(ctx, p, func(e ipfs.Entry) error {
			l := LsLink{Name: e.Name, Hash: e.Cid.String(), Size: e.Size, Type: int(e.Type)}
			if stream {
				return res.emit(LsOutput{Objects: []LsObject{{Hash: arg, Links: []LsLink{l}}}})
			}
			obj.Links = append(obj.Links, l)
			return nil
		})
		if err != nil {
			return err
		}
		out.Objects = append(out.Objects, obj)
	}
	if stream {
		return nil
	}
	return res.single(out)
}

func (s *server) cidArg(req *request) (cid.Cid, error) {
	a, err := req.needArgs(1, "cid")
	if err != nil {
		return cid.Undef, err
	}
	return ipfs.ParseCid(strings.TrimPrefix(a[0], "/ipfs/"))
}

func (s *server) blockGet(ctx context.Context, req *request, res *response) error {
	c, err := s.cidArg(req)
	if err != nil {
		return err
	}
	b, err := s.Node.BlockGet(ctx, c)
	if err != nil {
		return err
	}
	_, err = res.stream("application/octet-stream").Write(b.RawData())
	return err
}

func (s *server) blockPut(ctx context.Context, req *request, res *response) error {
	opts := ipfs.BlockPutOptions{Codec: req.str("cid-codec"), Hash: req.str("mhtype")}
	if opts.Codec == "" {
		opts.Codec = req.str("format") // Kubo's legacy name
		if opts.Codec == "v0" || opts.Codec == "protobuf" {
			opts.Codec = "dag-pb"
		}
	}
	var err error
	if opts.Pin, err = req.boolOpt("pin", false); err != nil {
		return err
	}
	if opts.AllowBig, err = req.boolOpt("allow-big-block", false); err != nil {
		return err
	}
	dir, err := multipartFiles(req)
	if err != nil {
		return err
	}
	it := dir.Entries()
	n := 0
	for it.Next() {
		f, ok := it.Node().(files.File)
		if !ok {
			return badRequest("block/put takes files, not directories")
		}
		data, err := io.ReadAll(io.LimitReader(f, block.MaxSize+1))
		if err != nil {
			return bodyError(ctx, err)
		}
		if len(data) > block.MaxSize && !opts.AllowBig {
			return fmt.Errorf("%w: pass allow-big-block to override", block.ErrTooBig)
		}
		if len(data) > block.MaxSize {
			rest, err := io.ReadAll(f)
			if err != nil {
				return bodyError(ctx, err)
			}
			data = append(data, rest...)
		}
		c, err := s.Node.BlockPut(ctx, data, opts)
		if err != nil {
			return err
		}
		if err := res.emit(BlockStat{Key: c.String(), Size: len(data)}); err != nil {
			return err
		}
		n++
	}
	if err := it.Err(); err != nil {
		return bodyError(ctx, err)
	}
	if n == 0 {
		return badRequest("block/put needs at least one file")
	}
	return nil
}

func (s *server) blockStat(ctx context.Context, req *request, res *response) error {
	c, err := s.cidArg(req)
	if err != nil {
		return err
	}
	size, err := s.Node.BlockStat(ctx, c)
	if err != nil {
		return err
	}
	return res.single(BlockStat{Key: c.String(), Size: size})
}

func (s *server) blockRm(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "cid")
	if err != nil {
		return err
	}
	force, err := req.boolOpt("force", false)
	if err != nil {
		return err
	}
	cids := make([]cid.Cid, 0, len(args))
	for _, a := range args {
		c, err := ipfs.ParseCid(a)
		if err != nil {
			return err
		}
		cids = append(cids, c)
	}
	failed := 0
	err = s.Node.BlockRm(ctx, cids, force, func(c cid.Cid, err error) error {
		rb := RemovedBlock{Hash: c.String()}
		if err != nil {
			failed++
			rb.Error = err.Error()
		}
		return res.emit(rb)
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return badRequest("some blocks not removed")
	}
	return nil
}

func (s *server) dagImport(ctx context.Context, req *request, res *response) error {
	pinRoots, err := req.boolOpt("pin-roots", true)
	if err != nil {
		return err
	}
	stats, err := req.boolOpt("stats", false)
	if err != nil {
		return err
	}
	dir, err := multipartFiles(req)
	if err != nil {
		return err
	}
	var total ipfs.ImportResult
	var roots []cid.Cid
	it := dir.Entries()
	for it.Next() {
		f, ok := it.Node().(files.File)
		if !ok {
			return badRequest("dag/import takes CAR files, not directories")
		}
		r, err := s.Node.DagImport(ctx, f, pinRoots)
		if err != nil {
			return bodyError(ctx, err)
		}
		roots = append(roots, r.Roots...)
		total.Blocks += r.Blocks
		total.Bytes += r.Bytes
	}
	if err := it.Err(); err != nil {
		return bodyError(ctx, err)
	}
	if pinRoots {
		for _, c := range roots {
			var line DagImportRoot
			line.Root.Cid = CidLink{Cid: c.String()}
			if err := res.emit(line); err != nil {
				return err
			}
		}
	}
	if stats {
		var line DagImportStats
		line.Stats.BlockCount = uint64(total.Blocks)
		line.Stats.BlockBytesCount = uint64(total.Bytes)
		return res.emit(line)
	}
	if !res.started {
		return res.begin()
	}
	return nil
}

func (s *server) dagExport(ctx context.Context, req *request, res *response) error {
	c, err := s.cidArg(req)
	if err != nil {
		return err
	}
	// Resolve the root before the first byte, so a missing root is a
	// clean 404 rather than a broken stream.
	if _, err := s.Node.BlockStat(ctx, c); err != nil {
		return err
	}
	return s.Node.DagExport(ctx, c, res.stream("application/vnd.ipld.car"))
}

// resolveAll parses and resolves paths to CIDs.
func (s *server) resolveAll(ctx context.Context, args []string) ([]cid.Cid, error) {
	out := make([]cid.Cid, 0, len(args))
	for _, a := range args {
		p, err := s.Node.ResolvePath(ctx, a)
		if err != nil {
			return nil, err
		}
		c, err := s.Node.Resolve(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// pinTargets reads the paths and the recursive option of pin/add and
// pin/rm, resolving the paths to CIDs.
func (s *server) pinTargets(ctx context.Context, req *request) ([]cid.Cid, bool, error) {
	args, err := req.needArgs(1, "ipfs-path")
	if err != nil {
		return nil, false, err
	}
	recursive, err := req.boolOpt("recursive", true)
	if err != nil {
		return nil, false, err
	}
	cids, err := s.resolveAll(ctx, args)
	return cids, recursive, err
}

func (s *server) pinAdd(ctx context.Context, req *request, res *response) error {
	cids, recursive, err := s.pinTargets(ctx, req)
	if err != nil {
		return err
	}
	if s.Cluster != nil {
		return s.clusterPinAdd(ctx, cids, recursive, req.str("name"), res)
	}
	if err := s.Node.PinAdd(ctx, cids, recursive, req.str("name")); err != nil {
		return err
	}
	return res.single(PinOutput{Pins: cidStrings(cids)})
}

func (s *server) pinRm(ctx context.Context, req *request, res *response) error {
	cids, recursive, err := s.pinTargets(ctx, req)
	if err != nil {
		return err
	}
	if s.Cluster != nil {
		return s.clusterPinRm(ctx, cids, res)
	}
	if err := s.Node.PinRm(ctx, cids, recursive); err != nil {
		return err
	}
	return res.single(PinOutput{Pins: cidStrings(cids)})
}

func (s *server) pinLs(ctx context.Context, req *request, res *response) error {
	typ := req.str("type")
	if typ == "" {
		typ = "all"
	}
	stream, err := req.boolOpt("stream", false)
	if err != nil {
		return err
	}
	// Names are Kubo's opt-in (names=true, or a name filter).
	names, err := req.boolOpt("names", false)
	if err != nil {
		return err
	}
	nameFilter := req.str("name")
	cids, err := s.resolveAll(ctx, req.args())
	if err != nil {
		return err
	}
	list := PinLsList{Keys: map[string]PinLsType{}}
	pinLs := s.Node.PinLs
	if s.Cluster != nil {
		pinLs = s.clusterPinLsWithIndirect
	}
	err = pinLs(ctx, typ, cids, func(p ipfs.Pin) error {
		if nameFilter != "" && !strings.Contains(p.Name, nameFilter) {
			return nil
		}
		if !names && nameFilter == "" {
			p.Name = ""
		}
		if stream {
			return res.emit(PinLsObject{Cid: p.Cid.String(), Name: p.Name, Type: p.Type})
		}
		list.Keys[p.Cid.String()] = PinLsType{Type: p.Type, Name: p.Name}
		return nil
	})
	if err != nil || stream {
		return err
	}
	return res.single(list)
}

// clusterPinLsWithIndirect lists the cluster's pins and, as Kubo's pin ls
// does for types all and indirect, the blocks the node keeps because of
// them: the cluster's pinset knows roots only, the node knows their DAGs.
func (s *server) clusterPinLsWithIndirect(ctx context.Context, typ string, cids []cid.Cid, emit func(ipfs.Pin) error) error {
	for _, c := range cids {
		err := s.clusterPinLs(ctx, typ, []cid.Cid{c}, emit)
		if errors.Is(err, ipfs.ErrNotPinned) && (typ == "all" || typ == "indirect") {
			err = s.Node.PinLs(ctx, "indirect", []cid.Cid{c}, emit)
		}
		if err != nil {
			return err
		}
	}
	if len(cids) > 0 {
		return nil
	}
	if typ != "indirect" {
		if err := s.clusterPinLs(ctx, typ, nil, emit); err != nil {
			return err
		}
	}
	if typ == "indirect" || typ == "all" {
		return s.Node.PinLs(ctx, "indirect", nil, emit)
	}
	return nil
}

func (s *server) pinUpdate(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(2, "from-path and to-path")
	if err != nil {
		return err
	}
	unpin, err := req.boolOpt("unpin", true)
	if err != nil {
		return err
	}
	cids, err := s.resolveAll(ctx, args[:2])
	if err != nil {
		return err
	}
	if s.Cluster != nil {
		return s.clusterPinUpdate(ctx, cids[0], cids[1], unpin, res)
	}
	if err := s.Node.PinUpdate(ctx, cids[0], cids[1], unpin); err != nil {
		return err
	}
	return res.single(PinOutput{Pins: cidStrings(cids)})
}

func (s *server) pinVerify(ctx context.Context, req *request, res *response) error {
	verbose, err := req.boolOpt("verbose", false)
	if err != nil {
		return err
	}
	err = s.Node.PinVerify(ctx, func(v ipfs.VerifyResult) error {
		if v.Ok && !verbose {
			return nil
		}
		out := PinVerifyRes{Cid: v.Cid.String(), Ok: v.Ok}
		for _, b := range v.BadNodes {
			out.BadNodes = append(out.BadNodes, BadNode{Cid: b.Cid.String(), Err: b.Err})
		}
		return res.emit(out)
	})
	if err == nil && !res.started {
		return res.begin() // an empty stream: all pins fine
	}
	return err
}

func (s *server) repoGC(ctx context.Context, req *request, res *response) error {
	gc := s.Node.GC
	if s.GC != nil {
		gc = s.GC
	}
	err := gc(ctx, func(c cid.Cid) error {
		return res.emit(GcResult{Key: &CidLink{Cid: c.String()}})
	})
	if err == nil && !res.started {
		return res.begin()
	}
	return err
}

func (s *server) repoStat(ctx context.Context, req *request, res *response) error {
	st, err := s.Node.Stat(ctx)
	if err != nil {
		return err
	}
	out := RepoStat{
		RepoSize: st.RepoSize, NumObjects: st.NumObjects, RepoPath: s.RepoPath,
		Version: "flotilla-" + version.Get().Version,
	}
	if s.S3 != nil {
		out.S3 = s.S3()
	}
	return res.single(out)
}

func (s *server) repoVerify(ctx context.Context, req *request, res *response) error {
	drop, err := req.boolOpt("drop", false)
	if err != nil {
		return err
	}
	bad, total := 0, 0
	err = s.Node.Verify(ctx, drop, func(c cid.Cid, verr error) error {
		total++
		if verr == nil {
			return nil
		}
		bad++
		msg := fmt.Sprintf("block %s was corrupt (%v)", c, verr)
		if drop {
			msg += ", removed"
		}
		return res.emit(VerifyProgress{Msg: msg})
	})
	if err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("verify complete, %d of %d blocks corrupt", bad, total)
	}
	return res.emit(VerifyProgress{Msg: fmt.Sprintf("verify complete, all %d blocks validated.", total)})
}

func (s *server) identity(ctx context.Context, req *request, res *response) error {
	out := IDOutput{ID: s.id.String(), AgentVersion: version.AgentVersion(), Addresses: []string{}, Protocols: []string{}}
	if s.Identity != nil {
		raw, err := crypto.MarshalPublicKey(s.Identity.GetPublic())
		if err != nil {
			return err
		}
		out.PublicKey = base64.StdEncoding.EncodeToString(raw)
	}
	if nw := s.Node.Network; nw != nil {
		for _, a := range nw.Host.Addrs() {
			out.Addresses = append(out.Addresses, a.String()+"/p2p/"+s.id.String())
		}
		for _, p := range nw.Host.Mux().Protocols() {
			out.Protocols = append(out.Protocols, string(p))
		}
	}
	return res.single(out)
}

func (s *server) version(ctx context.Context, req *request, res *response) error {
	v := version.Get()
	// Version is the Kubo release whose RPC API this server speaks: Kubo's
	// CLI parses it as semver to choose wire options (it refuses "(devel)").
	return res.single(VersionOutput{Version: KuboAPIVersion, Commit: v.Commit, Repo: "flotilla", System: v.System, Golang: v.Go, Flotilla: v.Version})
}

func (s *server) swarmPeers(ctx context.Context, req *request, res *response) error {
	out := SwarmPeers{Peers: []SwarmPeer{}}
	if nw := s.Node.Network; nw != nil {
		for _, c := range nw.Host.Network().Conns() {
			out.Peers = append(out.Peers, SwarmPeer{
				Addr: c.RemoteMultiaddr().String(), Peer: c.RemotePeer().String(), Direction: int(c.Stat().Direction),
			})
		}
	}
	return res.single(out)
}

func (s *server) swarmConnect(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "address")
	if err != nil {
		return err
	}
	nw := s.Node.Network
	if nw == nil {
		return &statusError{status: http.StatusServiceUnavailable, err: ipfs.ErrOffline}
	}
	out := Strings{}
	for _, a := range args {
		info, err := peer.AddrInfoFromString(a)
		if err != nil {
			return badRequest("invalid peer address %q: %v", a, err)
		}
		if err := nw.Host.Connect(ctx, *info); err != nil {
			return fmt.Errorf("connect %s failure: %w", info.ID, err)
		}
		out.Strings = append(out.Strings, "connect "+info.ID.String()+" success")
	}
	return res.single(out)
}

func (s *server) configShow(ctx context.Context, req *request, res *response) error {
	return res.single(s.Config())
}

func cidStrings(cids []cid.Cid) []string {
	out := make([]string, len(cids))
	for i, c := range cids {
		out[i] = c.String()
	}
	return out
}
