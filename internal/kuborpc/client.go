package kuborpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ipfs/boxo/files"
)

// Client calls a flotilla (or Kubo) RPC endpoint.
type Client struct {
	base string // e.g. http://127.0.0.1:5001
	hc   *http.Client
}

// NewClient returns a client for the RPC server at base (scheme://host:port).
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(base, "/"), hc: hc}
}

// RemoteError is an error reported by the server.
type RemoteError struct {
	Status  int
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Request describes one call: the command, its positional arguments, its
// options and an optional body.
type Request struct {
	Cmd     string
	Args    []string
	Options url.Values
	Body    io.Reader
	// ContentType of Body; multipart bodies set it from their boundary.
	ContentType string
}

// Files attaches a directory of top-level entries as Kubo's multipart body.
func (r *Request) Files(dir files.Directory) {
	mfr := files.NewMultiFileReader(dir, true, false)
	r.Body = mfr
	r.ContentType = "multipart/form-data; boundary=" + mfr.Boundary()
}

// Do sends the request and returns the response, converting an error status
// into a *RemoteError.
func (c *Client) Do(ctx context.Context, r Request) (*http.Response, error) {
	q := url.Values{}
	for k, v := range r.Options {
		q[k] = v
	}
	for _, a := range r.Args {
		q.Add("arg", a)
	}
	u := c.base + "/api/v0/" + r.Cmd + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, r.Body)
	if err != nil {
		return nil, err
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e Error
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			return nil, &RemoteError{Status: resp.StatusCode, Message: e.Message}
		}
		return nil, &RemoteError{Status: resp.StatusCode, Message: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))}
	}
	return resp, nil
}

// Single decodes a one-value response into out.
func (c *Client) Single(ctx context.Context, r Request, out any) error {
	resp, err := c.Do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s response: %w", r.Cmd, err)
	}
	return nil
}

// Stream decodes an NDJSON response value by value, stopping at an error
// line or an X-Stream-Error trailer.
func Stream[T any](ctx context.Context, c *Client, r Request, fn func(T) error) error {
	resp, err := c.Do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || string(line) == "{}" {
			continue
		}
		var e Error
		if json.Unmarshal(line, &e) == nil && e.Type == "error" {
			return &RemoteError{Status: resp.StatusCode, Message: e.Message}
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("decode %s stream: %w", r.Cmd, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return trailerError(resp)
}

// Raw returns the body of a byte-stream response. Its Close reports an
// error the server signalled after the stream began.
func (c *Client) Raw(ctx context.Context, r Request) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	return &rawBody{resp: resp}, nil
}

type rawBody struct {
	resp *http.Response
}

func (b *rawBody) Read(p []byte) (int, error) {
	n, err := b.resp.Body.Read(p)
	if errors.Is(err, io.EOF) {
		if terr := trailerError(b.resp); terr != nil {
			return n, terr
		}
	}
	return n, err
}

func (b *rawBody) Close() error { return b.resp.Body.Close() }

// trailerError reads the X-Stream-Error trailer, available once the body
// has been read to its end.
func trailerError(resp *http.Response) error {
	if msg := resp.Trailer.Get("X-Stream-Error"); msg != "" {
		return &RemoteError{Status: resp.StatusCode, Message: msg}
	}
	return nil
}
