package gateway

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// responseCache keeps whole small responses for immutable content paths
// in memory and replays them, byte for byte, to the next identical
// request. An /ipfs/ response is a function of the request line, the Host
// and a few headers: it never changes, which is why the specs let CDNs
// keep it for a year. Keeping it here too turns a popular small file into
// a map lookup instead of path parsing, block reads, content sniffing and
// header assembly; that is where most of a small request's time went
// (see docs/benchmarks.md).
//
// What is cached: GET and HEAD answers with status 200, an immutable
// Cache-Control and an /ipfs/ X-Ipfs-Path, of at most maxEntry bytes, for
// requests without Range, conditional or cache-directive headers, on a
// host whose meaning cannot change: an IP address, a configured public
// gateway host or one of its subdomains (any other host may gain a
// DNSLink record, which would turn /ipfs/… into a path under it).
//
// The cache is off when denylists are configured: a rule added at run time
// must stop a response that is already cached.
type responseCache struct {
	next     http.Handler
	hosts    []string // configured public gateway hosts
	maxEntry int

	mu   sync.Mutex
	lru  *simplelru.LRU[string, *cachedResponse] // guarded by mu
	size int64                                   // guarded by mu
	max  int64
}

type cachedResponse struct {
	header http.Header
	body   []byte
}

// withResponseCache wraps next; max 0 disables the cache.
func withResponseCache(next http.Handler, hosts []string, max int64, maxEntry int) http.Handler {
	if max <= 0 || maxEntry <= 0 {
		return next
	}
	c := &responseCache{next: next, hosts: hosts, maxEntry: maxEntry, max: max}
	c.lru, _ = simplelru.NewLRU(1<<30, func(_ string, v *cachedResponse) { c.size -= v.cost() })
	return c
}

func (v *cachedResponse) cost() int64 { return int64(len(v.body)) + 512 }

// uncachable request headers: they change the answer (Range, the
// conditionals, Service-Worker), ask the gateway to behave differently
// (Cache-Control) or reach another host (X-Forwarded-Host).
var uncachable = []string{
	"Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range",
	"Cache-Control", "Service-Worker", "X-Forwarded-Host",
}

// key returns the cache key of r, or "" when r may not be cached.
func (c *responseCache) key(r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return ""
	}
	for _, h := range uncachable {
		if _, ok := r.Header[h]; ok {
			return ""
		}
	}
	if !c.stableHost(r.Host) {
		return ""
	}
	var b strings.Builder
	b.Grow(len(r.Method) + len(r.Host) + len(r.RequestURI) + 64)
	b.WriteString(r.Method)
	b.WriteByte(0)
	b.WriteString(r.Host)
	b.WriteByte(0)
	b.WriteString(r.RequestURI)
	b.WriteByte(0)
	b.WriteString(r.Header.Get("Accept"))
	b.WriteByte(0)
	b.WriteString(r.Header.Get("X-Forwarded-Proto"))
	return b.String()
}

// stableHost says whether what a path means on host can never change.
func (c *responseCache) stableHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return true
	}
	for _, g := range c.hosts {
		if h == g || strings.HasSuffix(h, ".ipfs."+g) {
			return true
		}
	}
	return false
}

func (c *responseCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := c.key(r)
	if key == "" {
		c.next.ServeHTTP(w, r)
		return
	}
	c.mu.Lock()
	hit, ok := c.lru.Get(key)
	c.mu.Unlock()
	if ok {
		h := w.Header()
		for k, v := range hit.header {
			h[k] = slices.Clip(v) // shared: an append must not write into it
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(hit.body)
		}
		return
	}
	rec := &recorder{ResponseWriter: w, max: c.maxEntry}
	c.next.ServeHTTP(rec, r)
	if entry := rec.entry(r.Method); entry != nil {
		c.mu.Lock()
		if !c.lru.Contains(key) {
			c.lru.Add(key, entry)
			c.size += entry.cost()
			for c.size > c.max {
				c.lru.RemoveOldest()
			}
		}
		c.mu.Unlock()
	}
}

// recorder passes a response through and keeps a copy of it while it is
// small enough to cache.
type recorder struct {
	http.ResponseWriter
	max    int
	status int
	body   []byte
	over   bool // too big, or written in a way we do not replay
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if !r.over {
		if len(r.body)+len(p) > r.max {
			r.over, r.body = true, nil
		} else {
			r.body = append(r.body, p...)
		}
	}
	return r.ResponseWriter.Write(p)
}

// Flush marks the response as streamed: it is not replayed.
func (r *recorder) Flush() {
	r.over, r.body = true, nil
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// entry returns what to cache, or nil.
func (r *recorder) entry(method string) *cachedResponse {
	if r.over || r.status != http.StatusOK {
		return nil
	}
	h := r.ResponseWriter.Header()
	if !strings.Contains(h.Get("Cache-Control"), "immutable") || !strings.HasPrefix(h.Get("X-Ipfs-Path"), "/ipfs/") {
		return nil
	}
	if method == http.MethodGet && h.Get("Content-Length") != "" && h.Get("Content-Length") != strconv.Itoa(len(r.body)) {
		return nil // cut short (a client gone, a truncated stream)
	}
	hdr := h.Clone()
	hdr.Del("Date")
	return &cachedResponse{header: hdr, body: r.body}
}
