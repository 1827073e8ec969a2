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
