package main_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// clusterCtl returns the path of ipfs-cluster-ctl v1.1.6 (built by `make
// tools`), failing the test with the command that builds it when missing.
func clusterCtl(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FLOTILLA_CLUSTER_CTL"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", ".tools", "bin", "ipfs-cluster-ctl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("ipfs-cluster-ctl not found at %s: run `make tools` (or set FLOTILLA_CLUSTER_CTL)", p)
	}
	return p
}

// ctl runs ipfs-cluster-ctl against a daemon's REST API.
type ctl struct {
	t   *testing.T
	bin string
}

// run returns stdout, stderr and the exit code of one ctl command.
func (c ctl) run(d *ft.Daemon, args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, port, _ := strings.Cut(d.Listen.API, ":")
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--host", "/ip4/127.0.0.1/tcp/" + port}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("ipfs-cluster-ctl %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

// must runs a command that must succeed and returns its stdout.
func (c ctl) must(d *ft.Daemon, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(d, args...)
	if code != 0 {
		c.t.Fatalf("ipfs-cluster-ctl %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// json runs a command with --enc=json and decodes every object it prints
// (one object, or a sequence of them for streams).
func (c ctl) json(d *ft.Daemon, args ...string) []map[string]any {
	c.t.Helper()
	out := c.must(d, append([]string{"--enc=json"}, args...)...)
	var objs []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			return objs
		} else if err != nil {
			c.t.Fatalf("ipfs-cluster-ctl %s: output %q: %v", strings.Join(args, " "), out, err)
		}
		switch v := v.(type) {
		case map[string]any:
			objs = append(objs, v)
		case []any:
			for _, o := range v {
				objs = append(objs, o.(map[string]any))
			}
		}
	}
}

// statusCounts counts the peers of a GlobalPinInfo by status.
func statusCounts(gpi map[string]any) map[string]int {
	n := map[string]int{}
	pm, _ := gpi["peer_map"].(map[string]any)
	for _, s := range pm {
		n[s.(map[string]any)["status"].(string)]++
	}
	return n
}

// threePeers starts a 3-peer cluster of real daemons in zones z1..z3
// (joined through the first) and waits until ctl lists all three.
func (c ctl) threePeers(secretText string) (d0, d1, d2 *ft.Daemon) {
	c.t.Helper()
	secret := filepath.Join(c.t.TempDir(), "secret")
	os.WriteFile(secret, []byte(hex.EncodeToString([]byte(secretText))), 0o600)
	d0 = ft.StartDaemon(c.t, c.t.TempDir(), clusterFlags(secret, "z1", "")...)
	d1 = ft.StartDaemon(c.t, c.t.TempDir(), clusterFlags(secret, "z2", d0.Listen.Cluster)...)
	d2 = ft.StartDaemon(c.t, c.t.TempDir(), clusterFlags(secret, "z3", d0.Listen.Cluster)...)
	waitFor(c.t, 30*time.Second, "3 peers listed", func() error {
		for _, d := range []*ft.Daemon{d0, d2} {
			if peers := c.json(d, "peers", "ls"); len(peers) != 3 {
				return fmt.Errorf("peers ls through %s = %v", d.Listen.PeerID, peers)
			}
		}
		return nil
	})
	return d0, d1, d2
}

// The real ipfs-cluster-ctl v1.1.6 drives a 3-peer cluster of real
// daemons through the REST API, in JSON and text, through different
// peers: id, version, peers ls, pin add --wait with options, pin ls,
// status, recover, pin rm; bad requests are refused with no state change.
func TestRestAPIWithClusterCtl(t *testing.T) {
	c := ctl{t: t, bin: clusterCtl(t)}
	d0, d1, d2 := c.threePeers("rest api cluster secret 32 bytes")
	daemons := []*ft.Daemon{d0, d1, d2}

	// id and version, JSON and text.
	id := c.json(d1, "id")[0]
	if id["id"] != d1.Listen.PeerID || id["peername"] != "z2" || len(id["cluster_peers"].([]any)) != 3 ||
		len(id["addresses"].([]any)) != 1 || id["ipfs"].(map[string]any)["id"] != d1.Listen.PeerID {
		t.Errorf("id = %v", id)
	}
	if out := c.must(d1, "id"); !strings.Contains(out, d1.Listen.PeerID+" | z2 | Sees 2 other peers") {
		t.Errorf("id (text) = %q", out)
	}
	ver := c.json(d0, "version")[0]
	if v, _ := ver["version"].(string); v == "" || v != id["version"] {
		t.Errorf("version = %v, want the version of id (%v)", ver, id["version"])
	}
	if out := strings.TrimSpace(c.must(d0, "version")); out != ver["version"] {
		t.Errorf("version (text) = %q, want %q", out, ver["version"])
	}
	if out := c.must(d0, "peers", "ls"); strings.Count(out, "Sees 2 other peers") != 3 {
		t.Errorf("peers ls (text) = %q", out)
	}

	// Content held by d1 only (not pinned), pinned through d0 with
	// options; --wait returns once the allocations hold it.
	f := writeFile(t, "rest.txt", "pinned through the cluster REST API\n")
	root := strings.TrimSpace(d1.RPC("add", "-Q", "--pin=false", f).Stdout)
	if root == "" {
		t.Fatal("add returned no CID")
	}
	added := c.json(d0, "pin", "add", "--wait", "--wait-timeout", "1m", "--name", "doc", "--replication-min", "2", "--replication-max", "2",
		"--allocations", d1.Listen.PeerID, "--metadata", "team=storage", "--expire-in", "24h", root)[0]
	if added["cid"] != root || added["name"] != "doc" || statusCounts(added)["pinned"] != 2 || statusCounts(added)["remote"] != 1 {
		t.Errorf("pin add --wait = %v", added)
	}

	// pin ls through another peer: the options as stored.
	pins := c.json(d2, "pin", "ls")
	if len(pins) != 1 {
		t.Fatalf("pin ls = %v, want 1 pin", pins)
	}
	p := pins[0]
	allocs, _ := p["allocations"].([]any)
	if p["cid"] != root || p["name"] != "doc" || p["replication_factor_min"] != 2.0 || p["replication_factor_max"] != 2.0 ||
		len(allocs) != 2 || !containsAny(allocs, d1.Listen.PeerID) || p["metadata"].(map[string]any)["team"] != "storage" ||
		p["mode"] != "recursive" || p["type"] != "pin" || p["expire_at"] == "0001-01-01T00:00:00Z" {
		t.Errorf("pin ls = %v", p)
	}
	if out := c.must(d2, "pin", "ls"); !strings.Contains(out, root+" | doc | PIN | Repl. Factor: 2--2 | Allocations: [") {
		t.Errorf("pin ls (text) = %q", out)
	}

	// status: all, one, with a filter, local; JSON and text.
	all := c.json(d2, "status")
	if len(all) != 1 || all[0]["cid"] != root || statusCounts(all[0])["pinned"] != 2 || statusCounts(all[0])["remote"] != 1 {
		t.Errorf("status = %v", all)
	}
	if st := c.json(d0, "status", root); len(st) != 1 || statusCounts(st[0])["pinned"] != 2 {
		t.Errorf("status %s = %v", root, st)
	}
	if out := c.must(d0, "status", root); strings.Count(out, ": PINNED |") != 2 || strings.Count(out, ": REMOTE |") != 1 {
		t.Errorf("status %s (text) = %q", root, out)
	}
	if out := c.must(d0, "status", "--filter", "pin_error,cluster_error"); strings.TrimSpace(out) != "" {
		t.Errorf("status --filter error = %q, want nothing", out)
	}
	if st := c.json(d1, "status", "--local", root); len(st) != 1 || len(st[0]["peer_map"].(map[string]any)) != 1 || statusCounts(st[0])["pinned"] != 1 {
		t.Errorf("status --local %s = %v", root, st)
	}

	// recover: nothing failed, it reports the status.
	if rec := c.json(d2, "recover", root); len(rec) != 1 || statusCounts(rec[0])["pinned"] != 2 {
		t.Errorf("recover %s = %v", root, rec)
	}
	c.must(d2, "recover")

	// Bad input: a clear 4xx, nothing changes.
	out, errOut, code := c.run(d0, "pin", "add", "--replication-min", "3", "--replication-max", "2", root)
	if code == 0 || !strings.Contains(out+errOut, "Code: 400") || !strings.Contains(out+errOut, "want 1 <= min <= max") {
		t.Errorf("pin add with min > max: exit %d: %s%s", code, out, errOut)
	}
	for _, q := range []struct{ path, msg string }{
		{"/pins/notacid", "error decoding Cid"},
		{"/pins/" + root + "?mode=shallow", `unknown mode \"shallow\"`},
		{"/pins/" + root + "?expire-at=" + url.QueryEscape("2001-01-01T00:00:00Z"), "is in the past"},
		{"/pins/" + root + "?replication-min=3&replication-max=2", "want 1 \\u003c= min \\u003c= max"},
		{"/pins/" + root + "?replication=5", "not enough peers"},
		{"/pins/" + root + "?pin-update=" + root + "x", "error decoding update option"},
	} {
		resp, err := http.Post("http://"+d2.Listen.API+q.path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), `"code":400`) || !strings.Contains(string(body), q.msg) {
			t.Errorf("POST %s = %d %s, want 400 with %q", q.path, resp.StatusCode, body, q.msg)
		}
	}
	if pins := c.json(d1, "pin", "ls"); len(pins) != 1 || pins[0]["name"] != "doc" || pins[0]["replication_factor_min"] != 2.0 {
		t.Errorf("pin ls after bad requests = %v, want the pin unchanged", pins)
	}

	// pin update: the new root takes the old one's options and peers; the
	// old one stays.
	f2 := writeFile(t, "rest2.txt", "the next version\n")
	next := strings.TrimSpace(d1.RPC("add", "-Q", "--pin=false", f2).Stdout)
	upd := c.json(d2, "pin", "update", "--wait", "--wait-timeout", "1m", "--name", "doc-v2", root, next)[0]
	if upd["cid"] != next || upd["name"] != "doc-v2" || statusCounts(upd)["pinned"] != 2 {
		t.Errorf("pin update = %v", upd)
	}
	pins = c.json(d0, "pin", "ls")
	if len(pins) != 2 {
		t.Fatalf("pin ls after update = %v, want 2 pins", pins)
	}
	for _, p := range pins {
		if p["cid"] == next && (p["pin_update"] != root || !sameSet(p["allocations"].([]any), allocs) || p["metadata"].(map[string]any)["team"] != "storage") {
			t.Errorf("updated pin = %v, want the allocations %v and options of %s", p, allocs, root)
		}
	}

	// status of several CIDs, and of the whole pinset filtered.
	if st := c.json(d1, "status", root, next); len(st) != 2 || statusCounts(st[0])["pinned"] != 2 || statusCounts(st[1])["pinned"] != 2 {
		t.Errorf("status %s %s = %v", root, next, st)
	}
	if st := c.json(d1, "status", "--filter", "pinned"); len(st) != 2 {
		t.Errorf("status --filter pinned = %v, want 2 pins", st)
	}

	// pin rm --wait through d1; gone everywhere.
	for _, cid := range []string{root, next} {
		c.must(d1, "pin", "rm", "--wait", "--wait-timeout", "1m", cid)
	}
	for _, d := range daemons {
		if out := c.must(d, "pin", "ls"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: pin ls after rm = %q", d.Listen.PeerID, out)
		}
	}
	if st := c.json(d2, "status", root); len(st) != 1 || statusCounts(st[0])["unpinned"] != 3 {
		t.Errorf("status after rm = %v", st)
	}
}

func sameSet(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !containsAny(b, v.(string)) {
			return false
		}
	}
	return true
}

func containsAny(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
