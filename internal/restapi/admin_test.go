package restapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// otherPeer is a second member of adminCluster; downPeer (server_test.go)
// is a member that cannot be reached.
const otherPeer = "12D3KooWE9XxdTZVTQgs2FwD43JmuofMXE2ff5sU2kwifs1qeL4J"

// adminCluster is the fake with the optional administration interfaces and
// three members.
type adminCluster struct {
	fakeCluster
	removed []string
	local   []bool // the local flag of each RepoGC call
}

var (
	_ Membership       = (*adminCluster)(nil)
	_ GarbageCollector = (*adminCluster)(nil)
	_ Connectivity     = (*adminCluster)(nil)
	_ Bandwidth        = (*adminCluster)(nil)
)

func (a *adminCluster) Members(ctx context.Context) ([]member.Member, error) {
	return []member.Member{
		{ID: testPeer, Name: "one", ClusterAddr: "127.0.0.1:9096"},
		{ID: otherPeer, Name: "two", ClusterAddr: "127.0.0.2:9096"},
		{ID: downPeer, Name: "three", ClusterAddr: "127.0.0.3:9096"},
	}, nil
}

func (a *adminCluster) RemoveMember(ctx context.Context, id string) error {
	switch id {
	case testPeer:
		return fmt.Errorf("%w: %s is the only voter", ErrRefused, id)
	case otherPeer, downPeer:
		a.removed = append(a.removed, id)
		return nil
	}
	return fmt.Errorf("peer %s: %w", id, ErrPeerNotFound)
}

func (a *adminCluster) RepoGC(ctx context.Context, local bool) ([]GCResult, error) {
	a.local = append(a.local, local)
	one := GCResult{Peer: testPeer, Removed: []cid.Cid{cid.MustParse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")}}
	if local {
		return []GCResult{one}, nil
	}
	return []GCResult{one, {Peer: otherPeer}, {Peer: downPeer, Err: "unreachable"}}, nil
}

func (a *adminCluster) Links(ctx context.Context) ([]PeerLinks, error) {
	return []PeerLinks{
		{Peer: testPeer, ClusterPeers: []string{otherPeer}, SwarmPeers: []string{otherPeer, "12D3KooWNotAMemberNotAMemberNotAMemberNotAMemberAB"}},
		{Peer: otherPeer, ClusterPeers: []string{testPeer}, SwarmPeers: []string{testPeer}},
		{Peer: downPeer, Err: "unreachable"},
	}, nil
}

func (a *adminCluster) BandwidthByProtocol() map[string]BandwidthStats {
	return map[string]BandwidthStats{"/ipfs/bitswap/1.2.0": {TotalIn: 2048, TotalOut: 1024, RateIn: 1.5, RateOut: 0.5}}
}

func newAdminAPI(t *testing.T, c Cluster) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(DefaultConfig(), Deps{Cluster: c, Version: "v-test", Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestRestPeerAddAndRemove(t *testing.T) {
	ac := &adminCluster{fakeCluster: fakeCluster{pins: map[cid.Cid]pin.Pin{}}}
	srv := newAdminAPI(t, ac)

	// POST /peers: a member is answered with its ID; anything else is a
	// 400 that says what to do or what is wrong.
	resp, body := post(t, srv.URL+"/peers", `{"peer_id":"`+otherPeer+`"}`)
	var id wireID
	json.Unmarshal([]byte(body), &id)
	if resp.StatusCode != 200 || id.ID != otherPeer || id.Peername != "two" || len(id.ClusterPeers) != 3 {
		t.Errorf("POST /peers (member) = %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"peer_id":"12D3KooWNotAMemberNotAMemberNotAMemberNotAMemberAB"}`, "error decoding peer_id"},
		{`{"peer_id":"12D3KooWAKpDuYJNdZdutafsuDRMpx2ABW7ty6p8xzV3djsbRDWf"}`, "--join 127.0.0.1:9096"},
		{`not json`, "error decoding request body"},
	} {
		resp, body := post(t, srv.URL+"/peers", tc.body)
		if resp.StatusCode != 400 || !strings.Contains(body, `"code":400`) || !strings.Contains(body, tc.want) {
			t.Errorf("POST /peers %s = %d %s, want 400 with %q", tc.body, resp.StatusCode, body, tc.want)
		}
	}

	// DELETE /peers/{peer}: 204, or the error's status.
	for _, tc := range []struct {
		peer string
		code int
		want string
	}{
		{otherPeer, 204, ""},
		{"notapeer", 400, "error decoding Peer ID"},
		{"12D3KooWAKpDuYJNdZdutafsuDRMpx2ABW7ty6p8xzV3djsbRDWf", 404, "peer not found"},
		{testPeer, 409, "only voter"},
	} {
		resp, body := do(t, "DELETE", srv.URL+"/peers/"+tc.peer)
		if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) || tc.code == 204 && body != "" {
			t.Errorf("DELETE /peers/%s = %d %q, want %d with %q", tc.peer, resp.StatusCode, body, tc.code, tc.want)
		}
	}
	if !slices.Equal(ac.removed, []string{otherPeer}) {
		t.Errorf("removed %v, want only %s", ac.removed, otherPeer)
	}
}

func TestRestRepoGC(t *testing.T) {
	ac := &adminCluster{fakeCluster: fakeCluster{pins: map[cid.Cid]pin.Pin{}}}
	srv := newAdminAPI(t, ac)

	resp, body := post(t, srv.URL+"/ipfs/gc", "")
	var g wireGlobalRepoGC
	if err := json.Unmarshal([]byte(body), &g); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /ipfs/gc = %d %s (%v)", resp.StatusCode, body, err)
	}
	one, two, three := g.PeerMap[testPeer], g.PeerMap[otherPeer], g.PeerMap[downPeer]
	if len(g.PeerMap) != 3 || one.Peer != testPeer || one.Peername != "one" || len(one.Keys) != 1 ||
		one.Keys[0].Key != "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy" ||
		two.Keys == nil || len(two.Keys) != 0 || two.Error != "" || three.Error != "unreachable" || three.Peername != "three" {
		t.Errorf("POST /ipfs/gc = %s", body)
	}
	// IPFS Cluster's shape: "keys" is always a list, "error" only when set.
	if !strings.Contains(body, `"keys":[]`) || strings.Count(body, `"error"`) != 1 {
		t.Errorf("POST /ipfs/gc body %s: want empty key lists as [] and one error", body)
	}

	resp, body = post(t, srv.URL+"/ipfs/gc?local=true", "")
	g = wireGlobalRepoGC{}
	json.Unmarshal([]byte(body), &g)
	if resp.StatusCode != 200 || len(g.PeerMap) != 1 || len(g.PeerMap[testPeer].Keys) != 1 {
		t.Errorf("POST /ipfs/gc?local=true = %d %s", resp.StatusCode, body)
	}
	if !slices.Equal(ac.local, []bool{false, true}) {
		t.Errorf("RepoGC calls with local = %v, want [false true]", ac.local)
	}
}

func TestRestGraphAndBandwidth(t *testing.T) {
	srv := newAdminAPI(t, &adminCluster{fakeCluster: fakeCluster{pins: map[cid.Cid]pin.Pin{}}})

	resp, body := do(t, "GET", srv.URL+"/health/graph")
	var g wireConnectGraph
	if err := json.Unmarshal([]byte(body), &g); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /health/graph = %d %s (%v)", resp.StatusCode, body, err)
	}
	if g.ClusterID != testPeer || len(g.IDtoPeername) != 3 || g.IDtoPeername[downPeer] != "three" ||
		!slices.Equal(g.ClusterLinks[testPeer], []string{otherPeer}) || g.ClusterLinks[downPeer] == nil || len(g.ClusterLinks[downPeer]) != 0 ||
		len(g.IPFSLinks) != 2 || len(g.IPFSLinks[testPeer]) != 2 || g.ClustertoIPFS[otherPeer] != otherPeer || g.ClustertoIPFS[downPeer] != "" ||
		len(g.ClusterTrustLinks) != 3 || !g.ClusterTrustLinks[downPeer] {
		t.Errorf("GET /health/graph = %s", body)
	}

	resp, body = do(t, "GET", srv.URL+"/health/bandwidth")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `{"/ipfs/bitswap/1.2.0":{"total_in":2048,"total_out":1024,"rate_in":1.5,"rate_out":0.5}}` {
		t.Errorf("GET /health/bandwidth = %d %s", resp.StatusCode, body)
	}
}

// A Cluster without the optional interfaces answers 501 on their routes;
// POST /peers needs none.
func TestRestAdminRoutesWithoutSupport(t *testing.T) {
	srv, _ := newTestAPI(t)
	for _, r := range []struct{ method, path string }{
		{"DELETE", "/peers/" + testPeer}, {"POST", "/ipfs/gc"}, {"GET", "/health/graph"}, {"GET", "/health/bandwidth"},
	} {
		resp, body := do(t, r.method, srv.URL+r.path)
		if resp.StatusCode != 501 || !strings.Contains(body, "not available") {
			t.Errorf("%s %s = %d %s, want 501", r.method, r.path, resp.StatusCode, body)
		}
	}
	if resp, body := post(t, srv.URL+"/peers", `{"peer_id":"`+testPeer+`"}`); resp.StatusCode != 200 || !strings.Contains(body, testPeer) {
		t.Errorf("POST /peers = %d %s", resp.StatusCode, body)
	}
}
