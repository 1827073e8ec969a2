package registry_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// conformanceBinary is the OCI Distribution Specification's conformance
// suite, built by `make tools` (tools/oci-conformance).
func conformanceBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FLOTILLA_OCI_CONFORMANCE"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", ".tools", "bin", "oci-conformance")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("OCI conformance suite not found at %s: run `make tools` (or set FLOTILLA_OCI_CONFORMANCE)", p)
	}
	return p
}

// TestOCIConformance runs the OCI distribution conformance suite
// (github.com/opencontainers/distribution-spec/conformance) against a
// daemon's registry, with authentication on, and requires every test to
// pass: pull, push (monolithic, chunked, streamed, out of order, mounts),
// content discovery (tags, referrers), content management (deletes), with
// sha256 and sha512, at the spec's development level (1.1 plus upload
// cancellation, digest headers and tag parameters), so that nothing is
// skipped or disabled.
func TestOCIConformance(t *testing.T) {
	bin := conformanceBinary(t)
	dir := t.TempDir()
	hash, err := auth.HashPassword("conformance password")
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users.json")
	raw, _ := json.Marshal(auth.UsersFile{Users: []auth.User{{Name: "ci", PasswordHash: hash, Scope: auth.ScopePin}}})
	if err := os.WriteFile(users, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	d := ft.StartDaemon(t, dir, "--offline", "--api-auth-file", users)

	results := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir() // no oci-conformance.yaml is read
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+d.Listen.Registry, "OCI_TLS=disabled",
		"OCI_USERNAME=ci", "OCI_PASSWORD=conformance password",
		"OCI_VERSION=dev", "OCI_RESULTS_DIR="+results,
	)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("conformance suite ran in %s", time.Since(start).Round(time.Millisecond))
	counts := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  (Disabled|Skip|Pass|FAIL|Error)\.+:\s+(\d+)$`).FindAllStringSubmatch(string(out), -1) {
		counts[m[1]] = m[2]
	}
	failed := err != nil || counts["Pass"] == "" || counts["Pass"] == "0"
	for _, k := range []string{"Disabled", "Skip", "FAIL", "Error"} {
		if counts[k] != "0" {
			failed = true
		}
	}
	if failed {
		var notPassing []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "  ") && strings.Contains(line, "OCI Conformance Test/") && !strings.HasSuffix(line, ": Pass") {
				notPassing = append(notPassing, line)
			} else if strings.HasPrefix(strings.TrimSpace(line), "- ") {
				notPassing = append(notPassing, line)
			}
		}
		t.Fatalf("conformance: exit %v, counts %v; not passing:\n%s\n(report: %s/report.html)", err, counts, strings.Join(notPassing, "\n"), results)
	}
	t.Logf("conformance: %s passed, nothing skipped, disabled or failed", counts["Pass"])
}

// TestRegistryBehindTheGuard checks the registry port's authentication on
// a daemon with users and --registry-public-pull: anyone pulls, a push
// without credentials gets docker's Basic challenge, a reader is denied,
// and a pin-scoped user pushes with a password or with a token in the
// password's place (what `docker login -p <token>` sends).
func TestRegistryBehindTheGuard(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.json")
	var list []auth.User
	for name, scope := range map[string]auth.Scope{"reader": auth.ScopeRead, "ci": auth.ScopePin} {
		hash, err := auth.HashPassword(name + " password")
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, auth.User{Name: name, PasswordHash: hash, Scope: scope})
	}
	raw, _ := json.Marshal(auth.UsersFile{Users: list})
	os.WriteFile(users, raw, 0o600)
	d := ft.StartDaemon(t, t.TempDir(), "--offline", "--api-auth-file", users, "--registry-public-pull")
	base := "http://" + d.Listen.Registry

	do := func(method, url, user, pass string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := do("GET", base+"/v2/", "", ""); r.StatusCode != 200 {
		t.Fatalf("anonymous GET /v2/ with public pulls: %d", r.StatusCode)
	}
	if r := do("GET", base+"/v2/some/repo/tags/list", "", ""); r.StatusCode != 404 {
		t.Fatalf("anonymous tags list with public pulls: %d, want 404 (no such repository)", r.StatusCode)
	}
	r := do("POST", base+"/v2/some/repo/blobs/uploads/", "", "")
	if r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != `Basic realm="flotilla registry"` || len(r.Header.Values("WWW-Authenticate")) != 1 {
		t.Fatalf("anonymous push: %d %v", r.StatusCode, r.Header.Values("WWW-Authenticate"))
	}
	if r := do("POST", base+"/v2/some/repo/blobs/uploads/", "reader", "reader password"); r.StatusCode != 403 {
		t.Fatalf("reader's push: %d, want 403", r.StatusCode)
	}
	if r := do("POST", base+"/v2/some/repo/blobs/uploads/", "ci", "ci password"); r.StatusCode != 202 {
		t.Fatalf("ci's push: %d, want 202", r.StatusCode)
	}
	req, _ := http.NewRequest("POST", "http://"+d.Listen.API+"/token?scope=pin", nil)
	req.SetBasicAuth("ci", "ci password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.Token == "" {
		t.Fatalf("POST /token: %d", resp.StatusCode)
	}
	if r := do("POST", base+"/v2/some/repo/blobs/uploads/", "ci", tok.Token); r.StatusCode != 202 {
		t.Fatalf("ci's push with a token as the password: %d, want 202", r.StatusCode)
	}
}
