package main_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// The real ipfs-cluster-ctl v1.1.6 adds through the REST API of a 3-peer
// cluster: a file, a directory (-r, --hidden, --cid-version), --local
// (with the peers chosen elsewhere too), a CAR (--format car), JSON and
// text, streamed and --no-stream. Every root has the CID `flotilla add`
// gives for the same options, and every allocated peer reports it pinned.
// Bad uploads and options are refused with a 4xx and leave no pin.
func TestCtlAdd(t *testing.T) {
	c := ctl{t: t, bin: clusterCtl(t)}
	d0, d1, d2 := c.threePeers("ctl add cluster secret, 32 bytes")
	// expect is the root `flotilla add` gives, without a daemon.
	expect := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(ft.MustCLI(t, t.TempDir(), append([]string{"add", "-Q"}, args...)...))
	}

	// A file of several blocks, JSON, default replication (every peer of
	// three): the peers hold it pinned.
	big := make([]byte, 3<<20+4321)
	rand.Read(big)
	file := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(file, big, 0o644)
	out := c.json(d1, "add", "--name", "big", file)
	root := expect(file)
	if len(out) != 1 || out[0]["cid"] != root || out[0]["name"] != "big.bin" || len(out[0]["allocations"].([]any)) != 3 {
		t.Fatalf("add big.bin = %v, want root %s on 3 peers", out, root)
	}
	waitAllocationsPinned(t, c, d2, root, 3)
	if p := c.json(d0, "pin", "ls", root)[0]; p["name"] != "big" || p["replication_factor_min"] != 2.0 || p["replication_factor_max"] != 3.0 {
		t.Errorf("pin ls %s = %v", root, p)
	}

	// A directory, text output, two replicas: every entry is listed, the
	// root last.
	tree := writeTree(t)
	text := c.must(d0, "add", "-r", "--rmin", "2", "--rmax", "2", tree)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	root = expect("-r", tree)
	if last := lines[len(lines)-1]; last != "added "+root+" site" || !strings.Contains(text, " site/assets/big.bin\n") ||
		strings.Contains(text, ".well-known") {
		t.Fatalf("add -r (text) =\n%s\nwant the root %s last, no hidden file", text, root)
	}
	waitAllocationsPinned(t, c, d1, root, 2)

	// Hidden files, CIDv1 (raw leaves), --no-stream: one JSON array.
	out = c.json(d2, "add", "-r", "--hidden", "--cid-version", "1", "--no-stream", tree)
	root = expect("-r", "-H", "--cid-version=1", tree)
	if last := out[len(out)-1]; last["cid"] != root || last["name"] != "site" || !hasName(out, "site/.well-known/x") {
		t.Fatalf("add -r --hidden --cid-version 1 --no-stream = %v, want root %s", out, root)
	}
	waitAllocationsPinned(t, c, d2, root, 3)

	// --local: the blocks are stored on the receiving peer only, which is
	// one of the allocations; the others fetch them once pinned.
	small := writeFile(t, "local.txt", "added on one peer, pinned on two\n")
	out = c.json(d2, "add", "--local", "--rmin", "2", "--rmax", "2", small)
	root = expect(small)
	if len(out) != 1 || out[0]["cid"] != root || !containsAny(out[0]["allocations"].([]any), d2.Listen.PeerID) {
		t.Fatalf("add --local via %s = %v, want %s allocated there", d2.Listen.PeerID, out, root)
	}
	waitAllocationsPinned(t, c, d0, root, 2)
	// ... and with the peers chosen elsewhere: they fetch from this one.
	elsewhere := writeFile(t, "elsewhere.txt", "added on d2, pinned on d0 and d1\n")
	out = c.json(d2, "add", "--local", "--rmin", "2", "--rmax", "2", "--allocations", d0.Listen.PeerID+","+d1.Listen.PeerID, elsewhere)
	root = expect(elsewhere)
	if len(out) != 1 || out[0]["cid"] != root || containsAny(out[0]["allocations"].([]any), d2.Listen.PeerID) {
		t.Fatalf("add --local --allocations d0,d1 = %v", out)
	}
	waitAllocationsPinned(t, c, d1, root, 2)

	// A CAR: its blocks as they are, its root pinned.
	carData := t.TempDir()
	carRoot := strings.TrimSpace(ft.MustCLI(t, carData, "add", "-Q", "--cid-version=1", file))
	carFile := filepath.Join(t.TempDir(), "big.car")
	os.WriteFile(carFile, []byte(ft.MustCLI(t, carData, "dag", "export", carRoot)), 0o644)
	out = c.json(d0, "add", "--format", "car", carFile)
	if len(out) != 1 || out[0]["cid"] != carRoot || out[0]["name"] != "big.car" || out[0]["size"] != float64(len(big)) {
		t.Fatalf("add --format car = %v, want root %s of size %d", out, carRoot, len(big))
	}
	waitAllocationsPinned(t, c, d1, carRoot, 3)
	pins := len(c.json(d0, "pin", "ls"))

	// Bad input: a 4xx that says why, and no pin.
	if out, errOut, code := c.run(d0, "add", "--layout", "zigzag", small); code == 0 || !strings.Contains(out+errOut, "Code: 400") ||
		!strings.Contains(out+errOut, "layout parameter") {
		t.Errorf("add --layout zigzag: exit %d: %s%s", code, out, errOut)
	}
	notCAR := writeFile(t, "not.car", "hello, I am not a CAR")
	if out, errOut, code := c.run(d0, "add", "--format", "car", notCAR); code == 0 || !strings.Contains(out+errOut, "Code: 400") ||
		!strings.Contains(out+errOut, "invalid CAR") {
		t.Errorf("add --format car of a text file: exit %d: %s%s", code, out, errOut)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("file", "f.txt")
	w.Write([]byte("a part that never ends"))
	for _, q := range []struct {
		query, contentType string
		body               []byte
		msg                string
	}{
		{"", mw.FormDataContentType(), []byte("no boundary in sight"), "malformed upload"},
		{"", "application/json", []byte("{}"), "multipart/form-data"},
		{"shard=true", mw.FormDataContentType(), body.Bytes(), "sharding"},
		{"chunker=size-0", mw.FormDataContentType(), body.Bytes(), "chunker"},
		{"replication-min=4&replication-max=4", mw.FormDataContentType(), body.Bytes(), "not enough peers"},
	} {
		resp, err := http.Post("http://"+d1.Listen.API+"/add?"+q.query, q.contentType, bytes.NewReader(q.body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(msg), `"code":400`) || !strings.Contains(string(msg), q.msg) {
			t.Errorf("POST /add?%s (%s) = %d %s, want 400 with %q", q.query, q.contentType, resp.StatusCode, msg, q.msg)
		}
	}
	// An upload that breaks after its first entry was added: the error
	// comes in the trailer of the stream already started, as in IPFS
	// Cluster, and nothing is pinned.
	resp, err := http.Post("http://"+d2.Listen.API+"/add", mw.FormDataContentType(), bytes.NewReader(body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) // to EOF: the trailer is read
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Trailer.Get("X-Stream-Error"), "malformed upload") {
		t.Errorf("POST /add of a truncated upload = %d, trailer %q, want 200 and the error in X-Stream-Error", resp.StatusCode, resp.Trailer)
	}
	if n := len(c.json(d2, "pin", "ls")); n != pins {
		t.Errorf("pin ls after bad adds lists %d pins, want %d", n, pins)
	}
}

// waitAllocationsPinned waits until the pin of root has n allocations and
// each of them reports it pinned.
func waitAllocationsPinned(t *testing.T, c ctl, d *ft.Daemon, root string, n int) {
	t.Helper()
	waitFor(t, time.Minute, root+" pinned on its allocations", func() error {
		p := c.json(d, "pin", "ls", root)
		if len(p) != 1 {
			return fmt.Errorf("pin ls %s = %v", root, p)
		}
		allocs, _ := p[0]["allocations"].([]any)
		if len(allocs) != n {
			return fmt.Errorf("allocations %v, want %d", allocs, n)
		}
		st := c.json(d, "status", root)
		if len(st) != 1 {
			return fmt.Errorf("status %s = %v", root, st)
		}
		pm, _ := st[0]["peer_map"].(map[string]any)
		for _, a := range allocs {
			s, _ := pm[a.(string)].(map[string]any)
			if s["status"] != "pinned" {
				return fmt.Errorf("%s on %s: %v", root, a, s)
			}
		}
		return nil
	})
}

func hasName(out []map[string]any, name string) bool {
	for _, o := range out {
		if o["name"] == name {
			return true
		}
	}
	return false
}
