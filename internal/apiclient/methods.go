package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/boxo/files"
)

// ID is the contacted peer.
func (c *Client) ID(ctx context.Context) (ID, error) {
	var id ID
	return id, c.single(ctx, http.MethodGet, "/id", nil, &id)
}

// Peers streams the cluster's members.
func (c *Client) Peers(ctx context.Context, fn func(ID) error) error {
	return stream(ctx, c, http.MethodGet, "/peers", nil, nil, "", fn)
}

// RemovePeer takes a peer out of the cluster.
func (c *Client) RemovePeer(ctx context.Context, id string) error {
	return c.single(ctx, http.MethodDelete, "/peers/"+url.PathEscape(id), nil, nil)
}

// PinOptions are a pin's options; zero values leave the cluster's
// defaults.
type PinOptions struct {
	// ReplicationMin and ReplicationMax bound the replicas (-1:
	// everywhere; 0: the cluster's default).
	ReplicationMin, ReplicationMax int
	Name                           string
	Mode                           string // "recursive" (default) or "direct"
	// ExpireIn removes the pin that long after it is made.
	ExpireIn time.Duration
	Metadata map[string]string
	// Allocations are peer IDs to allocate first.
	Allocations []string
	// Origins are multiaddrs (with /p2p/) of peers that have the content.
	Origins []string
	// PinUpdate is the CID of a pin whose options (and peers) the new
	// pin takes over.
	PinUpdate string
}

// Values encodes the options as the API's query parameters.
func (o PinOptions) Values() url.Values {
	q := url.Values{}
	if o.ReplicationMin != 0 {
		q.Set("replication-min", strconv.Itoa(o.ReplicationMin))
	}
	if o.ReplicationMax != 0 {
		q.Set("replication-max", strconv.Itoa(o.ReplicationMax))
	}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	if o.Mode != "" {
		q.Set("mode", o.Mode)
	}
	if o.ExpireIn != 0 {
		q.Set("expire-in", o.ExpireIn.String())
	}
	for k, v := range o.Metadata {
		q.Set("meta-"+k, v)
	}
	if len(o.Allocations) > 0 {
		q.Set("user-allocations", strings.Join(o.Allocations, ","))
	}
	if len(o.Origins) > 0 {
		q.Set("origins", strings.Join(o.Origins, ","))
	}
	if o.PinUpdate != "" {
		q.Set("pin-update", o.PinUpdate)
	}
	return q
}

// pinPath is the route of a target: a CID, or an /ipfs, /ipns or /ipld
// path.
func pinPath(target string) string {
	if strings.HasPrefix(target, "/") {
		return "/pins" + (&url.URL{Path: target}).EscapedPath()
	}
	return "/pins/" + url.PathEscape(target)
}

// Pin adds or updates a pin and returns it as committed (not yet fetched:
// see Status).
func (c *Client) Pin(ctx context.Context, target string, o PinOptions) (Pin, error) {
	var p Pin
	return p, c.single(ctx, http.MethodPost, pinPath(target), o.Values(), &p)
}

// Unpin removes a pin and returns it.
func (c *Client) Unpin(ctx context.Context, target string) (Pin, error) {
	var p Pin
	return p, c.single(ctx, http.MethodDelete, pinPath(target), nil, &p)
}

// Allocation is the pin of a CID.
func (c *Client) Allocation(ctx context.Context, cid string) (Pin, error) {
	var p Pin
	return p, c.single(ctx, http.MethodGet, "/allocations/"+url.PathEscape(cid), nil, &p)
}

// Allocations streams the pinset in CID order.
func (c *Client) Allocations(ctx context.Context, fn func(Pin) error) error {
	return stream(ctx, c, http.MethodGet, "/allocations", url.Values{"filter": {"pin"}}, nil, "", fn)
}

// Status is every peer's view of a CID (local: the contacted peer's).
func (c *Client) Status(ctx context.Context, cid string, local bool) (GlobalPinInfo, error) {
	var g GlobalPinInfo
	return g, c.single(ctx, http.MethodGet, "/pins/"+url.PathEscape(cid), localQuery(local), &g)
}

// StatusAll streams the status of the given CIDs, or of the whole pinset,
// keeping the pins where some peer's status is in filter (IPFS Cluster's
// names, comma-separated; empty: all).
func (c *Client) StatusAll(ctx context.Context, cids []string, filter string, local bool, fn func(GlobalPinInfo) error) error {
	q := localQuery(local)
	if len(cids) > 0 {
		q.Set("cids", strings.Join(cids, ","))
	}
	if filter != "" {
		q.Set("filter", filter)
	}
	return stream(ctx, c, http.MethodGet, "/pins", q, nil, "", fn)
}

func localQuery(local bool) url.Values {
	q := url.Values{}
	if local {
		q.Set("local", "true")
	}
	return q
}

// Alerts are the members the leader has not heard from in time.
func (c *Client) Alerts(ctx context.Context) ([]Alert, error) {
	var as []Alert
	return as, c.single(ctx, http.MethodGet, "/health/alerts", nil, &as)
}

// Metrics are every member's latest value of a metric ("freespace",
// "ping").
func (c *Client) Metrics(ctx context.Context, name string) ([]Metric, error) {
	var ms []Metric
	return ms, c.single(ctx, http.MethodGet, "/monitor/metrics/"+url.PathEscape(name), nil, &ms)
}

// Add uploads the entries of dir as a multipart body, as ipfs-cluster-ctl
// does, and calls fn on every output: imported entries, and with
// progress=true in q, reports of the bytes read (no CID).
func (c *Client) Add(ctx context.Context, dir files.Directory, q url.Values, fn func(AddedOutput) error) error {
	mfr := files.NewMultiFileReader(dir, true, false)
	return stream(ctx, c, http.MethodPost, "/add", q, mfr, "multipart/form-data; boundary="+mfr.Boundary(), fn)
}

// BatchResult is the answer for one line of PinBatch.
type BatchResult struct {
	Line        int      `json:"line"`
	Cid         string   `json:"cid,omitempty"`
	Allocations []string `json:"allocations,omitempty"`
	Code        int      `json:"code,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// PinBatch streams an NDJSON body of pins (a CID, or a pin object, per
// line) to POST /pins/batch and calls fn with each line's answer, in order,
// as the pins commit.
func (c *Client) PinBatch(ctx context.Context, body io.Reader, fn func(BatchResult) error) error {
	return stream(ctx, c, http.MethodPost, "/pins/batch", nil, body, "application/x-ndjson", fn)
}
