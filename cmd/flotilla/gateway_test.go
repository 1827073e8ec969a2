package main_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cid "github.com/ipfs/go-cid"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// fixtures returns the gateway conformance fixtures directory, failing
// the test when it is missing.
func fixtures(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FLOTILLA_GATEWAY_FIXTURES")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "fixtures", "gateway-conformance")
	}
	if _, err := os.Stat(filepath.Join(dir, "dnslinks.IPFS_NS_MAP")); err != nil {
		t.Fatalf("gateway conformance fixtures not found at %s (%v): set FLOTILLA_GATEWAY_FIXTURES", dir, err)
	}
	return dir
}

// The daemon's gateway, configured the three ways a deployment does it
// (flags, FLOTILLA_* variables, IPFS_NS_MAP), serves what the CLI put in
// the node: CARs, IPNS records (flotilla name put), DNSLink, subdomains,
// and refuses what a denylist names.
func TestDaemonGateway(t *testing.T) {
	fx := fixtures(t)
	nsmap, err := os.ReadFile(filepath.Join(fx, "dnslinks.IPFS_NS_MAP"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		dirWithFiles = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"
		hello        = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
		name         = "k51qzi5uqu5dlxdsdu5fpuu7h69wu4ohp32iwm9pdt9nq3y5rpn3ln9j12zfhe"
		root1        = "bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui"
	)
	deny := filepath.Join(t.TempDir(), "flotilla.deny")
	os.WriteFile(deny, []byte("/ipfs/"+dirWithFiles+"/ascii.txt\n"), 0o644)

	dir := t.TempDir()
	d := ft.StartDaemonEnv(t, dir, []string{
		"IPFS_NS_MAP=" + strings.TrimSpace(string(nsmap)),
		"FLOTILLA_GATEWAY_PUBLIC_HOST=example.com,localhost",
	}, "--offline", "--gateway-denylist", deny)
	if d.Listen.Gateway == "" {
		t.Fatal("listen.json has no gateway address")
	}
	for _, car := range []string{"dir-with-files_14.car", "fixtures_1.car"} {
		if r := d.RPC("dag", "import", "--pin-roots=false", filepath.Join(fx, car)); r.Code != 0 {
			t.Fatalf("dag import %s: %s", car, r.Stderr)
		}
	}
	if r := d.RPC("name", "put", name, filepath.Join(fx, name+"_1.ipns-record")); r.Code != 0 || !strings.Contains(r.Stdout, "stored") {
		t.Fatalf("flotilla name put: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := d.RPC("name", "put", "k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c",
		filepath.Join(fx, "k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c_v1-v2-broken-signature-v2_2.ipns-record")); r.Code == 0 {
		t.Fatal("flotilla name put accepted a record with a broken signature")
	}

	base := "http://" + d.Listen.Gateway
	for _, c := range []struct {
		name, path, host string
		status           int
		body             string
	}{
		{"path gateway", "/ipfs/" + dirWithFiles + "/hello.txt", "", 200, "hello world\n"},
		{"IPNS from a record put with the CLI", "/ipns/" + name + "/root2/root3/root4/index.html", "", 200, "hello\n"},
		{"DNSLink from IPFS_NS_MAP", "/", "dnslink-test.example.org", 200, "hello\n"},
		{"subdomain of a public host from FLOTILLA_GATEWAY_PUBLIC_HOST", "/hello.txt", v1(dirWithFiles) + ".ipfs.example.com", 200, "hello world\n"},
		{"second public host", "/", hello + ".ipfs.localhost", 200, "hello\n"},
		{"denylisted path", "/ipfs/" + dirWithFiles + "/ascii.txt", "", 410, ""},
		{"offline: absent content is 404, at once", "/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "", 404, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
		if c.host != "" {
			req.Host = c.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || (c.body != "" && string(body) != c.body) {
			t.Errorf("%s: GET %s (Host %q) = %d %q, want %d %q", c.name, c.path, c.host, resp.StatusCode, body, c.status, c.body)
		}
	}

	// The record and the resolution read back through the CLI.
	if r := d.RPC("name", "resolve", name); strings.TrimSpace(r.Stdout) != "/ipfs/"+root1 {
		t.Errorf("flotilla name resolve = %q %q", r.Stdout, r.Stderr)
	}
	rec, _ := os.ReadFile(filepath.Join(fx, name+"_1.ipns-record"))
	if r := d.RPC("name", "get", name); r.Stdout != string(rec) {
		t.Errorf("flotilla name get returned %d bytes, want the %d-byte record", len(r.Stdout), len(rec))
	}
	if r := d.RPC("resolve", "/ipns/dnslink-test.example.org"); strings.TrimSpace(r.Stdout) != "/ipfs/"+hello {
		t.Errorf("flotilla resolve of a DNSLink = %q %q", r.Stdout, r.Stderr)
	}
}

// v1 is the base32 CIDv1 form a subdomain carries.
func v1(s string) string {
	c := cid.MustParse(s)
	return cid.NewCidV1(c.Type(), c.Hash()).String()
}

// The CLI's DAG commands, without a daemon: dag put/get/stat, refs,
// resolve, all through the same RPC path as with one.
func TestDagAndRefsCommands(t *testing.T) {
	data := t.TempDir()
	in := filepath.Join(t.TempDir(), "node.json")
	os.WriteFile(in, []byte(`{"hello":"world","list":[1,2,3]}`), 0o644)
	c := strings.TrimSpace(ft.MustCLI(t, data, "dag", "put", "--pin", in))
	if !strings.HasPrefix(c, "bafyrei") {
		t.Fatalf("dag put = %q, want a dag-cbor CIDv1", c)
	}
	if got := ft.MustCLI(t, data, "dag", "get", c); got != `{"hello":"world","list":[1,2,3]}` {
		t.Fatalf("dag get = %q", got)
	}
	if got := ft.MustCLI(t, data, "dag", "get", c+"/list/1"); got != "2" {
		t.Fatalf("dag get of a path in the node = %q", got)
	}
	if got := ft.MustCLI(t, data, "dag", "stat", c); !strings.Contains(got, "Unique blocks: 1") {
		t.Fatalf("dag stat = %q", got)
	}
	tree := writeTree(t)
	root := strings.TrimSpace(ft.MustCLI(t, data, "add", "-r", "-Q", "--cid-version=1", tree))
	refs := ft.MustCLI(t, data, "refs", "-r", "-u", root)
	if n := strings.Count(refs, "\n"); n < 6 {
		t.Fatalf("refs -r -u lists %d refs:\n%s", n, refs)
	}
	local := ft.MustCLI(t, data, "refs", "local")
	for _, l := range strings.Split(strings.TrimSpace(refs), "\n") {
		if c := cid.MustParse(l); !strings.Contains(local, cid.NewCidV1(cid.Raw, c.Hash()).String()) {
			t.Fatalf("refs local lacks %s", l)
		}
	}
	if got := strings.TrimSpace(ft.MustCLI(t, data, "resolve", "/ipfs/"+root+"/docs/a/b/c.txt")); !strings.HasPrefix(got, "/ipfs/bafk") {
		t.Fatalf("resolve = %q", got)
	}
	if r := ft.CLI(t, data, nil, "name", "resolve", "k51qzi5uqu5dlxdsdu5fpuu7h69wu4ohp32iwm9pdt9nq3y5rpn3ln9j12zfhe"); r.Code == 0 {
		t.Fatalf("name resolve of an unknown name succeeded: %q", r.Stdout)
	}
}
