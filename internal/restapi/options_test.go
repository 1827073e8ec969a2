package restapi

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

const (
	testCid  = "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"
	testPeer = "12D3KooWCwWzQLXNptWMq6DAGe4nCQbMiwW2aBV2NtyiztvCAHBc"
)

func TestRestParsePinOptions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	upd, _ := cid.Decode(testCid)
	origin := "/ip4/127.0.0.1/tcp/4001/p2p/" + testPeer
	tests := []struct {
		query string
		want  pin.Pin
		err   string // substring; empty: no error
	}{
		{query: "", want: pin.Pin{Mode: pin.Recursive}},
		// What ipfs-cluster-ctl sends for a plain `pin add`.
		{query: "replication-min=0&replication-max=0&name=&mode=recursive&shard-size=0&user-allocations=", want: pin.Pin{Mode: pin.Recursive}},
		{query: "name=doc&mode=direct", want: pin.Pin{Name: "doc", Mode: pin.Direct}},
		{query: "replication=1&replication-min=5", want: pin.Pin{Mode: pin.Recursive, ReplicationMin: 1, ReplicationMax: 1}},
		{query: "replication-min=1&replication-max=2", want: pin.Pin{Mode: pin.Recursive, ReplicationMin: 1, ReplicationMax: 2}},
		// A bound not given is left to the cluster (pin.WithDefaults).
		{query: "replication-max=5", want: pin.Pin{Mode: pin.Recursive, ReplicationMax: 5}},
		{query: "replication-min=1", want: pin.Pin{Mode: pin.Recursive, ReplicationMin: 1}},
		{query: "replication=-1", want: pin.Pin{Mode: pin.Recursive, ReplicationMin: -1, ReplicationMax: -1}},
		{query: "replication-max=-1", want: pin.Pin{Mode: pin.Recursive, ReplicationMax: -1}},
		{query: "replication-min=3&replication-max=2", want: pin.Pin{Mode: pin.Recursive, ReplicationMin: 3, ReplicationMax: 2}}, // rejected by Validate
		{query: "user-allocations=" + testPeer + ",," + testPeer, want: pin.Pin{Mode: pin.Recursive, UserAllocations: []string{testPeer, testPeer}}},
		{query: "expire-at=2030-01-01T00:00:00Z", want: pin.Pin{Mode: pin.Recursive, ExpireAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{query: "expire-in=1h", want: pin.Pin{Mode: pin.Recursive, ExpireAt: now.Add(time.Hour)}},
		{query: "meta-a=b&meta-=x&metaz=y", want: pin.Pin{Mode: pin.Recursive, Metadata: map[string]string{"a": "b"}}},
		{query: "pin-update=" + testCid, want: pin.Pin{Mode: pin.Recursive, PinUpdate: upd}},
		{query: "origins=" + url.QueryEscape(origin), want: pin.Pin{Mode: pin.Recursive, Origins: []string{origin}}},

		{query: "mode=shallow", err: `unknown mode "shallow"`},
		{query: "replication-min=two", err: "replication-min"},
		{query: "replication-max=-2", err: "replication-max"},
		{query: "shard-size=-1", err: "shard-size"},
		{query: "user-allocations=notapeer", err: "bad peer ID"},
		{query: "expire-at=tomorrow", err: "expire-at cannot be parsed"},
		{query: "expire-in=forever", err: "expire-in cannot be parsed"},
		{query: "expire-in=10ms", err: "too short"},
		{query: "pin-update=nope", err: "update option"},
		{query: "origins=/ip4/127.0.0.1/tcp/1", err: "does not contain peer ID"},
		{query: "origins=garbage", err: "error decoding multiaddress"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parsePinOptions(q, now)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parsePinOptions(%q) error = %v, want one containing %q", tt.query, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePinOptions(%q) error = %v", tt.query, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePinOptions(%q) = %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

// FuzzParsePinOptions: any query either fails with a message or yields
// options whose mode is known and whose replication bounds are each -1, 0
// (the cluster's default) or more; it never panics.
func FuzzParsePinOptions(f *testing.F) {
	for _, s := range []string{
		"", "replication=2&name=x", "replication-min=-1&replication-max=3", "mode=direct&expire-in=1s",
		"user-allocations=" + testPeer, "origins=/ip4/1.2.3.4/tcp/1/p2p/" + testPeer, "meta-k=v&pin-update=" + testCid,
		"expire-at=2030-01-01T00:00:00Z", "shard-size=18446744073709551616", "replication-max=9223372036854775808",
	} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parsePinOptions(q, now)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("parsePinOptions(%q): empty error message", raw)
			}
			return
		}
		if p.Mode != pin.Recursive && p.Mode != pin.Direct {
			t.Errorf("parsePinOptions(%q) mode = %q", raw, p.Mode)
		}
		if p.ReplicationMin < pin.Everywhere || p.ReplicationMax < pin.Everywhere {
			t.Errorf("parsePinOptions(%q) replication = %d..%d, want -1 or more", raw, p.ReplicationMin, p.ReplicationMax)
		}
		p.Cid, _ = cid.Decode(testCid)
		_ = p.Validate(now) // must not panic
	})
}
