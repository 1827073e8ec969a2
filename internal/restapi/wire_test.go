package restapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-ipfs/flotilla/internal/member"
)

const (
	wildPeer4 = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	wildPeer6 = "12D3KooWGDwTANDNvjGCZw7HqpUEJWPGZiPde3gMM6d1bNwgjyFm"
	dnsPeer   = "12D3KooWJ4sTbH5Sx4Rn7YYyuXoQBG26wWYvMaURj7mc9iD3C4xs"
)

// wildCluster's members recorded what a peer of an older release could: a
// wildcard address, port 0, no host.
type wildCluster struct{ fakeCluster }

func (w *wildCluster) Members(context.Context) ([]member.Member, error) {
	return []member.Member{
		{ID: testPeer, ClusterAddr: "[::]:9096"},
		{ID: wildPeer4, ClusterAddr: "0.0.0.0:9096"},
		{ID: wildPeer6, ClusterAddr: "[fd00::2]:0"},
		{ID: dnsPeer, ClusterAddr: "node-b:9096"},
	}, nil
}

// undialable is what /id and /peers must never announce.
func undialable(a string) bool {
	return strings.HasPrefix(a, "/ip4/0.0.0.0/") || strings.HasPrefix(a, "/ip6/::/") || strings.Contains(a, "/tcp/0/") ||
		strings.HasPrefix(a, "/dns//")
}

func TestNoUnspecifiedClusterAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9096":      "/ip4/127.0.0.1/tcp/9096/p2p/" + testPeer,
		"[fd00::2]:9096":      "/ip6/fd00::2/tcp/9096/p2p/" + testPeer,
		"node-a:9096":         "/dns/node-a/tcp/9096/p2p/" + testPeer,
		"0.0.0.0:9096":        "",
		"[::]:9096":           "",
		"[::ffff:0.0.0.0]:96": "",
		":9096":               "",
		"10.0.0.5:0":          "",
		"garbage":             "",
	} {
		if got := clusterMultiaddr(member.Member{ID: testPeer, ClusterAddr: addr}); got != want {
			t.Errorf("clusterMultiaddr(%q) = %q, want %q", addr, got, want)
		}
	}

	srv := httptest.NewServer(NewHandler(DefaultConfig(), Deps{Cluster: &wildCluster{}, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	_, body := do(t, "GET", srv.URL+"/id")
	ids := []wireID{{}}
	if err := json.Unmarshal([]byte(body), &ids[0]); err != nil {
		t.Fatalf("GET /id: %v: %s", err, body)
	}
	_, body = do(t, "GET", srv.URL+"/peers")
	dec := json.NewDecoder(strings.NewReader(body))
	for dec.More() {
		var id wireID
		if err := dec.Decode(&id); err != nil {
			t.Fatalf("GET /peers: %v: %s", err, body)
		}
		ids = append(ids, id)
	}
	if len(ids) != 5 || ids[0].ID != testPeer {
		t.Fatalf("GET /id and /peers = %+v, want this peer and 4 members", ids)
	}
	for _, id := range ids {
		for _, a := range slices.Concat(id.Addresses, id.ClusterPeersAddresses) {
			if undialable(a) {
				t.Errorf("%s announces %s, which no peer can dial", id.ID, a)
			}
		}
		if len(id.ClusterPeers) != 4 || !slices.Equal(id.ClusterPeersAddresses, []string{"/dns/node-b/tcp/9096/p2p/" + dnsPeer}) {
			t.Errorf("%s: cluster peers %v at %v, want 4 peers, node-b's address only", id.ID, id.ClusterPeers, id.ClusterPeersAddresses)
		}
		if id.Addresses == nil {
			t.Errorf("%s: addresses null, want a list (IPFS Cluster's clients range over it)", id.ID)
		}
	}
}

// /peers shows each peer's own version, as its heartbeat reports it.
func TestMemberToWireShowsEachPeersVersion(t *testing.T) {
	old := member.Member{ID: "peer-a", Version: "0.9.0"}
	same := member.Member{ID: "peer-b", Version: "1.0.0"}
	silent := member.Member{ID: "peer-c"}
	all := []member.Member{old, same, silent}
	for _, c := range []struct {
		m               member.Member
		version, commit string
	}{
		{old, "0.9.0", ""},
		{same, "1.0.0", "abc"},
		{silent, "1.0.0", "abc"},
	} {
		w := memberToWire(c.m, all, "1.0.0", "abc")
		if w.Version != c.version || w.Commit != c.commit {
			t.Errorf("%s: version %q commit %q, want %q %q", c.m.ID, w.Version, w.Commit, c.version, c.commit)
		}
	}
}
