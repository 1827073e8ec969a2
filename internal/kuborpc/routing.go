package kuborpc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/path"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mbase "github.com/multiformats/go-multibase"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// routingKey normalises Kubo's routing keys (/ipns/<peer id or CIDv1>)
// to the name the node stores records under.
func routingKey(key string) (string, error) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || parts[0] != "" || parts[1] != "ipns" {
		return "", badRequest("invalid key %q: want /ipns/<name>", key)
	}
	return parts[2], nil
}

// routingGet answers routing/get with the best valid record known: the
// local store's and, online, the DHT's. (Kubo refuses when offline; a
// record this node stores is an answer worth giving.)
func (s *server) routingGet(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "key")
	if err != nil {
		return err
	}
	name, err := routingKey(args[0])
	if err != nil {
		return err
	}
	rec, err := s.Node.GetRecord(ctx, name)
	if err != nil {
		return err
	}
	return res.emit(QueryEvent{Type: eventValue, Extra: base64.StdEncoding.EncodeToString(rec), Responses: nil})
}

// routingPut stores an IPNS record (the body's first file) under its name
// after validating it; online it is published to the DHT as well.
func (s *server) routingPut(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "key")
	if err != nil {
		return err
	}
	name, err := routingKey(args[0])
	if err != nil {
		return err
	}
	allowOffline, err := req.boolOpt("allow-offline", false)
	if err != nil {
		return err
	}
	// An IPNS record is at most 10 KiB (IPNS spec).
	rec, err := smallFile(ctx, req, "value-file", 10<<10)
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("%w: record is over 10 KiB", ipfs.ErrBadRecord)
	} else if err != nil {
		return err
	}
	nm, err := s.Node.PutRecord(ctx, name, rec, allowOffline)
	if err != nil {
		return err
	}
	return res.emit(QueryEvent{ID: nm.Peer().String(), Type: eventValue})
}

// errTooLarge marks a file argument over its limit.
var errTooLarge = errors.New("file argument too large")

// smallFile reads the request's one file argument, named what in errors,
// refusing more than limit bytes with errTooLarge.
func smallFile(ctx context.Context, req *request, what string, limit int64) ([]byte, error) {
	dir, err := multipartFiles(req)
	if err != nil {
		return nil, err
	}
	it := dir.Entries()
	if !it.Next() {
		if err := it.Err(); err != nil {
			return nil, bodyError(ctx, err)
		}
		return nil, badRequest("argument %q is required", what)
	}
	f, ok := it.Node().(files.File)
	if !ok {
		return nil, badRequest("%s must be a file", what)
	}
	// A byte more than the limit tells an oversized file.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, bodyError(ctx, err)
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

func (s *server) routingFindProvs(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "key")
	if err != nil {
		return err
	}
	c, err := ipfs.ParseCid(strings.TrimPrefix(args[0], "/ipfs/"))
	if err != nil {
		return err
	}
	count := 20
	if n, err := req.optInt("num-providers"); err != nil {
		return err
	} else if n != nil {
		count = *n
	}
	err = s.Node.FindProviders(ctx, c, count, func(p peer.AddrInfo) error {
		ai := AddrInfo{ID: p.ID.String(), Addrs: []string{}}
		for _, a := range p.Addrs {
			ai.Addrs = append(ai.Addrs, a.String())
		}
		return res.emit(QueryEvent{Type: eventProvider, Responses: []AddrInfo{ai}})
	})
	if err == nil && !res.started {
		return res.begin() // no provider: an empty stream
	}
	return err
}

func (s *server) routingProvide(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "key")
	if err != nil {
		return err
	}
	recursive, err := req.boolOpt("recursive", false)
	if err != nil {
		return err
	}
	cids := make([]cid.Cid, 0, len(args))
	for _, a := range args {
		c, err := ipfs.ParseCid(strings.TrimPrefix(a, "/ipfs/"))
		if err != nil {
			return err
		}
		cids = append(cids, c)
	}
	if err := s.Node.Provide(ctx, cids, recursive); err != nil {
		return err
	}
	return res.begin()
}

// resolveOptions reads the options resolve and name/resolve share.
func resolveOptions(req *request) (ipfs.ResolveOptions, error) {
	var o ipfs.ResolveOptions
	var err error
	if o.Recursive, err = req.boolOpt("recursive", true); err != nil {
		return o, err
	}
	if o.NoCache, err = req.boolOpt("nocache", false); err != nil {
		return o, err
	}
	if n, err := req.optInt("dht-record-count"); err != nil {
		return o, err
	} else if n != nil {
		if *n < 0 {
			return o, badRequest("dht-record-count must not be negative")
		}
		o.RecordCount = uint(*n)
	}
	if v := req.str("dht-timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return o, badRequest("dht-timeout %q: %v", v, err)
		}
		if d < 0 {
			return o, badRequest("DHT timeout value must be >= 0")
		}
		o.Timeout = d
	}
	return o, nil
}

// nameResolve resolves an IPNS name or DNSLink domain (the peer's own name
// when none is given).
func (s *server) nameResolve(ctx context.Context, req *request, res *response) error {
	name := s.id.String()
	if a := req.args(); len(a) > 0 {
		name = a[0]
	}
	if !strings.HasPrefix(name, "/ipns/") {
		name = "/ipns/" + name
	}
	o, err := resolveOptions(req)
	if err != nil {
		return err
	}
	p, err := path.NewPath(name)
	if err != nil {
		return badRequest("invalid name %q: %v", name, err)
	}
	r, err := s.Node.ResolveName(ctx, p, o)
	if err != nil {
		return err
	}
	stream, err := req.boolOpt("stream", false)
	if err != nil {
		return err
	}
	if stream {
		return res.emit(ResolvedPath{Path: r.Path.String()})
	}
	return res.single(ResolvedPath{Path: r.Path.String()})
}

// resolve resolves any path to an /ipfs/ path: names first (one step
// without recursive), then the path inside the DAG.
func (s *server) resolve(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "name")
	if err != nil {
		return err
	}
	name := args[0]
	if p, err := path.NewPathFromURI(name); err == nil && strings.Contains(name, "://") {
		name = p.String()
	}
	o, err := resolveOptions(req)
	if err != nil {
		return err
	}
	if strings.HasPrefix(name, "/ipns/") && !o.Recursive {
		p, err := path.NewPath(name)
		if err != nil {
			return badRequest("invalid path %q: %v", name, err)
		}
		r, err := s.Node.ResolveName(ctx, p, o)
		if err != nil && !errors.Is(err, namesys.ErrResolveRecursion) {
			return err
		}
		return res.single(ResolvedPath{Path: r.Path.String()})
	}
	ip, err := s.Node.ResolvePath(ctx, name)
	if err != nil {
		return err
	}
	c, rest, err := s.Node.ResolveToLastNode(ctx, ip)
	if err != nil {
		return err
	}
	out := "/ipfs/" + encoderFromPath(name)(c)
	if len(rest) > 0 {
		out += path.SegmentsToString(rest...)
	}
	return res.single(ResolvedPath{Path: out})
}

// encoderFromPath picks how resolve prints a CID, as Kubo does: when the
// path starts with a CIDv1, in that CID's multibase, upgrading CIDv0 to
// CIDv1; otherwise in each CID's default form.
func encoderFromPath(p string) func(cid.Cid) string {
	plain := func(c cid.Cid) string { return c.String() }
	parts := strings.SplitN(p, "/", 4)
	first := parts[0]
	if first == "" {
		if len(parts) < 3 || parts[1] == "ipns" {
			return plain
		}
		first = parts[2]
	}
	c, err := cid.Decode(first)
	if err != nil || c.Version() == 0 {
		return plain
	}
	enc, _, err := mbase.Decode(first)
	if err != nil {
		return plain
	}
	return func(c cid.Cid) string {
		if c.Version() == 0 {
			c = cid.NewCidV1(c.Type(), c.Hash())
		}
		s, err := c.StringOfBase(enc)
		if err != nil {
			return c.String()
		}
		return s
	}
}
