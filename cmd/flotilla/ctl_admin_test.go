package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// The real ipfs-cluster-ctl v1.1.6 administers a 3-peer cluster of real
// daemons, in JSON and text: ipfs gc (every peer, and --local), health
// graph, health bandwidth, and peers rm, whose peer leaves the cluster and
// whose pins move to the others; bad and unknown peers are refused.
func TestClusterCtlAdmin(t *testing.T) {
	c := ctl{t: t, bin: clusterCtl(t)}
	d0, d1, d2 := c.threePeers("ctl admin cluster secret 32 byte")

	// A pin on d1 and d2 (d2 fetches it from d1 over bitswap), and
	// garbage on d0 and d1.
	root := strings.TrimSpace(d1.RPC("add", "-Q", "--pin=false", writeFile(t, "kept.txt", "kept by the cluster\n")).Stdout)
	c.json(d0, "pin", "add", "--wait", "--wait-timeout", "1m", "--replication-min", "2", "--replication-max", "2",
		"--allocations", d1.Listen.PeerID+","+d2.Listen.PeerID, root)
	junk0 := strings.TrimSpace(d0.RPC("add", "-Q", "--pin=false", writeFile(t, "junk0.txt", "garbage on d0\n")).Stdout)
	junk1 := strings.TrimSpace(d1.RPC("add", "-Q", "--pin=false", writeFile(t, "junk1.txt", "garbage on d1\n")).Stdout)

	// ipfs gc --local: d0 only.
	gc := c.json(d0, "ipfs", "gc", "--local")[0]["peer_map"].(map[string]any)
	if len(gc) != 1 || !removed(gc[d0.Listen.PeerID], junk0) {
		t.Errorf("ipfs gc --local = %v, want d0 alone, having removed %s", gc, junk0)
	}
	// ipfs gc: every peer, named; d1 collects its garbage but keeps the pin.
	gc = c.json(d2, "ipfs", "gc")[0]["peer_map"].(map[string]any)
	if len(gc) != 3 || !removed(gc[d1.Listen.PeerID], junk1) || removed(gc[d1.Listen.PeerID], root) {
		t.Errorf("ipfs gc = %v, want 3 peers, %s removed from d1 and %s kept", gc, junk1, root)
	}
	for id, zone := range map[string]string{d0.Listen.PeerID: "z1", d1.Listen.PeerID: "z2", d2.Listen.PeerID: "z3"} {
		if g, _ := gc[id].(map[string]any); g == nil || g["peer"] != id || g["peername"] != zone || g["error"] != nil {
			t.Errorf("ipfs gc: %s = %v", zone, gc[id])
		}
	}
	if out := c.must(d1, "ipfs", "gc"); strings.Count(out, "  > CIDs:") != 3 || !strings.Contains(out, "z1") || strings.Contains(out, "ERROR") {
		t.Errorf("ipfs gc (text) = %q", out)
	}
	for _, d := range []*ft.Daemon{d1, d2} {
		if r := d.RPC("cat", root); r.Stdout != "kept by the cluster\n" {
			t.Errorf("%s: cat %s after gc = %q %s", d.Listen.PeerID, root, r.Stdout, r.Stderr)
		}
	}

	// health graph: a dot file of the three peers, every one reaching the
	// others; its JSON through the API: d1 and d2's nodes are connected.
	dot := c.must(d0, "health", "graph")
	if !strings.HasPrefix(dot, "digraph cluster {") || strings.Contains(dot, "Errored") || strings.Count(dot, "->") < 3*2+3+2 {
		t.Errorf("health graph = %s", dot)
	}
	for _, zone := range []string{"z1", "z2", "z3"} {
		if !strings.Contains(dot, "<B> "+zone+" </B>") {
			t.Errorf("health graph lacks %s:\n%s", zone, dot)
		}
	}
	var graph struct {
		ClusterID    string              `json:"cluster_id"`
		ClusterLinks map[string][]string `json:"cluster_links"`
		IPFSLinks    map[string][]string `json:"ipfs_links"`
		ClusterIPFS  map[string]string   `json:"cluster_to_ipfs"`
	}
	getJSON(t, "http://"+d1.Listen.API+"/health/graph", &graph)
	if graph.ClusterID != d1.Listen.PeerID || len(graph.ClusterLinks) != 3 || len(graph.ClusterLinks[d0.Listen.PeerID]) != 2 ||
		!strings.Contains(strings.Join(graph.IPFSLinks[d2.Listen.PeerID], ","), d1.Listen.PeerID) || graph.ClusterIPFS[d2.Listen.PeerID] != d2.Listen.PeerID {
		t.Errorf("GET /health/graph = %+v", graph)
	}

	// health bandwidth: d1 sent the pin to d2 over bitswap.
	bw := c.json(d1, "health", "bandwidth")[0]
	bitswap := ""
	for proto, s := range bw {
		if strings.HasPrefix(proto, "/ipfs/bitswap") && s.(map[string]any)["total_out"].(float64) > 0 {
			bitswap = proto
		}
	}
	if bitswap == "" {
		t.Errorf("health bandwidth = %v, want bitswap traffic out of d1", bw)
	}
	if out := c.must(d1, "health", "bandwidth"); !strings.Contains(out, bitswap+": In: ") {
		t.Errorf("health bandwidth (text) = %q, want a line for %s", out, bitswap)
	}

	// peers rm: refused for a malformed or unknown peer, with nothing
	// changed; then d2 leaves and its allocation moves to d0.
	if out, errOut, code := c.run(d0, "peers", "rm", "notapeer"); code == 0 || !strings.Contains(out+errOut, "parsing peer ID") {
		t.Errorf("peers rm notapeer: exit %d: %s%s", code, out, errOut)
	}
	stranger := "12D3KooWAKpDuYJNdZdutafsuDRMpx2ABW7ty6p8xzV3djsbRDWf"
	out, errOut, code := c.run(d0, "--enc=json", "peers", "rm", stranger)
	var apiErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	json.Unmarshal([]byte(out), &apiErr)
	if code != 2 || apiErr.Code != 404 || !strings.Contains(apiErr.Message, "not a member") {
		t.Errorf("peers rm %s: exit %d: %s%s", stranger, code, out, errOut)
	}
	if out := c.must(d0, "peers", "rm", d2.Listen.PeerID); strings.TrimSpace(out) != "" {
		t.Errorf("peers rm (text) = %q, want nothing", out)
	}
	// peers ls reads a peer's own copy of the member list: d1's follows.
	waitFor(t, 10*time.Second, "d1 lists 2 peers", func() error {
		if peers := c.json(d1, "peers", "ls"); len(peers) != 2 || peers[0]["id"] == d2.Listen.PeerID || peers[1]["id"] == d2.Listen.PeerID {
			return fmt.Errorf("peers ls after rm = %v", peers)
		}
		return nil
	})
	p := c.json(d0, "pin", "ls", root)[0]
	allocs, _ := p["allocations"].([]any)
	if len(allocs) != 2 || containsAny(allocs, d2.Listen.PeerID) || !containsAny(allocs, d0.Listen.PeerID) {
		t.Errorf("allocations after peers rm = %v, want d0 and d1", allocs)
	}
	waitFor(t, 60*time.Second, "the moved allocation is pinned", func() error {
		st := c.json(d1, "status", root)[0]
		if n := statusCounts(st); n["pinned"] != 2 || len(st["peer_map"].(map[string]any)) != 2 {
			return fmt.Errorf("status = %v", st)
		}
		return nil
	})
	if out, errOut, code := c.run(d1, "peers", "rm", d2.Listen.PeerID); code != 2 || !strings.Contains(out+errOut, "Code: 404") {
		t.Errorf("peers rm of a removed peer: exit %d: %s%s", code, out, errOut)
	}
}

// removed reports whether a RepoGC entry lists the block of c.
func removed(entry any, c string) bool {
	want, err := cid.Decode(c)
	if err != nil {
		return false
	}
	e, _ := entry.(map[string]any)
	keys, _ := e["keys"].([]any)
	for _, k := range keys {
		key, _ := k.(map[string]any)["key"].(string)
		if got, err := cid.Decode(key); err == nil && got.Hash().String() == want.Hash().String() {
			return true
		}
	}
	return false
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}
