package main_test

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipns"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
	"github.com/flotilla-ipfs/flotilla/internal/kubotest"
)

// Kubo 0.43's CLI manages keys and publishes names through flotilla as it
// does on its own repository: the same outputs and errors, keys that move
// between the two in both directions, and records Kubo validates and
// resolves to the same path.
func TestKuboCLIKeysAndNames(t *testing.T) {
	if testing.Short() {
		t.Skip("starts flotilla and runs kubo; skipped in -short mode")
	}
	kubo := kubotest.New(t, "test") // offline: its own repository
	fl := ft.StartDaemon(t, t.TempDir())
	api := apiAddr(t, fl.Listen.RPC)
	onFl := func(args ...string) (string, error) { return kubo.Try(append([]string{"--api", api}, args...)...) }
	same := func(kuboArgs, flArgs []string) string {
		t.Helper()
		k, kerr := kubo.Try(kuboArgs...)
		f, ferr := onFl(flArgs...)
		if kerr != nil || ferr != nil || k != f {
			t.Fatalf("ipfs %v: kubo %q %v; through flotilla %q %v", flArgs, k, kerr, f, ferr)
		}
		return f
	}
	sameErr := func(args ...string) {
		t.Helper()
		k, kerr := kubo.Try(args...)
		f, ferr := onFl(args...)
		if kerr == nil || ferr == nil || kerr.Error() != ferr.Error() || k != f {
			t.Fatalf("ipfs %v: want the same failure; kubo %q %v, flotilla %q %v", args, k, kerr, f, ferr)
		}
	}

	// A key made by Kubo, imported into the cluster, keeps its ID.
	id := strings.TrimSpace(kubo.Run("key", "gen", "site"))
	keyFile := filepath.Join(t.TempDir(), "site.key")
	kubo.Run("key", "export", "site", "-o", keyFile)
	if got := strings.TrimSpace(ft.MustCLI(t, t.TempDir(), "--rpc", fl.Listen.RPC, "key", "import", "site", keyFile)); got != id {
		t.Fatalf("flotilla key import printed %q, kubo's key is %s", got, id)
	}
	same([]string{"key", "list"}, []string{"key", "list"})
	kl, fl2 := kubo.Run("key", "list", "-l"), strings.TrimSpace(kubo.Run("--api", api, "key", "list", "-l"))
	if !strings.Contains(kl, id+" site") || !strings.Contains(fl2, id+" site") || strings.Fields(fl2)[1] != "self" {
		t.Fatalf("key list -l: kubo %q, flotilla %q", kl, fl2)
	}
	for _, args := range [][]string{
		{"key", "gen", "self"}, {"key", "gen", "site"}, {"key", "rm", "self"}, {"key", "rm", "nosuch"},
		{"key", "rename", "self", "x"}, {"key", "rename", "site", "self"}, {"key", "rename", "nosuch", "x"},
		{"key", "gen", "--type", "dsa", "k"},
	} {
		sameErr(args...)
	}

	// Publishing: the same content, key and options give the same output.
	f := writeFile(t, "page.html", "<h1>named</h1>\n")
	cid := strings.TrimSpace(same([]string{"add", "-Q", f}, []string{"add", "-Q", f}))
	out := same([]string{"name", "publish", "--allow-offline", "--key", "site", "/ipfs/" + cid},
		[]string{"name", "publish", "--key", "site", "/ipfs/" + cid})
	if out != fmt.Sprintf("Published to %s: /ipfs/%s\n", id, cid) {
		t.Fatalf("name publish printed %q", out)
	}
	same([]string{"name", "publish", "--allow-offline", "-Q", "--key", id, "--lifetime", "2h", "--ttl", "30s", "/ipfs/" + cid},
		[]string{"name", "publish", "-Q", "--key", id, "--lifetime", "2h", "--ttl", "30s", "/ipfs/" + cid})
	sameErr("name", "publish", "--allow-offline", "--key", "site", "--ttl", "3h", "--lifetime", "2h", "/ipfs/"+cid)

	// The record flotilla signed validates in a fresh Kubo and resolves
	// there as it does here.
	rec := kubo.Run("--api", api, "routing", "get", "/ipns/"+id)
	recFile := filepath.Join(t.TempDir(), "rec")
	os.WriteFile(recFile, []byte(rec), 0o600)
	fresh := kubotest.New(t, "test")
	fresh.Run("routing", "put", "--allow-offline", "/ipns/"+id, recFile)
	want := fresh.Run("name", "resolve", "--offline", id)
	if want != "/ipfs/"+cid+"\n" || kubo.Run("--api", api, "name", "resolve", id) != want {
		t.Fatalf("name resolve: kubo %q, flotilla %q", want, kubo.Run("--api", api, "name", "resolve", id))
	}
	if body := httpGet(t, "http://"+fl.Listen.Gateway+"/ipns/"+id); body != "<h1>named</h1>\n" {
		t.Fatalf("gateway /ipns/%s = %q", id, body)
	}

	// Keys go back out in both of Kubo's formats.
	for _, format := range []string{"libp2p-protobuf-cleartext", "pem-pkcs8-cleartext"} {
		out := filepath.Join(t.TempDir(), "export")
		ft.MustCLI(t, t.TempDir(), "--rpc", fl.Listen.RPC, "key", "export", "site", "-f", format, "-o", out)
		if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("exported key file: %v %v", st, err)
		}
		if got := strings.TrimSpace(fresh.Run("key", "import", "-f", format, "back-"+format[:3], out)); got != id {
			t.Fatalf("kubo imported the %s export as %s, want %s", format, got, id)
		}
	}

	// Renaming and removing print what Kubo prints.
	same([]string{"key", "rename", "site", "www"}, []string{"key", "rename", "site", "www"})
	same([]string{"key", "rm", "www"}, []string{"key", "rm", "www"})
	same([]string{"key", "list"}, []string{"key", "list"})
}

// A name published through one peer resolves on every peer's gateway at
// once; its publisher, the leader, is killed, and another peer renews the
// record before it expires, so the name outlives both the peer and the
// record it signed.
func TestNamesOutliveTheirPublisher(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons and waits out a record's lifetime; skipped in -short mode")
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(hex.EncodeToString([]byte("names outlive their publisher 32"))), 0o600)
	d0 := ft.StartDaemon(t, t.TempDir(), clusterFlags(secret, "z1", "")...)
	d1 := ft.StartDaemon(t, t.TempDir(), clusterFlags(secret, "z2", d0.Listen.Cluster)...)
	d2 := ft.StartDaemon(t, t.TempDir(), clusterFlags(secret, "z3", d0.Listen.Cluster)...)

	cid := strings.TrimSpace(d0.RPC("add", "-Q", writeFile(t, "index.html", "<p>alive</p>\n")).Stdout)
	name := strings.TrimSpace(d0.RPC("key", "gen", "www").Stdout)
	const lifetime = 30 * time.Second
	published := time.Now()
	if r := d0.RPC("name", "publish", "--key", "www", "--lifetime", lifetime.String(), "--ttl", "1s", "/ipfs/"+cid); r.Code != 0 {
		t.Fatalf("name publish: %v %s", r.Code, r.Stderr)
	}
	expires := published.Add(lifetime)
	for _, d := range []*ft.Daemon{d0, d1, d2} {
		waitFor(t, 5*time.Second, "every gateway resolves the name", func() error {
			if body := tryGet("http://" + d.Listen.Gateway + "/ipns/" + name); body != "<p>alive</p>\n" {
				return fmt.Errorf("%s: %q", d.Dir, body)
			}
			return nil
		})
	}

	d0.Kill()
	waitFor(t, 2*lifetime, "a surviving peer renews the record", func() error {
		r := d1.RPC("name", "get", name)
		rec, err := ipns.UnmarshalRecord([]byte(r.Stdout))
		if err != nil {
			return fmt.Errorf("name get: %v %s", err, r.Stderr)
		}
		eol, err := rec.Validity()
		if err != nil || !eol.After(expires) {
			return fmt.Errorf("record valid until %s, the first one until %s", eol, expires)
		}
		return nil
	})
	for time.Now().Before(expires.Add(time.Second)) {
		time.Sleep(100 * time.Millisecond) // the first record's expiry is what is tested
	}
	for _, d := range []*ft.Daemon{d1, d2} {
		if body := tryGet("http://" + d.Listen.Gateway + "/ipns/" + name); body != "<p>alive</p>\n" {
			t.Fatalf("%s: after the first record expired, /ipns/%s = %q", d.Dir, name, body)
		}
	}
}

// site deploy takes a directory to a pinned, named site; a redeploy moves
// the name to the new version and unpins the old one once the new one is
// pinned.
func TestSiteDeployAndRedeploy(t *testing.T) {
	fl := ft.StartDaemon(t, t.TempDir())
	site := filepath.Join(t.TempDir(), "blog")
	write := func(name, body string) {
		os.MkdirAll(filepath.Dir(filepath.Join(site, name)), 0o755)
		if err := os.WriteFile(filepath.Join(site, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "<h1>v1</h1>\n")
	write("_redirects", "/posts/* /index.html 200\n")
	write(".git/HEAD", "not published\n")

	type deployed struct {
		Cid       string   `json:"cid"`
		IPNS      string   `json:"name"`
		Path      string   `json:"path_url"`
		Subdomain string   `json:"subdomain_url"`
		Unpinned  []string `json:"unpinned"`
		Pinned    int      `json:"pinned"`
	}
	deploy := func() deployed {
		t.Helper()
		r := ft.CLI(t, t.TempDir(), nil, "--json", "site", "deploy", site, "--keep", "1", "--api", fl.Listen.API, "--rpc", fl.Listen.RPC, "--gateway", "http://"+fl.Listen.Gateway)
		if r.Code != 0 {
			t.Fatalf("site deploy: %v %s", r.Code, r.Stderr)
		}
		var d deployed
		ft.DecodeJSON(t, r.Stdout, &d)
		if d.Pinned < 1 || d.IPNS == "" {
			t.Fatalf("site deploy printed %s", r.Stdout)
		}
		return d
	}
	v1 := deploy()
	if body := httpGet(t, v1.Path); body != "<h1>v1</h1>\n" {
		t.Fatalf("%s = %q", v1.Path, body)
	}
	// The subdomain origin honours _redirects.
	req, _ := http.NewRequest("GET", "http://"+fl.Listen.Gateway+"/posts/first", nil)
	req.Host = strings.TrimPrefix(strings.TrimSuffix(v1.Subdomain, "/"), "http://")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "<h1>v1</h1>\n" {
		t.Fatalf("subdomain /posts/first = %d %q", resp.StatusCode, body)
	}
	if r := fl.RPC("cat", "/ipfs/"+v1.Cid+"/.git/HEAD"); r.Code == 0 {
		t.Fatal("a dot directory was published")
	}

	write("index.html", "<h1>v2</h1>\n")
	v2 := deploy()
	if v2.IPNS != v1.IPNS || v2.Cid == v1.Cid {
		t.Fatalf("redeploy: name %s -> %s, cid %s -> %s", v1.IPNS, v2.IPNS, v1.Cid, v2.Cid)
	}
	if len(v2.Unpinned) != 1 || v2.Unpinned[0] != v1.Cid {
		t.Fatalf("redeploy unpinned %v, want [%s]", v2.Unpinned, v1.Cid)
	}
	if body := httpGet(t, v2.Path); body != "<h1>v2</h1>\n" {
		t.Fatalf("after redeploy %s = %q", v2.Path, body)
	}
	pins := fl.API("pin", "ls").Stdout
	if !strings.Contains(pins, v2.Cid) || strings.Contains(pins, v1.Cid) {
		t.Fatalf("pin ls after redeploy:\n%s", pins)
	}
	if r := ft.CLI(t, t.TempDir(), nil, "site", "deploy", site, "--keep", "0", "--api", fl.Listen.API); r.Code == 0 {
		t.Fatal("--keep 0 was accepted")
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// tryGet returns the body of a 200 answer, or a description of the failure.
func tryGet(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	return string(b)
}
