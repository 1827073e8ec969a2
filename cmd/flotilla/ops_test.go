package main_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOpsEndpoints(t *testing.T) {
	d := ft.StartDaemon(t, t.TempDir())
	if code, body := get(t, "http://"+d.Listen.Ops+"/health"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/health = %d %q", code, body)
	}
	if code, body := get(t, "http://"+d.Listen.Ops+"/ready"); code != 200 || strings.Contains(body, "starting") {
		t.Fatalf("/ready = %d %q", code, body)
	}
	if r := d.RPC("id"); r.Code != 0 {
		t.Fatalf("id: %s", r.Stderr)
	}
	_, metrics := get(t, "http://"+d.Listen.Ops+"/metrics")
	for _, want := range []string{`flotilla_http_requests_total{code="200",method="post",service="rpc"}`, "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The RPC API answers Kubo's way to what it does not do.
	resp, err := http.Post("http://"+d.Listen.RPC+"/api/v0/files/ls", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), `"Type":"error"`) {
		t.Fatalf("unknown command: %d %s", resp.StatusCode, body)
	}
	if code, _ := get(t, "http://"+d.Listen.RPC+"/api/v0/version"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET on the RPC API = %d, want 405", code)
	}
}

// repo verify finds a block whose bytes were damaged on disk, and --drop
// removes it so that the content can be fetched or added again.
func TestRepoVerifyFindsCorruption(t *testing.T) {
	data := t.TempDir()
	f := writeFile(t, "x.bin", strings.Repeat("corrupt me ", 50000))
	root := strings.TrimSpace(ft.MustCLI(t, data, "add", "-Q", "--raw-leaves", f))
	if out := ft.MustCLI(t, data, "repo", "verify"); !strings.Contains(out, "all") {
		t.Fatalf("repo verify on a healthy store: %q", out)
	}
	// Damage one block file in place.
	var victim string
	filepath.Walk(filepath.Join(data, "blocks"), func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".data") && info.Size() > 1000 && victim == "" {
			victim = p
		}
		return nil
	})
	if victim == "" {
		t.Fatal("no block file found to damage")
	}
	raw, _ := os.ReadFile(victim)
	raw[10] ^= 0xff
	os.WriteFile(victim, raw, 0o644)

	r := ft.CLI(t, data, nil, "repo", "verify")
	if r.Code == 0 || !strings.Contains(r.Stdout, "corrupt") {
		t.Fatalf("repo verify missed the damaged block: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := ft.CLI(t, data, nil, "pin", "verify"); r.Code == 0 || !strings.Contains(r.Stdout, root+" broken") {
		t.Fatalf("pin verify missed the damaged block under %s: exit %d, %q", root, r.Code, r.Stdout)
	}
	if r := ft.CLI(t, data, nil, "repo", "verify", "--drop"); !strings.Contains(r.Stdout, "removed") {
		t.Fatalf("repo verify --drop: %q %q", r.Stdout, r.Stderr)
	}
	if _, err := os.Stat(victim); !os.IsNotExist(err) {
		t.Fatalf("corrupt block file still there after --drop: %v", err)
	}
	// Adding the file again heals the pin.
	ft.MustCLI(t, data, "add", "-Q", "--raw-leaves", f)
	if r := ft.CLI(t, data, nil, "pin", "verify"); r.Code != 0 {
		t.Fatalf("pin verify after re-adding: %q %q", r.Stdout, r.Stderr)
	}
	want, _ := os.ReadFile(f)
	if got := ft.MustCLI(t, data, "cat", root); !bytes.Equal([]byte(got), want) {
		t.Fatal("content differs after healing")
	}
}

// health --local --ready is the container's health check: it follows the
// daemon's /ready, which needs a cluster leader, not only open ports.
func TestHealthLocalFollowsReadiness(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "ready")
	if r := ft.CLI(t, dir, nil, "--data", data, "health", "--local"); r.Code == 0 {
		t.Fatalf("health --local with no daemon exited 0: %s", r.Stdout)
	}
	ft.StartDaemon(t, data)
	if r := ft.CLI(t, dir, nil, "--data", data, "health", "--local", "--ready"); r.Code != 0 || !strings.Contains(r.Stdout, "ready: ok") {
		t.Fatalf("health --local --ready of a ready daemon: exit %d, %s %s", r.Code, r.Stdout, r.Stderr)
	}

	// A peer that cannot reach the cluster it joins lives but is not
	// ready, and says why.
	lonely := filepath.Join(dir, "lonely")
	d := ft.StartDaemonAlive(t, lonely, nil, "--offline", "--join", "127.0.0.1:9")
	if code, body := get(t, "http://"+d.Listen.Ops+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no cluster leader") {
		t.Fatalf("/ready of a peer with no cluster = %d %q, want 503 naming the leader", code, body)
	}
	if r := ft.CLI(t, dir, nil, "--data", lonely, "health", "--local"); r.Code != 0 {
		t.Fatalf("health --local (liveness) of a running peer: exit %d, %s", r.Code, r.Stderr)
	}
	if r := ft.CLI(t, dir, nil, "--data", lonely, "health", "--local", "--ready"); r.Code == 0 || !strings.Contains(r.Stderr, "no cluster leader") {
		t.Fatalf("health --local --ready of a peer with no cluster: exit %d, %s", r.Code, r.Stderr)
	}

	// A peer forming a new cluster waits for the others, ready, so that an
	// orchestrator starting peers in turn gets to start them all.
	forming := ft.StartDaemon(t, filepath.Join(dir, "forming"), "--offline", "--join", "127.0.0.1:9", "--bootstrap-expect", "3")
	if code, body := get(t, "http://"+forming.Listen.Ops+"/ready"); code != http.StatusOK || !strings.Contains(body, "forming") {
		t.Fatalf("/ready of a forming peer = %d %q, want 200 saying forming", code, body)
	}
}

// The admin password from the environment (an ECS secret) guards the admin
// ports even on loopback; on the command line it is refused.
func TestAdminPasswordFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	if r := ft.CLI(t, dir, nil, "--data", filepath.Join(dir, "x"), "daemon", "--offline", "--api-admin-password", "s3cret"); r.Code == 0 || !strings.Contains(r.Stderr, "FLOTILLA_API_ADMIN_PASSWORD") {
		t.Fatalf("--api-admin-password on the command line: exit %d, %s", r.Code, r.Stderr)
	}
	d := ft.StartDaemonEnv(t, filepath.Join(dir, "node"), []string{"FLOTILLA_API_ADMIN_PASSWORD=s3cret"})
	for _, c := range []struct {
		user, password string
		want           int
	}{{"", "", http.StatusUnauthorized}, {"admin", "wrong", http.StatusUnauthorized}, {"admin", "s3cret", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.Listen.API+"/id", nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET /id as %q:%q = %d, want %d", c.user, c.password, resp.StatusCode, c.want)
		}
	}
	if strings.Contains(d.Stderr(), "s3cret") {
		t.Error("the daemon logged the admin password")
	}
	r := ft.CLIEnv(t, dir, []string{"FLOTILLA_API_ADMIN_PASSWORD=s3cret"}, "--data", filepath.Join(dir, "node"), "config", "show")
	var shown map[string]any
	ft.DecodeJSON(t, r.Stdout, &shown)
	if strings.Contains(r.Stdout, "s3cret") || shown["api-admin-password"] != "<redacted>" {
		t.Errorf("config show reveals the admin password: %v", shown["api-admin-password"])
	}
}
