package main_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// jsonLines decodes one JSON object per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// tableRows splits a table into the fields of each line.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

// mustAPI runs a cluster command against a daemon's REST API (--api) and
// returns its stdout.
func mustAPI(t *testing.T, d *ft.Daemon, args ...string) string {
	t.Helper()
	r := d.API(args...)
	if r.Code != 0 {
		t.Fatalf("flotilla %s: exit %d: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// startTwoPeers starts two daemons as a cluster, in zones z1 and z2, and
// returns once the second lists both.
func startTwoPeers(t *testing.T) (d0, d1 *ft.Daemon) {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(hex.EncodeToString([]byte("cluster cli secret of 32 bytes!!"))), 0o600)
	d0 = ft.StartDaemon(t, t.TempDir(), clusterFlags(secret, "z1", "")...)
	d1 = ft.StartDaemon(t, t.TempDir(), clusterFlags(secret, "z2", d0.Listen.Cluster)...)
	waitFor(t, 30*time.Second, "2 peers listed", func() error {
		if peers := jsonLines(t, mustAPI(t, d1, "peers", "ls", "--json")); len(peers) != 2 {
			return fmt.Errorf("peers ls = %v", peers)
		}
		return nil
	})
	return d0, d1
}

// flotilla's own cluster commands against two real daemons, in tables and
// JSON: peers, pin add with options and --wait, pin ls, status, health,
// add with cluster options (REST /add), pin update, pin rm, peers rm; the
// API address from the data directory, --api and FLOTILLA_API.
func TestClusterCLI(t *testing.T) {
	d0, d1 := startTwoPeers(t)

	// peers ls through the daemon holding the data directory: a table.
	out := ft.MustCLI(t, d0.Dir, "peers", "ls")
	rows := tableRows(out)
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[0]] = r
	}
	if len(rows) != 3 || strings.Join(rows[0], " ") != "ID NAME ADDRESS VERSION" || len(byID[d0.Listen.PeerID]) != 4 || len(byID[d1.Listen.PeerID]) != 4 ||
		byID[d0.Listen.PeerID][1] != "z1" || byID[d0.Listen.PeerID][2] != "/ip4/127.0.0.1/tcp/"+strings.Split(d0.Listen.Cluster, ":")[1]+"/p2p/"+d0.Listen.PeerID ||
		byID[d1.Listen.PeerID][1] != "z2" {
		t.Errorf("peers ls = %q", out)
	}

	// pin add with options, --wait: both peers hold it.
	root := strings.TrimSpace(d0.RPC("add", "-Q", "--pin=false", writeFile(t, "doc.txt", "pinned by flotilla's CLI\n")).Stdout)
	out = mustAPI(t, d1, "pin", "add", "--replication-min", "2", "--replication-max", "2", "--name", "doc",
		"--meta", "team=storage", "--meta", "tier=hot", "--expire-in", "24h", "--wait", "--wait-timeout", "1m", root)
	if strings.TrimSpace(out) != "pinned "+root+` "doc" on z1,z2` {
		t.Errorf("pin add --wait = %q", out)
	}
	out = ft.MustCLI(t, d0.Dir, "pin", "ls")
	rows = tableRows(out)
	if len(rows) != 2 || strings.Join(rows[0], " ") != "CID NAME MODE REPLICATION ALLOCATIONS EXPIRES METADATA" ||
		strings.Join(rows[1][:5], " ") != root+" doc recursive 2..2 z1,z2" || rows[1][6] != "team=storage,tier=hot" ||
		!strings.HasPrefix(rows[1][5], time.Now().Add(24*time.Hour).Format("2006-01-02")) {
		t.Errorf("pin ls = %q", out)
	}
	pins := jsonLines(t, ft.MustCLI(t, d0.Dir, "--json", "pin", "ls"))
	if len(pins) != 1 || pins[0]["cid"] != root || pins[0]["name"] != "doc" || pins[0]["replication_factor_min"] != 2.0 ||
		pins[0]["metadata"].(map[string]any)["tier"] != "hot" || len(pins[0]["allocations"].([]any)) != 2 {
		t.Errorf("pin ls --json = %v", pins)
	}

	// status: a table, and IPFS Cluster's GlobalPinInfo.
	out = ft.MustCLI(t, d0.Dir, "status")
	if rows = tableRows(out); len(rows) != 2 || strings.Join(rows[1], " ") != root+" doc 2/2 z1:pinned z2:pinned" {
		t.Errorf("status = %q", out)
	}
	st := jsonLines(t, mustAPI(t, d0, "--json", "status", root))
	if len(st) != 1 || statusCounts(st[0])["pinned"] != 2 {
		t.Errorf("status --json = %v", st)
	}

	// health: both up.
	out = ft.MustCLI(t, d1.Dir, "health")
	if rows = tableRows(out); len(rows) != 3 || rows[1][2] != "up" || rows[2][2] != "up" || !strings.Contains(out, "FREE SPACE") || strings.Contains(out, "alert") {
		t.Errorf("health = %q", out)
	}
	var health struct {
		Alerts []any            `json:"alerts"`
		Ping   []map[string]any `json:"ping"`
	}
	ft.DecodeJSON(t, ft.MustCLI(t, d1.Dir, "--json", "health"), &health)
	if len(health.Alerts) != 0 || len(health.Ping) != 2 || health.Ping[0]["valid"] != true {
		t.Errorf("health --json = %+v", health)
	}

	// add with cluster options goes through the REST API's /add.
	added := jsonLines(t, mustAPI(t, d1, "--json", "add", "--replication-min", "2", "--replication-max", "2", "--meta", "src=cli",
		writeFile(t, "cluster-add.txt", "added through the REST API\n")))
	if len(added) != 1 || added[0]["name"] != "cluster-add.txt" || len(added[0]["allocations"].([]any)) != 2 {
		t.Fatalf("add --json with cluster options = %v", added)
	}
	viaAdd := added[0]["cid"].(string)
	p := jsonLines(t, ft.MustCLI(t, d0.Dir, "--json", "pin", "ls", viaAdd))
	if len(p) != 1 || p[0]["metadata"].(map[string]any)["src"] != "cli" || p[0]["replication_factor_max"] != 2.0 {
		t.Errorf("pin ls of the cluster add = %v", p)
	}
	if out := strings.TrimSpace(ft.MustCLI(t, d1.Dir, "add", "-Q", "--replication-min", "1", "--replication-max", "1",
		writeFile(t, "quiet.txt", "quiet cluster add\n"))); !strings.HasPrefix(out, "Qm") || strings.Contains(out, "\n") {
		t.Errorf("add -Q with cluster options = %q", out)
	}

	// --progress shows the bar of the cluster add too (here without a
	// terminal), from the API's progress reports.
	r := d1.API("add", "--progress", "-Q", "--replication-min", "1", "--replication-max", "1", writeFile(t, "big.bin", strings.Repeat("flotilla ", 200_000)))
	if r.Code != 0 || !strings.Contains(r.Stderr, "adding 100%") || !strings.HasPrefix(r.Stdout, "Qm") {
		t.Errorf("add --progress with cluster options: exit %d: %q %q", r.Code, r.Stdout, r.Stderr)
	}

	// pin update: the new root takes the pin's options and peers; the old
	// one goes with --unpin, once the new one is pinned.
	next := strings.TrimSpace(d0.RPC("add", "-Q", "--pin=false", writeFile(t, "doc2.txt", "next version\n")).Stdout)
	out = ft.MustCLI(t, d1.Dir, "pin", "update", "--unpin", "--name", "doc-v2", root, next)
	if strings.TrimSpace(out) != "updated "+root+" to "+next+` "doc-v2", allocated to z1,z2` {
		t.Errorf("pin update = %q", out)
	}
	out = ft.MustCLI(t, d0.Dir, "pin", "ls")
	if strings.Contains(out, root) || !strings.Contains(out, next) || !strings.Contains(out, "doc-v2") || !strings.Contains(out, "team=storage") {
		t.Errorf("pin ls after update = %q", out)
	}

	// pin rm.
	if out := ft.MustCLI(t, d0.Dir, "pin", "rm", "--wait", next); strings.TrimSpace(out) != "unpinned "+next+` "doc-v2"` {
		t.Errorf("pin rm = %q", out)
	}
	if out := ft.MustCLI(t, d0.Dir, "pin", "ls"); strings.Contains(out, next) {
		t.Errorf("pin ls after rm = %q", out)
	}

	// The API from the environment, from another data directory.
	r = ft.CLIEnv(t, t.TempDir(), []string{"FLOTILLA_API=http://" + d1.Listen.API}, "pin", "ls", "--json")
	if r.Code != 0 || len(jsonLines(t, r.Stdout)) != 3 {
		t.Errorf("pin ls with FLOTILLA_API: exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	}
	// A daemon's settings in the environment are not a pin's options.
	r = ft.CLIEnv(t, d0.Dir, []string{"FLOTILLA_REPLICATION_MIN=5", "FLOTILLA_NAME=from-env"}, "pin", "add", viaAdd)
	if r.Code != 0 || strings.Contains(r.Stdout, "from-env") {
		t.Errorf("pin add with FLOTILLA_REPLICATION_MIN=5 set: exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	}

	// peers rm: d1 leaves; its pins are d0's alone.
	if out := ft.MustCLI(t, d0.Dir, "peers", "rm", d1.Listen.PeerID); strings.TrimSpace(out) != "removed "+d1.Listen.PeerID {
		t.Errorf("peers rm = %q", out)
	}
	if peers := jsonLines(t, ft.MustCLI(t, d0.Dir, "--json", "peers", "ls")); len(peers) != 1 || peers[0]["id"] != d0.Listen.PeerID {
		t.Errorf("peers ls after rm = %v", peers)
	}
	for _, p := range jsonLines(t, ft.MustCLI(t, d0.Dir, "--json", "pin", "ls")) {
		if allocs := p["allocations"].([]any); len(allocs) != 1 || allocs[0] != d0.Listen.PeerID {
			t.Errorf("%s allocated to %v after peers rm, want d0 alone", p["cid"], allocs)
		}
	}
}

// The cluster commands' failures: a clear message on stderr, a non-zero
// exit, and no change to the pinset.
func TestClusterCLIErrors(t *testing.T) {
	noDaemon := t.TempDir()
	r := ft.CLI(t, noDaemon, nil, "pin", "ls")
	if r.Code == 0 || !strings.Contains(r.Stderr, "no daemon is running on "+noDaemon) || !strings.Contains(r.Stderr, "flotilla daemon") ||
		!strings.Contains(r.Stderr, "--api") {
		t.Errorf("pin ls without a daemon: exit %d: %s", r.Code, r.Stderr)
	}
	r = ft.CLI(t, noDaemon, nil, "add", "--replication-min", "1", writeFile(t, "x.txt", "x"))
	if r.Code == 0 || !strings.Contains(r.Stderr, "cluster options") || !strings.Contains(r.Stderr, "flotilla daemon") {
		t.Errorf("add with cluster options without a daemon: exit %d: %s", r.Code, r.Stderr)
	}
	r = ft.CLI(t, noDaemon, nil, "status", "--api", "127.0.0.1:1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "cannot reach the REST API at 127.0.0.1:1") {
		t.Errorf("status with nothing at --api: exit %d: %s", r.Code, r.Stderr)
	}

	d := ft.StartDaemon(t, t.TempDir())
	root := strings.TrimSpace(d.RPC("add", "-Q", writeFile(t, "ok.txt", "ok")).Stdout)
	before := ft.MustCLI(t, d.Dir, "--json", "pin", "ls")
	absent := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"bad cid", []string{"pin", "add", "QmNotACid"}, `"QmNotACid" is not a CID`},
		{"bad cid in status", []string{"status", "nope"}, `"nope" is not a CID`},
		{"bad meta", []string{"pin", "add", "--meta", "novalue", root}, `--meta "novalue": want key=value`},
		{"empty meta key", []string{"pin", "add", "--meta", "=v", root}, "want key=value"},
		{"bad mode", []string{"pin", "add", "--mode", "shallow", root}, `--mode "shallow"`},
		{"short expiry", []string{"pin", "add", "--expire-in", "10ms", root}, "--expire-in 10ms"},
		{"replication both ways", []string{"pin", "add", "--replication", "1", "--replication-min", "1", root}, "--replication sets both"},
		{"min over max", []string{"pin", "add", "--replication-min", "3", "--replication-max", "2", root}, "want 1 <= min <= max (HTTP 400)"},
		{"more than the cluster", []string{"pin", "add", "--replication-min", "2", "--replication-max", "2", root}, "not enough peers"},
		{"unpin what is not pinned", []string{"pin", "rm", absent}, "not pinned in the cluster"},
		{"ls what is not pinned", []string{"pin", "ls", absent}, "is not pinned in the cluster"},
		{"update what is not pinned", []string{"pin", "update", absent, root}, absent + " is not pinned"},
		{"bad peer id", []string{"peers", "rm", "notapeer"}, `"notapeer" is not a peer ID`},
		{"unknown peer", []string{"peers", "rm", "12D3KooWAKpDuYJNdZdutafsuDRMpx2ABW7ty6p8xzV3djsbRDWf"}, "not a member of the cluster (HTTP 404)"},
		{"last peer", []string{"peers", "rm", d.Listen.PeerID}, "only peer (HTTP 409)"},
		{"add flag without cluster equivalent", []string{"add", "--replication-min", "1", "--only-hash", writeFile(t, "y.txt", "y")}, "--only-hash cannot be used with the cluster options"},
		{"missing credentials file", []string{"pin", "ls", "--api-credentials", "/nonexistent/creds"}, "--api-credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ft.CLI(t, d.Dir, nil, tc.args...)
			if r.Code == 0 {
				t.Fatalf("exit 0, want failure; stdout %q", r.Stdout)
			}
			if !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("stderr %q does not mention %q", r.Stderr, tc.want)
			}
		})
	}
	if after := ft.MustCLI(t, d.Dir, "--json", "pin", "ls"); after != before {
		t.Errorf("failed commands changed the pins:\nbefore %s\nafter %s", before, after)
	}
}

// The cluster commands against a daemon whose API wants credentials and
// serves HTTPS with a private CA: --api-auth (Basic, Bearer),
// --api-credentials, --api-ca and their FLOTILLA_* variables; clear
// failures without them.
func TestClusterCLIAuthAndTLS(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.json")
	var f auth.UsersFile
	for _, u := range []struct {
		name, password string
		scope          auth.Scope
	}{{"admin", "s3cret", auth.ScopeAdmin}, {"reader", "r3ad", auth.ScopeRead}} {
		hash, err := auth.HashPassword(u.password)
		if err != nil {
			t.Fatal(err)
		}
		f.Users = append(f.Users, auth.User{Name: u.name, PasswordHash: hash, Scope: u.scope})
	}
	raw, _ := json.Marshal(f)
	os.WriteFile(users, raw, 0o600)
	cert, key := selfSigned(t, t.TempDir())
	d := ft.StartDaemon(t, t.TempDir(), "--offline", "--api-auth-file", users, "--tls-cert", cert, "--tls-key", key)
	f1 := writeFile(t, "secure.txt", "behind credentials\n")

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string // in stderr
	}{
		{"no credentials", nil, []string{"pin", "ls", "--api-ca", cert}, "the API refused the credentials"},
		{"wrong password", nil, []string{"pin", "ls", "--api-ca", cert, "--api-auth", "admin:nope"}, "(HTTP 401)"},
		{"no CA", nil, []string{"pin", "ls", "--api-auth", "admin:s3cret"}, "--api-ca"},
		{"read-only user pins", nil, []string{"pin", "add", "--api-ca", cert, "--api-auth", "reader:r3ad", "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"}, "not allowed with these credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ft.CLIEnv(t, d.Dir, tc.env, tc.args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want a failure mentioning %q", r.Code, r.Stderr, tc.want)
			}
		})
	}

	// Basic credentials from the flag, the CA from the environment; the
	// scheme is found out from listen.json's host:port.
	r := ft.CLIEnv(t, d.Dir, []string{"FLOTILLA_API_CA=" + cert}, "add", "-Q", "--replication-min", "1", "--replication-max", "1", "--api-auth", "admin:s3cret", f1)
	if r.Code != 0 {
		t.Fatalf("add with cluster options over HTTPS: exit %d: %s", r.Code, r.Stderr)
	}
	root := strings.TrimSpace(r.Stdout)
	// Credentials from a file named in the environment.
	creds := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(creds, []byte("reader:r3ad\n"), 0o600)
	r = ft.CLIEnv(t, d.Dir, []string{"FLOTILLA_API_CA=" + cert, "FLOTILLA_API_CREDENTIALS=" + creds}, "pin", "ls")
	if r.Code != 0 || !strings.Contains(r.Stdout, root) {
		t.Errorf("pin ls with FLOTILLA_API_CREDENTIALS: exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	}
	// A bearer token issued against the password.
	r = ft.CLI(t, d.Dir, nil, "status", "--api", "https://"+d.Listen.API, "--api-ca", cert, "--api-auth", cliToken(t, d, cert, "admin", "s3cret"))
	if r.Code != 0 || !strings.Contains(r.Stdout, root) || !strings.Contains(r.Stdout, "1/1") {
		t.Errorf("status with a bearer token: exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// cliToken asks the API for a token with Basic credentials.
func cliToken(t *testing.T, d *ft.Daemon, caFile, user, password string) string {
	t.Helper()
	pemCA, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+d.Listen.API+"/token", nil)
	req.SetBasicAuth(user, password)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.Token == "" || strings.Contains(tok.Token, ":") {
		t.Fatalf("POST /token = %d %+v (%v)", resp.StatusCode, tok, err)
	}
	return tok.Token
}
