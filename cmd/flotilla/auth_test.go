package main_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
	"github.com/flotilla-ipfs/flotilla/internal/kubotest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flotilla test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// usersFile writes a users file; the hashes use bcrypt's minimum cost to
// keep the test fast (the daemon accepts any cost).
func usersFile(t *testing.T, dir string, users map[string][2]string) string {
	t.Helper()
	var f auth.UsersFile
	for name, v := range users {
		h, _ := bcrypt.GenerateFromPassword([]byte(v[0]), bcrypt.MinCost)
		s, err := auth.ParseScope(v[1])
		if err != nil {
			t.Fatal(err)
		}
		f.Users = append(f.Users, auth.User{Name: name, PasswordHash: string(h), Scope: s})
	}
	raw, _ := json.Marshal(f)
	path := filepath.Join(dir, "users.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runTool runs a program with extra environment and returns its output
// and exit code.
func runTool(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return out.String(), 0
}

// The admin APIs behind authentication and TLS, driven by the real
// clients: ipfs-cluster-ctl with --basic-auth over HTTPS and with
// CLUSTER_CREDENTIALS, kubo's CLI with --api-auth bearer tokens on the
// RPC port; scopes, token revocation cluster-wide, and the refusals.
func TestAdminAPIsAuthAndTLS(t *testing.T) {
	ctlBin := clusterCtl(t)
	kubo := kubotest.Binary(t)
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	users := usersFile(t, dir, map[string][2]string{"admin": {"s3cret-admin", "admin"}, "viewer": {"look-only", "read"}})
	d := ft.StartDaemon(t, filepath.Join(dir, "node"), "--offline", "--api-auth-file", users, "--tls-cert", certFile, "--tls-key", keyFile)

	_, apiPort, _ := strings.Cut(d.Listen.API, ":")
	_, rpcPort, _ := strings.Cut(d.Listen.RPC, ":")
	// Clients trust our certificate through the system pool's file.
	trust := []string{"SSL_CERT_FILE=" + certFile}
	ctlRun := func(env []string, args ...string) (string, int) {
		return runTool(t, append(trust, env...), ctlBin, append([]string{"--host", "/ip4/127.0.0.1/tcp/" + apiPort, "--https"}, args...)...)
	}

	// Refusals: no credentials, wrong user, wrong password; plain HTTP
	// on the TLS port is not served.
	for name, args := range map[string][]string{
		"no credentials": {"id"},
		"wrong user":     {"--basic-auth", "root:s3cret-admin", "id"},
		"wrong password": {"--basic-auth", "admin:guess", "id"},
	} {
		out, code := ctlRun(nil, args...)
		if code == 0 || !strings.Contains(out, "401") && !strings.Contains(strings.ToLower(out), "unauthorized") {
			t.Errorf("%s: exit %d, output %q; want a 401", name, code, out)
		}
	}
	if resp, err := http.Get("http://" + d.Listen.API + "/id"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("plain HTTP on the TLS port answered %d", resp.StatusCode)
		}
	}

	// Accepted: --basic-auth over HTTPS, and CLUSTER_CREDENTIALS.
	if out, code := ctlRun(nil, "--basic-auth", "admin:s3cret-admin", "--enc=json", "id"); code != 0 || !strings.Contains(out, d.Listen.PeerID) {
		t.Fatalf("ctl id with --basic-auth: exit %d: %s", code, out)
	}
	// The peer registers itself just after it is ready: poll.
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, code := ctlRun([]string{"CLUSTER_CREDENTIALS=admin:s3cret-admin"}, "peers", "ls")
		if code == 0 && strings.Contains(out, d.Listen.PeerID) {
			break
		}
		if code != 0 || time.Now().After(deadline) {
			t.Fatalf("ctl peers ls with CLUSTER_CREDENTIALS: exit %d: %s", code, out)
		}
	}
	// /health needs nothing.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, certFile)}}}
	if resp, err := client.Get("https://" + d.Listen.API + "/health"); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("GET /health without credentials: %v %v", resp, err)
	}

	// A reader reads but may not pin: 403, and nothing is pinned.
	const cidStr = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku" // the empty block
	if out, code := ctlRun(nil, "--basic-auth", "viewer:look-only", "pin", "ls"); code != 0 {
		t.Fatalf("viewer pin ls: exit %d: %s", code, out)
	}
	if out, code := ctlRun(nil, "--basic-auth", "viewer:look-only", "pin", "add", "--no-status", cidStr); code == 0 || !strings.Contains(out, "403") && !strings.Contains(out, "forbidden") {
		t.Fatalf("viewer pin add: exit %d, output %q; want 403", code, out)
	}
	if out, _ := ctlRun(nil, "--basic-auth", "admin:s3cret-admin", "pin", "ls"); strings.Contains(out, cidStr) {
		t.Fatalf("a refused pin is in the pinset: %s", out)
	}

	// Tokens: issued against a password, used by kubo's CLI on the RPC
	// port (also TLS), scoped, and revoked cluster-wide.
	token := func(user, pass, query string) (map[string]any, int) {
		req, _ := http.NewRequest(http.MethodPost, "https://"+d.Listen.API+"/token"+query, nil)
		req.SetBasicAuth(user, pass)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return v, resp.StatusCode
	}
	pinTok, code := token("admin", "s3cret-admin", "?scope=pin&expires-in=1h&name=ci")
	if code != 200 || pinTok["token"] == "" || pinTok["scope"] != "pin" {
		t.Fatalf("POST /token: %d %v", code, pinTok)
	}
	if v, code := token("viewer", "look-only", "?scope=admin"); code != http.StatusForbidden {
		t.Fatalf("viewer asking for an admin token: %d %v, want 403", code, v)
	}
	kuboAPI := "/ip4/127.0.0.1/tcp/" + rpcPort + "/https"
	ipfs := func(tok string, args ...string) (string, int) {
		return runTool(t, append(trust, "IPFS_PATH="+t.TempDir()), kubo, append([]string{"--api", kuboAPI, "--api-auth", "bearer:" + tok}, args...)...)
	}
	if out, code := ipfs(pinTok["token"].(string), "id", "-f", "<id>"); code != 0 || strings.TrimSpace(out) != d.Listen.PeerID {
		t.Fatalf("ipfs id with a pin token: exit %d: %s", code, out)
	}
	if out, code := ipfs(pinTok["token"].(string), "repo", "gc"); code == 0 || !strings.Contains(out, "needs scope admin") {
		t.Fatalf("ipfs repo gc with a pin token: exit %d, output %q; want refused", code, out)
	}
	if out, code := ipfs("not-a-token", "id"); code == 0 || !strings.Contains(out, "invalid token") {
		t.Fatalf("ipfs id with garbage token: exit %d, output %q", code, out)
	}

	revoke, _ := http.NewRequest(http.MethodDelete, "https://"+d.Listen.API+"/tokens/"+pinTok["id"].(string), nil)
	revoke.SetBasicAuth("admin", "s3cret-admin")
	if resp, err := client.Do(revoke); err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	if out, code := ipfs(pinTok["token"].(string), "id"); code == 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("ipfs id with a revoked token: exit %d, output %q", code, out)
	}

	// Ten failures from one address, then 429 even with good credentials.
	// The bucket refills at one attempt a second, longer than starting
	// the CLI may take on a loaded machine: failures go on at 10/s while
	// it runs, so none of the refills is left for it. The loop stops
	// with the CLI.
	wrong := func() {
		req, _ := http.NewRequest(http.MethodGet, "https://"+d.Listen.API+"/id", nil)
		req.SetBasicAuth("admin", "wrong")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	for range 12 {
		wrong()
	}
	stop := make(chan struct{})
	var failing sync.WaitGroup
	failing.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				wrong()
			}
		}
	})
	out, code := ctlRun(nil, "--basic-auth", "admin:s3cret-admin", "id")
	close(stop)
	failing.Wait()
	if code == 0 || !strings.Contains(out, "429") && !strings.Contains(out, "too many") {
		t.Fatalf("after repeated failures: exit %d, output %q; want 429", code, out)
	}

	// The audit log names who did what, and never a password.
	logs := d.Stderr()
	if !regexp.MustCompile(`"component":"audit".*"user":"viewer".*"status":403`).MatchString(logs) || strings.Contains(logs, "s3cret-admin") || strings.Contains(logs, "look-only") {
		t.Errorf("audit log lacks the refused pin or shows a password:\n%s", logs)
	}
}

// An admin port bound beyond loopback never runs open: the first start
// creates an admin credential, prints it once and stores only its hash;
// the second start reuses the file and prints nothing.
func TestAdminCredentialGeneratedWhenExposed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	d := ft.StartDaemon(t, dir, "--offline", "--api-listen", "0.0.0.0:0")
	m := regexp.MustCompile(`"msg":"generated the admin credential[^\n]*"password":"([^"]+)"`).FindStringSubmatch(d.Stderr())
	if m == nil {
		t.Fatalf("no generated credential in the log:\n%s", d.Stderr())
	}
	password := m[1]
	raw, err := os.ReadFile(filepath.Join(dir, "api-users.json"))
	if err != nil || strings.Contains(string(raw), password) {
		t.Fatalf("users file: %v; holds the password in clear: %v", err, strings.Contains(string(raw), password))
	}
	_, port, _ := net.SplitHostPort(d.Listen.API)
	get := func(user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/id", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("", ""); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d, want 401", code)
	}
	if code := get("admin", password); code != http.StatusOK {
		t.Fatalf("generated credential: %d, want 200", code)
	}
	// Oversized headers are refused before authentication or any handler.
	big, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/id", nil)
	big.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	if resp, err := http.DefaultClient.Do(big); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("100 KiB header: %v %v, want 431", resp, err)
	}
	// The same rules hold on the loopback RPC port.
	resp, err := http.Post("http://"+d.Listen.RPC+"/api/v0/id", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("RPC without credentials: %d, want 401", resp.StatusCode)
	}
	d.Stop()
	d = ft.StartDaemon(t, dir, "--offline", "--api-listen", "0.0.0.0:0")
	if strings.Contains(d.Stderr(), "generated the admin credential") {
		t.Fatal("a second start generated another credential")
	}
	_, port, _ = net.SplitHostPort(d.Listen.API)
	if code := get("admin", password); code != http.StatusOK {
		t.Fatalf("after restart: %d, want 200", code)
	}
}

func certPool(t *testing.T, certFile string) *x509.CertPool {
	raw, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		t.Fatal(fmt.Errorf("no certificate in %s", certFile))
	}
	return pool
}

// issueToken asks a daemon's REST API for a token with Basic credentials.
func issueToken(t *testing.T, client *http.Client, base, user, pass, query string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/token"+query, nil)
	req.SetBasicAuth(user, pass)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 || v.Token == "" {
		t.Fatalf("POST /token as %s: %d %v", user, resp.StatusCode, err)
	}
	return v.Token
}

// kubo's `ipfs pin remote` with our tokens: a pin token pins, a read
// token lists but may not pin, a bad token is refused, and each user sees
// only their own requests.
func TestPinningServiceWithKuboTokens(t *testing.T) {
	dir := t.TempDir()
	users := usersFile(t, dir, map[string][2]string{"alice": {"alice-pw", "pin"}, "bob": {"bob-pw", "pin"}, "carol": {"carol-pw", "read"}})
	fl := ft.StartDaemon(t, filepath.Join(dir, "node"), "--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none", "--api-auth-file", users)
	base := "http://" + fl.Listen.API
	alice := issueToken(t, http.DefaultClient, base, "alice", "alice-pw", "?expires-in=1h")
	bob := issueToken(t, http.DefaultClient, base, "bob", "bob-pw", "")
	carol := issueToken(t, http.DefaultClient, base, "carol", "carol-pw", "")

	kubo := kubotest.New(t, "test")
	url := "http://" + fl.Listen.PinSvc
	kubo.Run("pin", "remote", "service", "add", "alice", url, alice)
	kubo.Run("pin", "remote", "service", "add", "bob", url, bob)
	kubo.Run("pin", "remote", "service", "add", "carol", url, carol)
	kubo.Run("pin", "remote", "service", "add", "forged", url, alice[:len(alice)-4]+"AAAA")
	kubo.StartDaemon()

	c, _ := kuboFile(t, kubo, 200<<10)
	if out := kubo.Run("pin", "remote", "add", "--service=alice", "--name=alices", c); !strings.Contains(out, "Status: pinned") {
		t.Fatalf("pin remote add with alice's token = %q", out)
	}
	ls := func(service string) (string, error) {
		return kubo.Try("pin", "remote", "ls", "--service="+service)
	}
	if out, err := ls("alice"); err != nil || !strings.Contains(out, c) {
		t.Fatalf("alice's listing = %q, %v", out, err)
	}
	if out, err := ls("bob"); err != nil || strings.Contains(out, c) {
		t.Fatalf("bob's listing = %q, %v; want none of alice's requests", out, err)
	}
	if out, err := ls("carol"); err != nil {
		t.Fatalf("carol (read) listing = %q, %v", out, err)
	}
	if out, err := kubo.Try("pin", "remote", "add", "--service=carol", "--background", c); err == nil || !strings.Contains(out+err.Error(), "403") && !strings.Contains(strings.ToLower(out+err.Error()), "forbidden") {
		t.Fatalf("carol (read) pinning = %q, %v; want refused", out, err)
	}
	if out, err := ls("forged"); err == nil || !strings.Contains(out+err.Error(), "401") && !strings.Contains(strings.ToLower(out+err.Error()), "unauthorized") {
		t.Fatalf("forged token listing = %q, %v; want refused", out, err)
	}
}

// flotilla's own CLI with authentication and TLS: `auth token create|ls|
// revoke` through the REST API, and the content commands through the RPC
// port with the same credentials and CA (the scheme found in listen.json).
func TestCLITokensAndRPCCredentials(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	users := usersFile(t, dir, map[string][2]string{"admin": {"adm-pw", "admin"}})
	data := filepath.Join(dir, "node")
	ft.StartDaemon(t, data, "--offline", "--api-auth-file", users, "--tls-cert", certFile, "--tls-key", keyFile)
	cli := func(args ...string) ft.Result {
		return ft.CLI(t, data, []byte("hello\n"), append([]string{"--api-ca", certFile}, args...)...)
	}

	r := cli("--api-auth", "admin:adm-pw", "--json", "auth", "token", "create", "--scope", "pin", "--name", "deploy", "--expires-in", "2h")
	var tok struct{ Token, ID, Scope string }
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &tok) != nil || tok.Token == "" || tok.Scope != "pin" {
		t.Fatalf("auth token create: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	// Content commands reach the daemon's RPC port over HTTPS with the token.
	if r := cli("--api-auth", tok.Token, "id"); r.Code != 0 || strings.TrimSpace(r.Stdout) == "" {
		t.Fatalf("id with the token: exit %d: %s", r.Code, r.Stderr)
	}
	if r := cli("id"); r.Code == 0 || !strings.Contains(r.Stderr, "no credentials") {
		t.Fatalf("id without credentials: exit %d, stderr %q; want refused", r.Code, r.Stderr)
	}
	if r := cli("--api-auth", tok.Token, "repo", "gc"); r.Code == 0 || !strings.Contains(r.Stderr, "needs scope admin") {
		t.Fatalf("gc with a pin token: exit %d, stderr %q; want refused", r.Code, r.Stderr)
	}
	// A token mints no tokens.
	if r := cli("--api-auth", tok.Token, "auth", "token", "create"); r.Code == 0 || !strings.Contains(r.Stderr, "not another token") {
		t.Fatalf("token create with a token: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = cli("--api-auth", "admin:adm-pw", "auth", "token", "ls")
	if r.Code != 0 || !regexp.MustCompile(tok.ID+`\s+admin\s+pin\s+deploy\s+\S+\s+valid`).MatchString(r.Stdout) {
		t.Fatalf("auth token ls: exit %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := cli("--api-auth", "admin:adm-pw", "auth", "token", "revoke", tok.ID); r.Code != 0 || !strings.Contains(r.Stdout, "revoked "+tok.ID) {
		t.Fatalf("auth token revoke: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := cli("--api-auth", tok.Token, "id"); r.Code == 0 || !strings.Contains(r.Stderr, "revoked") {
		t.Fatalf("id with a revoked token: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if r := cli("--api-auth", "admin:adm-pw", "auth", "token", "revoke", "no-such-token"); r.Code == 0 || !strings.Contains(r.Stderr, "no such token") {
		t.Fatalf("revoking an unknown token: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
