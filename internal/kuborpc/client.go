package kuborpc

import "net/http"

// Client calls a flotilla (or Kubo) RPC endpoint.
type Client struct {
	base string // e.g. http://127.0.0.1:5001
	hc   *http.Client
}

// NewClient returns a client for the RPC server at base (scheme://host:port).
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: base, hc: hc}
}
