// Package apiclient is a small client of the IPFS Cluster 1.1.6 REST API as
// a flotilla daemon serves it: JSON objects, NDJSON streams whose late
// failures arrive in the X-Stream-Error trailer, {"code","message"} errors,
// Basic or Bearer credentials, HTTPS with a private CA. The CLI's cluster
// commands are built on it.
package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
)

// Config says where the API is and how to talk to it.
type Config struct {
	// Addr is host:port or an http(s):// URL. With host:port, the scheme
	// is found out on the first request (a server of HTTPS answers plain
	// HTTP with a recognisable 400).
	Addr string
	// Auth is "user:password" (Basic) or a bearer token (tokens have no
	// ':'); empty: no credentials.
	Auth string
	// CAFile is a PEM file of CA certificates trusted for HTTPS, besides
	// the system's.
	CAFile string
	// Transport, if set, replaces the default one (tests).
	Transport http.RoundTripper
}

// Error is the API's answer to a failed request.
type Error struct {
	Code    int    // HTTP status
	Message string // the API's message
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Code) }

// ErrUnreachable wraps failures to connect to the API at all.
var ErrUnreachable = errors.New("cannot reach the REST API")

// Client calls one daemon's REST API. It is safe for concurrent use.
type Client struct {
	hc   *http.Client
	auth string
	host string // host:port

	mu     sync.Mutex // guards scheme
	scheme string     // "http" or "https"; "" until found out
}

// New returns a client; it does not connect.
func New(cfg Config) (*Client, error) {
	c := &Client{auth: cfg.Auth, host: cfg.Addr}
	switch {
	case strings.HasPrefix(cfg.Addr, "http://"):
		c.scheme, c.host = "http", strings.TrimPrefix(cfg.Addr, "http://")
	case strings.HasPrefix(cfg.Addr, "https://"):
		c.scheme, c.host = "https", strings.TrimPrefix(cfg.Addr, "https://")
	case strings.Contains(cfg.Addr, "://"):
		return nil, fmt.Errorf("API address %q: want host:port or an http(s):// URL", cfg.Addr)
	}
	c.host = strings.TrimRight(c.host, "/")
	if c.host == "" || strings.ContainsAny(c.host, "/?#") {
		return nil, fmt.Errorf("API address %q: want host:port or an http(s):// URL", cfg.Addr)
	}
	rt := cfg.Transport
	if rt == nil {
		var err error
		if rt, err = Transport(cfg.CAFile); err != nil {
			return nil, err
		}
	}
	c.hc = &http.Client{Transport: rt}
	return c, nil
}

// Transport is the default transport, trusting the CAs of caFile (PEM)
// besides the system's when caFile is set. The CLI's Kubo RPC client uses
// it too: the admin ports share their TLS and credentials.
func Transport(caFile string) (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pool, err := caPool(caFile)
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return t, nil
}

// Authorize sets the Authorization header for auth: "user:password" is
// Basic, anything else non-empty a bearer token.
func Authorize(req *http.Request, auth string) {
	switch user, pass, basic := strings.Cut(auth, ":"); {
	case basic:
		req.SetBasicAuth(user, pass)
	case auth != "":
		req.Header.Set("Authorization", "Bearer "+auth)
	}
}

// WithAuth wraps rt to authorize every request with auth (as Authorize).
func WithAuth(rt http.RoundTripper, auth string) http.RoundTripper {
	if auth == "" {
		return rt
	}
	return authorizing{rt: rt, auth: auth}
}

type authorizing struct {
	rt   http.RoundTripper
	auth string
}

func (a authorizing) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	Authorize(r, a.auth)
	return a.rt.RoundTrip(r)
}

// caPool is the system's CAs and those of file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("API CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("API CA file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// URL is the API's base URL, once the scheme is known.
func (c *Client) URL(ctx context.Context) (string, error) {
	s, err := c.schemeOf(ctx)
	return s + "://" + c.host, err
}

// schemeOf finds out whether a host:port speaks HTTPS, once.
func (c *Client) schemeOf(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scheme != "" {
		return c.scheme, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.host+"/version", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w at %s: %v", ErrUnreachable, c.host, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	c.scheme = "http"
	// Go's TLS servers and nginx answer plain HTTP so.
	if resp.StatusCode == http.StatusBadRequest && (strings.Contains(string(body), "HTTP request to an HTTPS server") ||
		strings.Contains(string(body), "sent to HTTPS port")) {
		c.scheme = "https"
	}
	return c.scheme, nil
}

// do sends a request and returns the response of a success (status < 300);
// a failure is an *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	base, err := c.URL(ctx)
	if err != nil {
		return nil, err
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	Authorize(req, c.auth)
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, base, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{Code: resp.StatusCode}
	var w struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &w) == nil && w.Message != "" {
		e.Message = w.Message
	} else if e.Message = strings.TrimSpace(string(raw)); e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return nil, e
}

// single decodes one JSON object (none on 204) into out.
func (c *Client) single(ctx context.Context, method, path string, q url.Values, out any) error {
	resp, err := c.do(ctx, method, path, q, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent || out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// stream calls fn on every object of an NDJSON answer (none on 204), then
// reports a failure the server gave in the X-Stream-Error trailer.
func stream[T any](ctx context.Context, c *Client, method, path string, q url.Values, body io.Reader, contentType string, fn func(T) error) error {
	resp, err := c.do(ctx, method, path, q, body, contentType)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s %s: answer cut short: %w", method, path, err)
	}
	if msg := resp.Trailer.Get("X-Stream-Error"); msg != "" {
		return fmt.Errorf("%s %s: the daemon broke the answer off: %s", method, path, msg)
	}
	return nil
}
