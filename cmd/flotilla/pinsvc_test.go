package main_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
	"github.com/flotilla-ipfs/flotilla/internal/kubotest"
)

// psaStatus is the Pinning Service API's PinStatus, as far as these tests
// look at it.
type psaStatus struct {
	RequestID string    `json:"requestid"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created"`
	Pin       struct {
		Cid  string `json:"cid"`
		Name string `json:"name"`
	} `json:"pin"`
	Delegates []string `json:"delegates"`
}

// psa calls a daemon's Pinning Service API with a bearer token, as kubo
// does, and decodes a JSON answer into out.
func psa(t *testing.T, d *ft.Daemon, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+d.Listen.PinSvc+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer any-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// remoteLs runs `ipfs pin remote ls` and returns "cid status name" lines.
func remoteLs(k *kubotest.Kubo, args ...string) []string {
	out := k.Run(append([]string{"pin", "remote", "ls", "--service=flotilla"}, args...)...)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			lines = append(lines, strings.Join(strings.Split(l, "\t"), " "))
		}
	}
	slices.Sort(lines)
	return lines
}

// kuboFile adds random bytes to kubo only and returns their CID.
func kuboFile(t *testing.T, k *kubotest.Kubo, size int, add ...string) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	file := filepath.Join(t.TempDir(), "data.bin")
	os.WriteFile(file, data, 0o644)
	return strings.TrimSpace(k.Run(append(append([]string{"add", "-Q", "--cid-version=1"}, add...), file)...)), data
}

// flotillaPinned reports whether flotilla's node holds c pinned, as its
// tracker reports it through the REST API (pin ls lists the pinset, not
// what the node holds).
func flotillaPinned(d *ft.Daemon, c string) bool {
	r := d.API("status", c, "--local", "--json")
	var gpi struct {
		PeerMap map[string]struct{ Status string } `json:"peer_map"`
	}
	return r.Code == 0 && json.Unmarshal([]byte(r.Stdout), &gpi) == nil && gpi.PeerMap[d.Listen.PeerID].Status == "pinned"
}

// kubo 0.43's `ipfs pin remote` drives a flotilla daemon's Pinning Service
// API: content that only kubo has ends up pinned on flotilla, fetched from
// kubo as the origin; listings filter and page as kubo expects; removal
// unpins.
func TestPinningServiceWithKubo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kubo; skipped in -short mode")
	}
	fl := ft.StartDaemon(t, t.TempDir(), "--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none")
	if fl.Listen.PinSvc == "" {
		t.Fatal("listen.json has no pinsvc address")
	}
	kubo := kubotest.New(t, "test")
	kubo.Run("pin", "remote", "service", "add", "flotilla", "http://"+fl.Listen.PinSvc, "any-token")
	kd := kubo.StartDaemon()

	// 1. Content only kubo has, pinned through the API with kubo as the
	// origin: flotilla was never connected to kubo (no DHT, no
	// bootstrap), so the origin is the only way to the bytes.
	direct, directBytes := kuboFile(t, kubo, 1<<20+4321)
	if peers := fl.RPC("swarm", "peers").Stdout; strings.Contains(peers, kd.ID) {
		t.Fatalf("flotilla is connected to kubo before any pin request:\n%s", peers)
	}
	var origin string
	for _, a := range kd.Swarm {
		if strings.Contains(a, "/tcp/") && strings.HasPrefix(a, "/ip4/127.0.0.1/") {
			origin = a
		}
	}
	if origin == "" {
		t.Fatalf("kubo has no loopback TCP address: %q", kd.Swarm)
	}
	var ps psaStatus
	body := fmt.Sprintf(`{"cid":%q,"name":"direct","origins":[%q],"meta":{"app":"test"}}`, direct, origin)
	if code := psa(t, fl, "POST", "/pins", body, &ps); code != http.StatusAccepted {
		t.Fatalf("POST /pins = %d, want 202", code)
	}
	if ps.RequestID == "" || ps.RequestID == direct || ps.Pin.Cid != direct || len(ps.Delegates) == 0 {
		t.Fatalf("POST /pins answered %+v: want a request ID that is not the CID, the CID, delegates", ps)
	}
	for _, d := range ps.Delegates {
		if !strings.HasSuffix(d, "/p2p/"+fl.Listen.PeerID) {
			t.Errorf("delegate %q is not one of flotilla's addresses with /p2p/%s", d, fl.Listen.PeerID)
		}
	}
	waitFor(t, time.Minute, "the direct request pinned", func() error {
		var got psaStatus
		if code := psa(t, fl, "GET", "/pins/"+ps.RequestID, "", &got); code != 200 || got.Status != "pinned" {
			return fmt.Errorf("GET /pins/%s = %d, status %q", ps.RequestID, code, got.Status)
		}
		return nil
	})
	if !flotillaPinned(fl, direct) {
		t.Fatalf("request pinned, but flotilla's node does not hold %s pinned", direct)
	}

	// 2. `ipfs pin remote add` waits until flotilla reports pinned; kubo
	// sends its own addresses as origins.
	viaKubo, _ := kuboFile(t, kubo, 300<<10)
	out := kubo.Run("pin", "remote", "add", "--service=flotilla", "--name=via-kubo", viaKubo)
	if !strings.Contains(out, "Status: pinned") || !strings.Contains(out, viaKubo) {
		t.Fatalf("ipfs pin remote add = %q, want %s pinned", out, viaKubo)
	}
	if !flotillaPinned(fl, viaKubo) {
		t.Fatalf("kubo reports pinned, but flotilla's node does not hold %s pinned", viaKubo)
	}

	// 3. A request for content nobody has stays pending.
	nowhere, _ := kuboFile(t, kubo, 1000, "--only-hash")
	if out := kubo.Run("pin", "remote", "add", "--service=flotilla", "--name=nowhere", "--background", nowhere); !strings.Contains(out, nowhere) {
		t.Fatalf("ipfs pin remote add --background = %q", out)
	}

	// 4. Listings with kubo's filters.
	pinnedLines := []string{direct + " pinned direct", viaKubo + " pinned via-kubo"}
	slices.Sort(pinnedLines)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, pinnedLines}, // status pinned by default
		{[]string{"--name=via-kubo"}, []string{viaKubo + " pinned via-kubo"}},
		{[]string{"--name=via"}, nil}, // exact match
		{[]string{"--cid=" + direct}, []string{direct + " pinned direct"}},
		{[]string{"--cid=" + direct + "," + viaKubo}, pinnedLines},
		{[]string{"--status=failed"}, nil},
	} {
		if got := remoteLs(kubo, tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("ipfs pin remote ls %s = %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	pending := remoteLs(kubo, "--status=queued,pinning")
	if len(pending) != 1 || !strings.HasPrefix(pending[0], nowhere+" ") || !strings.HasSuffix(pending[0], " nowhere") {
		t.Errorf("ipfs pin remote ls --status=queued,pinning = %q, want only the nowhere request", pending)
	}
	var services struct {
		RemoteServices []struct {
			Service string
			Stat    struct {
				Status   string
				PinCount struct{ Queued, Pinning, Pinned, Failed int }
			}
		}
	}
	if err := json.Unmarshal([]byte(kubo.Run("pin", "remote", "service", "ls", "--stat", "--enc=json")), &services); err != nil {
		t.Fatal(err)
	}
	if s := services.RemoteServices; len(s) != 1 || s[0].Stat.Status != "valid" || s[0].Stat.PinCount.Pinned != 2 ||
		s[0].Stat.PinCount.Queued+s[0].Stat.PinCount.Pinning != 1 || s[0].Stat.PinCount.Failed != 0 {
		t.Errorf("ipfs pin remote service ls --stat = %+v, want valid, 2 pinned, 1 queued or pinning, 0 failed", s)
	}

	// 5. More requests than a page (kubo asks 10 at a time and pages with
	// before=<created>): every one is listed once.
	var bulk []string
	for i := range 14 {
		name := fmt.Sprintf("bulk-%02d", i)
		if code := psa(t, fl, "POST", "/pins", fmt.Sprintf(`{"cid":%q,"name":%q}`, direct, name), nil); code != http.StatusAccepted {
			t.Fatalf("POST /pins %s = %d", name, code)
		}
		bulk = append(bulk, direct+" pinned "+name)
	}
	want := append(bulk, direct+" pinned direct")
	slices.Sort(want)
	if got := remoteLs(kubo, "--cid="+direct); !slices.Equal(got, want) {
		t.Errorf("ipfs pin remote ls --cid=%s = %d lines %q, want the %d requests of that CID", direct, len(got), got, len(want))
	}

	// 6. Removal: the CID leaves the cluster's pinset and flotilla's node.
	kubo.Run("pin", "remote", "rm", "--service=flotilla", "--cid="+viaKubo)
	if got := remoteLs(kubo, "--cid="+viaKubo, "--status=queued,pinning,pinned,failed"); len(got) != 0 {
		t.Errorf("after rm, ipfs pin remote ls --cid=%s = %q", viaKubo, got)
	}
	if code, _ := get(t, "http://"+fl.Listen.API+"/allocations/"+viaKubo); code != http.StatusNotFound {
		t.Errorf("after rm, the cluster still has a pin for %s: GET /allocations = %d", viaKubo, code)
	}
	waitFor(t, 30*time.Second, "flotilla's node unpins "+viaKubo, func() error {
		if flotillaPinned(fl, viaKubo) {
			return fmt.Errorf("still pinned")
		}
		return nil
	})
	kubo.Run("pin", "remote", "rm", "--service=flotilla", "--name=nowhere", "--status=queued,pinning")
	if code, _ := get(t, "http://"+fl.Listen.API+"/allocations/"+nowhere); code != http.StatusNotFound {
		t.Errorf("after rm, the cluster still has a pin for %s: GET /allocations = %d", nowhere, code)
	}
	// Removing some of the requests of a CID keeps it pinned.
	if out, err := kubo.Try("pin", "remote", "rm", "--service=flotilla", "--name=bulk-03"); err != nil {
		t.Fatalf("ipfs pin remote rm --name=bulk-03: %v %s", err, out)
	}
	if got := remoteLs(kubo, "--cid="+direct); len(got) != len(want)-1 || slices.Contains(got, direct+" pinned bulk-03") {
		t.Errorf("after removing bulk-03: %q", got)
	}
	if !flotillaPinned(fl, direct) {
		t.Errorf("removing one of the requests of %s unpinned it", direct)
	}

	// 7. The bytes are flotilla's own: kubo drops them, flotilla still
	// serves them.
	kubo.Run("pin", "rm", direct)
	kubo.Run("repo", "gc")
	if r := fl.RPC("cat", direct); r.Code != 0 || !bytes.Equal([]byte(r.Stdout), directBytes) {
		t.Fatalf("flotilla cat %s after kubo's gc: exit %d, %d bytes, want %d", direct, r.Code, len(r.Stdout), len(directBytes))
	}
}
