package registry

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"
)

// An upload in progress lives on the peer that started it (uploads.go),
// yet behind a load balancer its next request may reach any peer: docker
// sends POST, PATCH and PUT as separate requests, keeps no cookies, and a
// round-robin balancer spreads them. So an upload's ID names its peer
// ("<peer ID>-<random>"), and a peer that gets a request for another's
// upload hands it over as it is, body streamed, over the cluster port
// (Cluster.DialAPI), then relays the answer. The receiving peer serves it
// through Handoff, without asking for credentials again: the peer that
// took the request checked them, and only peers holding the cluster secret
// reach that listener. No balancer stickiness is needed, and no port or
// address beyond the cluster's.
//
// A request handed over is served where it lands, never handed on again.
// When the upload's peer is gone or unreachable, the answer is
// BLOB_UPLOAD_UNKNOWN: its session is lost with it, and clients start the
// upload again (docker does, through a peer that answers).

// uploadID is a new upload's ID on this peer: the peer's ID, then the
// random part.
func uploadID(self, random string) string {
	if self == "" {
		return random
	}
	return self + "-" + random
}

// uploadOwner is the peer an upload ID names; "" for an ID that names
// none (this peer's, from a registry without a cluster ID).
func uploadOwner(id string) string {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return ""
	}
	return id[:i]
}

// heldElsewhere reports the peer holding the upload rt names, when that is
// not this one.
func (g *Registry) heldElsewhere(rt route) (string, bool) {
	if rt.kind != routeUpload {
		return "", false
	}
	owner := uploadOwner(rt.ref)
	return owner, owner != "" && owner != g.deps.Cluster.ID()
}

type ownerKey struct{}

// newHandoffProxy relays requests to the peer named in their context
// (ownerKey): the URL's host is that peer's ID, which the transport dials
// through the cluster.
func newHandoffProxy(g *Registry) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Context().Value(ownerKey{}).(string)
			pr.Out.Host = ""
			// The receiving peer asks for none: keep them off the wire.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				id, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return g.deps.Cluster.DialAPI(ctx, id)
			},
			// A push sends a few requests per layer: keep the
			// connections (and their TLS handshakes) for the next.
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     time.Minute,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rt, _ := parseRoute(r.URL.Path)
			owner, _ := r.Context().Value(ownerKey{}).(string)
			g.log.Debug("upload hand-off failed", "method", r.Method, "path", r.URL.Path, "peer", owner, "err", err)
			w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
			writeErrorBody(w, errorf(http.StatusNotFound, codeBlobUploadUnknown,
				"upload %q is held by peer %s, which did not answer (%v): start the upload again", rt.ref, owner, err))
		},
	}
}

// handOff relays the request to the peer holding its upload.
func (g *Registry) handOff(w http.ResponseWriter, r *http.Request, owner string) {
	// The answer carries the owner's headers, this one included.
	w.Header().Del("Docker-Distribution-API-Version")
	g.handoff.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ownerKey{}, owner)))
}

// Handoff is the handler of requests other peers hand over to this one:
// those of uploads it holds, and nothing else. Serve it only where the
// cluster's peers alone can reach (the cluster's APIListener): it asks for
// no credentials.
func (g *Registry) Handoff() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt, ok := parseRoute(r.URL.Path); !ok || rt.kind != routeUpload {
			w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
			writeErrorBody(w, errorf(http.StatusForbidden, codeDenied, "only the requests of an upload in progress are handed over, not %s %s", r.Method, r.URL.Path))
			return
		}
		g.serve(w, r, true)
	})
}

// notHeldHere answers a handed-over request for an upload this peer does
// not hold (the ID names another peer, or a peer now gone whose address
// this one took).
func notHeldHere(rt route, owner string) *apiError {
	return errorf(http.StatusNotFound, codeBlobUploadUnknown, "upload %q is held by peer %s, not by the peer it was handed to", rt.ref, owner)
}
