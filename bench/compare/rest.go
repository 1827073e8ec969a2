package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// rest is a client of IPFS Cluster 1.1.6's REST API, which both sides
// serve: the same requests go to flotilla and to ipfs-cluster-service.
type rest struct {
	hc *http.Client
}

func newREST(conns int) *rest {
	return &rest{hc: &http.Client{Transport: &http.Transport{
		MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}}
}

// apiError is a non-2xx answer: the status and IPFS Cluster's
// {"code","message"} body.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// notImplemented reports whether err is a 501 answer.
func notImplemented(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotImplemented
}

func (c *rest) do(ctx context.Context, method, api, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+api+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e struct{ Message string }
		if json.Unmarshal(raw, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		return nil, &apiError{Status: resp.StatusCode, Message: e.Message}
	}
	return resp, nil
}

// replication is the query of a pin with min = max = n replicas.
func replication(n int) string {
	return fmt.Sprintf("replication-min=%d&replication-max=%d", n, n)
}

// pin pins c with n replicas: POST /pins/{cid}.
func (c *rest) pin(ctx context.Context, api, cid string, n int) error {
	resp, err := c.do(ctx, http.MethodPost, api, "/pins/"+cid+"?"+replication(n), nil, "")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// stream calls a streaming endpoint and decodes every JSON object of
// the answer (IPFS Cluster streams newline-delimited objects; a JSON
// array is read too), calling item for each. It returns how long the
// first object took (0 if none came) and the number of objects. A 204
// is an empty stream; an X-Stream-Error trailer is an error.
func (c *rest) stream(ctx context.Context, api, path string, item func(json.RawMessage) error) (first time.Duration, n int, err error) {
	start := time.Now()
	resp, err := c.do(ctx, http.MethodGet, api, path, nil, "")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	each := func(raw json.RawMessage) error {
		if n == 0 {
			first = time.Since(start)
		}
		n++
		if item != nil {
			return item(raw)
		}
		return nil
	}
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return first, n, fmt.Errorf("GET %s: item %d: %w", path, n, err)
		}
		if len(raw) > 0 && raw[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return first, n, err
			}
			for _, it := range items {
				if err := each(it); err != nil {
					return first, n, err
				}
			}
			continue
		}
		if err := each(raw); err != nil {
			return first, n, err
		}
	}
	if msg := resp.Trailer.Get("X-Stream-Error"); msg != "" {
		return first, n, fmt.Errorf("GET %s: stream error: %s", path, msg)
	}
	return first, n, nil
}

// pinStatus is the part of a GlobalPinInfo the workloads read.
type pinStatus struct {
	Cid     string `json:"cid"`
	PeerMap map[string]struct {
		Status string `json:"status"`
	} `json:"peer_map"`
}

// pinnedOn counts the peers of ps that report it pinned, among live.
func (ps pinStatus) pinnedOn(live map[string]bool) int {
	n := 0
	for id, s := range ps.PeerMap {
		if s.Status == "pinned" && (live == nil || live[id]) {
			n++
		}
	}
	return n
}

// statusAll streams GET /pins: the status of every pin on every peer.
func (c *rest) statusAll(ctx context.Context, api string, each func(pinStatus)) (first time.Duration, n int, err error) {
	return c.stream(ctx, api, "/pins", func(raw json.RawMessage) error {
		if each == nil {
			return nil
		}
		var ps pinStatus
		if err := json.Unmarshal(raw, &ps); err != nil {
			return err
		}
		each(ps)
		return nil
	})
}

// status returns GET /pins/{cid}.
func (c *rest) status(ctx context.Context, api, cid string) (pinStatus, error) {
	var ps pinStatus
	resp, err := c.do(ctx, http.MethodGet, api, "/pins/"+cid, nil, "")
	if err != nil {
		return ps, err
	}
	defer resp.Body.Close()
	return ps, json.NewDecoder(resp.Body).Decode(&ps)
}

// allocations streams GET /allocations?filter=pin (pin ls).
func (c *rest) allocations(ctx context.Context, api string) (first time.Duration, n int, err error) {
	return c.stream(ctx, api, "/allocations?filter=pin", nil)
}

// metric is a metric or alert of /monitor/metrics and /health/alerts.
type metric struct {
	Name        string    `json:"name"`
	Peer        string    `json:"peer"`
	Valid       bool      `json:"valid"`
	TriggeredAt time.Time `json:"triggered_at"`
}

// alerts returns GET /health/alerts.
func (c *rest) alerts(ctx context.Context, api string) ([]metric, error) {
	return c.metrics(ctx, api, "/health/alerts")
}

// pings returns GET /monitor/metrics/ping: the latest ping of each peer.
func (c *rest) pings(ctx context.Context, api string) ([]metric, error) {
	return c.metrics(ctx, api, "/monitor/metrics/ping")
}

func (c *rest) metrics(ctx context.Context, api, path string) ([]metric, error) {
	var out []metric
	_, _, err := c.stream(ctx, api, path, func(raw json.RawMessage) error {
		var m metric
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// add posts file to POST /add with n replicas and returns the root CID
// (the last object of the answer).
func (c *rest) add(ctx context.Context, api, file string, n int) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", filepath.Base(file))
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	q := url.Values{"cid-version": {"1"}, "stream-channels": {"true"}, "name": {filepath.Base(file)}}
	path := "/add?" + q.Encode() + "&" + replication(n)
	resp, err := c.do(ctx, http.MethodPost, api, path, pr, mw.FormDataContentType())
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if the answer came early
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var root string
	dec := json.NewDecoder(resp.Body)
	for {
		var out struct {
			Cid     json.RawMessage `json:"cid"`
			Message string          `json:"message"`
		}
		if err := dec.Decode(&out); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("POST /add: %w", err)
		}
		if out.Message != "" && len(out.Cid) == 0 {
			return "", fmt.Errorf("POST /add: %s", out.Message)
		}
		root = cidString(out.Cid)
	}
	if msg := resp.Trailer.Get("X-Stream-Error"); msg != "" {
		return "", fmt.Errorf("POST /add: %s", msg)
	}
	if root == "" {
		return "", errors.New("POST /add: no CID in the answer")
	}
	return root, nil
}

// cidString reads a CID written as "bafy…" or as {"/": "bafy…"}.
func cidString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var link struct {
		Slash string `json:"/"`
	}
	json.Unmarshal(raw, &link)
	return link.Slash
}
