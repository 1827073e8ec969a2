package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/boxo/verifcid"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// retryAfter is what a 504 asks clients to wait before trying again.
const retryAfter = 60 * time.Second

// errorMapper gives the backend's errors the status codes of the gateway
// specifications where boxo would answer a bare 500. It is the one place
// where node errors become HTTP statuses.
type errorMapper struct {
	b      gateway.IPFSBackend
	misses *missCache // hosts without DNSLink
}

var _ gateway.IPFSBackend = errorMapper{}

// status maps one error of a call made with ctx.
func status(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if timedOut(ctx) {
		// Our retrieval timeout ended the call: 504, retry later.
		return gateway.NewErrorRetryAfter(gateway.NewErrorStatusCode(fmt.Errorf("%w (%v)", errRetrievalTimeout, err), http.StatusGatewayTimeout), retryAfter)
	}
	var se *gateway.ErrorStatusCode
	if errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err // boxo answers 504
	case errors.Is(err, ipfs.ErrOffline):
		return gateway.NewErrorStatusCode(err, http.StatusServiceUnavailable)
	case errors.Is(err, ipfs.ErrBadPath), errors.Is(err, &path.ErrInvalidPath{}),
		errors.Is(err, verifcid.ErrPossiblyInsecureHashFunction), errors.Is(err, verifcid.ErrDigestTooSmall),
		errors.Is(err, verifcid.ErrDigestTooLarge):
		// A CID with a hash this node refuses to trust is a bad CID.
		return gateway.NewErrorStatusCode(err, http.StatusBadRequest)
	case errors.Is(err, namesys.ErrResolveFailed), errors.Is(err, ipfs.ErrNotFound), errors.Is(err, routing.ErrNotFound):
		// A name without a record (or a domain without DNSLink) is
		// a content path that does not exist.
		return gateway.NewErrorStatusCode(err, http.StatusNotFound)
	}
	return err
}

// nameStatus maps the errors of name resolution, which boxo turns into 500
// whatever they are.
func nameStatus(ctx context.Context, err error) error {
	if err == nil || timedOut(ctx) {
		return status(ctx, err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "cannot resolve:"), strings.Contains(msg, "not a valid domain name"),
		strings.Contains(msg, "require libp2p-key multicodec"), strings.Contains(msg, "unsupported namespace"):
		// Neither an IPNS name nor a domain: the request is wrong.
		return gateway.NewErrorStatusCode(err, http.StatusBadRequest)
	case strings.Contains(msg, "DNSLink lookup for"), strings.Contains(msg, "lookup "):
		if !errors.Is(err, namesys.ErrResolveFailed) {
			// DNS itself failed: an upstream we depend on.
			return gateway.NewErrorStatusCode(err, http.StatusBadGateway)
		}
	}
	return status(ctx, err)
}

func (m errorMapper) Get(ctx context.Context, p path.ImmutablePath, r ...gateway.ByteRange) (gateway.ContentPathMetadata, *gateway.GetResponse, error) {
	md, res, err := m.b.Get(ctx, p, r...)
	return md, res, status(ctx, err)
}

func (m errorMapper) GetAll(ctx context.Context, p path.ImmutablePath) (gateway.ContentPathMetadata, files.Node, error) {
	md, n, err := m.b.GetAll(ctx, p)
	if err != nil && err.Error() == "unknown node type" {
		// GetAll serves TAR, which the spec limits to UnixFS:
		// anything else is a 400, not a server error.
		return md, n, gateway.NewErrorStatusCode(fmt.Errorf("%s is not UnixFS: %w", p, err), http.StatusBadRequest)
	}
	return md, n, status(ctx, err)
}

func (m errorMapper) GetBlock(ctx context.Context, p path.ImmutablePath) (gateway.ContentPathMetadata, files.File, error) {
	md, f, err := m.b.GetBlock(ctx, p)
	return md, f, status(ctx, err)
}

func (m errorMapper) Head(ctx context.Context, p path.ImmutablePath) (gateway.ContentPathMetadata, *gateway.HeadResponse, error) {
	md, h, err := m.b.Head(ctx, p)
	return md, h, status(ctx, err)
}

func (m errorMapper) ResolvePath(ctx context.Context, p path.ImmutablePath) (gateway.ContentPathMetadata, error) {
	md, err := m.b.ResolvePath(ctx, p)
	return md, status(ctx, err)
}

func (m errorMapper) GetCAR(ctx context.Context, p path.ImmutablePath, params gateway.CarParams) (gateway.ContentPathMetadata, io.ReadCloser, error) {
	md, r, err := m.b.GetCAR(ctx, p, params)
	return md, r, status(ctx, err)
}

func (m errorMapper) IsCached(ctx context.Context, p path.Path) bool {
	return m.b.IsCached(ctx, p)
}

func (m errorMapper) GetIPNSRecord(ctx context.Context, c cid.Cid) ([]byte, error) {
	rec, err := m.b.GetIPNSRecord(ctx, c)
	return rec, nameStatus(ctx, err)
}

func (m errorMapper) ResolveMutable(ctx context.Context, p path.Path) (path.ImmutablePath, time.Duration, time.Time, error) {
	ip, ttl, mod, err := m.b.ResolveMutable(ctx, p)
	return ip, ttl, mod, nameStatus(ctx, err)
}

func (m errorMapper) GetDNSLinkRecord(ctx context.Context, host string) (path.Path, error) {
	if m.misses.missing(host) {
		return nil, gateway.NewErrorStatusCode(fmt.Errorf("%w: %s has no DNSLink record (cached)", namesys.ErrResolveFailed, host), http.StatusNotFound)
	}
	p, err := m.b.GetDNSLinkRecord(ctx, host)
	if errors.Is(err, namesys.ErrResolveFailed) {
		m.misses.add(host)
	}
	if err != nil && strings.Contains(err.Error(), "blocked and cannot be provided") {
		// The host does have DNSLink, and a denylist blocks it: say
		// so, and let the request fail on the blocked name (410)
		// rather than fall through to "no such site" (404).
		return path.NewPath("/ipns/" + host)
	}
	return p, nameStatus(ctx, err)
}

// WrapContextForRequest keeps boxo's per-request bitswap session, which
// the wrapper would otherwise hide.
func (m errorMapper) WrapContextForRequest(ctx context.Context) context.Context {
	if w, ok := m.b.(gateway.WithContextHint); ok {
		return w.WrapContextForRequest(ctx)
	}
	return ctx
}
