package main_test

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// A cluster port bound to every interface, port chosen by the system, is
// announced (in /id, in peers ls, to raft) at an address peers can dial:
// a concrete host and the port actually bound, never 0.0.0.0, :: or 0.
func TestClusterAnnouncesADialableAddress(t *testing.T) {
	d := ft.StartDaemon(t, t.TempDir(), "--offline", "--cluster-listen", "0.0.0.0:0")
	host, port, err := net.SplitHostPort(d.Listen.Cluster)
	if ip := net.ParseIP(host); err != nil || port == "0" || ip == nil || ip.IsUnspecified() {
		t.Fatalf("announced cluster address %q, want a concrete host and the bound port", d.Listen.Cluster)
	}
	// The announced port is the bound one: it answers.
	c, err := net.Dial("tcp", d.Listen.Cluster)
	if err != nil {
		t.Fatalf("dial the announced %s: %v", d.Listen.Cluster, err)
	}
	c.Close()

	var ids []map[string]any
	for _, path := range []string{"/id", "/peers"} {
		resp, err := http.Get("http://" + d.Listen.API + path)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(resp.Body)
		for dec.More() {
			var id map[string]any
			if err := dec.Decode(&id); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			ids = append(ids, id)
		}
		resp.Body.Close()
	}
	if len(ids) != 2 {
		t.Fatalf("/id and /peers = %v, want this peer twice", ids)
	}
	want := "/tcp/" + port + "/p2p/" + d.Listen.PeerID
	for _, id := range ids {
		addrs, _ := id["addresses"].([]any)
		peerAddrs, _ := id["cluster_peers_addresses"].([]any)
		if len(addrs) != 1 || len(peerAddrs) != 1 {
			t.Errorf("addresses %v, cluster_peers_addresses %v, want one each", addrs, peerAddrs)
		}
		for _, a := range append(addrs, peerAddrs...) {
			s, _ := a.(string)
			if strings.HasPrefix(s, "/ip4/0.0.0.0/") || strings.HasPrefix(s, "/ip6/::/") || !strings.HasSuffix(s, want) {
				t.Errorf("announced %q, want a concrete address ending %s", s, want)
			}
		}
	}
}
