package registry

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	cid "github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/kubotest"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// fakeCluster keeps records and pins in memory; a pin counts as held as
// soon as it is made.
type fakeCluster struct {
	mu      sync.Mutex
	records map[string][]byte
	pins    map[cid.Cid]pin.Pin
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{records: map[string][]byte{}, pins: map[cid.Cid]pin.Pin{}}
}

func (f *fakeCluster) PutRecord(_ context.Context, k string, v []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[k] = bytes.Clone(v)
	return nil
}

func (f *fakeCluster) DeleteRecord(_ context.Context, k string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.records, k)
	return nil
}

func (f *fakeCluster) Record(_ context.Context, k string) ([]byte, bool, error) {
	return f.LocalRecord(k)
}

func (f *fakeCluster) LocalRecord(k string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.records[k]
	return v, ok, nil
}

func (f *fakeCluster) Records(_ context.Context, prefix, after string, fn func(string, []byte) error) error {
	f.mu.Lock()
	var keys []string
	for k := range f.records {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	f.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		v, ok, _ := f.LocalRecord(k)
		if !ok {
			continue
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeCluster) Pin(_ context.Context, p pin.Pin) (pin.Pin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p.Allocations = []string{"self"}
	f.pins[p.Cid] = p
	return p, nil
}

func (f *fakeCluster) Unpin(_ context.Context, c cid.Cid) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pins[c]; !ok {
		return pin.ErrNotFound
	}
	delete(f.pins, c)
	return nil
}

func (f *fakeCluster) PinnedOn(_ context.Context, c cid.Cid) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pins[c]; ok {
		return 1, nil
	}
	return 0, nil
}

func (f *fakeCluster) ID() string { return "self" }

// DialAPI reaches no other peer: the fake is a cluster of one.
func (f *fakeCluster) DialAPI(_ context.Context, id string) (net.Conn, error) {
	return nil, fmt.Errorf("no peer %s in a cluster of one", id)
}

func (f *fakeCluster) Allocate(context.Context, pin.Pin) ([]string, error) {
	return []string{"self"}, nil
}

func (f *fakeCluster) StreamBlocks(context.Context, []string) (*blockstream.Stream, error) {
	return nil, errors.New("a one-peer fake streams nowhere")
}

func (f *fakeCluster) pinNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, p := range f.pins {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

func (f *fakeCluster) recordCount(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.records {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

type fixture struct {
	t       *testing.T
	cluster *fakeCluster
	node    *ipfs.Node
	srv     *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{
		Blocks: dssync.MutexWrap(ds.NewMapDatastore()), Meta: dssync.MutexWrap(ds.NewMapDatastore()),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); n.Pins.Close() })
	fc := newFakeCluster()
	reg, err := New(DefaultConfig(), Deps{
		Cluster: fc, Node: n, LocalDAG: n.LocalDAG, DAG: n.DAG,
		UploadDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return &fixture{t: t, cluster: fc, node: n, srv: srv}
}

// do sends a request and returns the status, headers and body.
func (f *fixture) do(method, path string, body []byte, header ...string) (int, http.Header, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// pushBlob uploads b monolithically and returns its digest.
func (f *fixture) pushBlob(repo string, b []byte) digest {
	f.t.Helper()
	d := digestOf("sha256", b)
	if code, _, body := f.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+string(d), b); code != http.StatusCreated {
		f.t.Fatalf("push blob: %d %s", code, body)
	}
	return d
}

// image pushes a config and the given layers and returns the manifest.
func (f *fixture) image(repo string, layers ...[]byte) []byte {
	f.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	doc := map[string]any{
		"schemaVersion": 2, "mediaType": mediaOCIManifest,
		"config": descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: string(f.pushBlob(repo, cfg)), Size: int64(len(cfg))},
	}
	var ls []descriptor
	for _, l := range layers {
		ls = append(ls, descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: string(f.pushBlob(repo, l)), Size: int64(len(l))})
	}
	doc["layers"] = ls
	raw, _ := json.Marshal(doc)
	return raw
}

// errCode is the first error code of a registry error body.
func errCode(body []byte) string {
	var e wireErrors
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// TestBlobCIDIsKubos checks that a pushed blob is IPFS content with the
// CID `ipfs add` gives the same bytes.
func TestBlobCIDIsKubos(t *testing.T) {
	f := newFixture(t)
	data := make([]byte, 1<<20+12345) // several chunks and a partial one
	rand.Read(data)
	d := f.pushBlob("kubo/parity", data)
	code, h, _ := f.do("HEAD", "/v2/kubo/parity/blobs/"+string(d), nil)
	if code != 200 || h.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Fatalf("HEAD: %d %v", code, h)
	}
	k := kubotest.New(t)
	path := t.TempDir() + "/layer"
	if err := writeFile(path, data); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(k.Run("add", "-Q", "--only-hash", path))
	if got := h.Get("X-Ipfs-Cid"); got != want {
		t.Fatalf("blob CID = %s, want kubo's %s", got, want)
	}
	// Ranged reads come from the UnixFS file.
	code, h, body := f.do("GET", "/v2/kubo/parity/blobs/"+string(d), nil, "Range", "bytes=300000-300099")
	if code != http.StatusPartialContent || !bytes.Equal(body, data[300000:300100]) || h.Get("Content-Range") != fmt.Sprintf("bytes 300000-300099/%d", len(data)) {
		t.Fatalf("range: %d %v, %d bytes", code, h, len(body))
	}
}

// TestBadInputStoresNothing sends what a registry must refuse, and checks
// the spec's error codes and that nothing was kept.
func TestBadInputStoresNothing(t *testing.T) {
	f := newFixture(t)
	blob := []byte("a layer")
	wrong := digestOf("sha256", []byte("another layer"))
	cfg := f.image("bad/input")
	tooBig := bytes.Repeat([]byte(" "), maxManifestSize+1)
	for _, tc := range []struct {
		name         string
		method, path string
		body         []byte
		header       []string
		status       int
		code         string
	}{
		{"wrong digest, monolithic", "POST", "/v2/bad/input/blobs/uploads/?digest=" + string(wrong), blob, nil, 400, codeDigestInvalid},
		{"malformed digest", "POST", "/v2/bad/input/blobs/uploads/?digest=sha256:xyz", blob, nil, 400, codeDigestInvalid},
		{"unknown algorithm", "POST", "/v2/bad/input/blobs/uploads/?digest=md5:" + strings.Repeat("0", 32), blob, nil, 400, codeDigestInvalid},
		{"bad repository name", "GET", "/v2/Bad..Name/tags/list", nil, nil, 400, codeNameInvalid},
		{"oversized manifest", "PUT", "/v2/bad/input/manifests/big", tooBig, nil, 413, codeManifestInvalid},
		{"unknown media type", "PUT", "/v2/bad/input/manifests/odd", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}`), nil, 400, codeManifestInvalid},
		{"media type disagrees", "PUT", "/v2/bad/input/manifests/odd", cfg, []string{"Content-Type", mediaOCIIndex}, 400, codeManifestInvalid},
		{"not JSON", "PUT", "/v2/bad/input/manifests/odd", []byte("{"), nil, 400, codeManifestInvalid},
		{"schema 1", "PUT", "/v2/bad/input/manifests/odd", []byte(`{"schemaVersion":1}`), nil, 400, codeManifestInvalid},
		{"manifest digest mismatch", "PUT", "/v2/bad/input/manifests/" + string(wrong), cfg, nil, 400, codeDigestInvalid},
		{"unknown layer", "PUT", "/v2/bad/input/manifests/odd", []byte(`{"schemaVersion":2,"config":{"mediaType":"x/y","digest":"` + string(wrong) + `","size":1},"layers":[]}`), nil, 400, codeManifestBlobUnknown},
		{"unknown upload", "PATCH", "/v2/bad/input/blobs/uploads/nope", blob, nil, 404, codeBlobUploadUnknown},
		{"unknown blob", "GET", "/v2/bad/input/blobs/" + string(wrong), nil, nil, 404, codeBlobUnknown},
		{"unknown manifest", "GET", "/v2/bad/input/manifests/" + string(wrong), nil, nil, 404, codeManifestUnknown},
		{"method", "POST", "/v2/bad/input/manifests/x", nil, nil, 405, codeUnsupported},
	} {
		code, _, body := f.do(tc.method, tc.path, tc.body, tc.header...)
		if code != tc.status || errCode(body) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, code, body, tc.status, tc.code)
		}
	}
	if n := f.cluster.recordCount(recordPrefix + "manifest/"); n != 0 {
		t.Errorf("%d manifests recorded after refused pushes", n)
	}
	if n := f.cluster.recordCount(recordPrefix + "tag/"); n != 0 {
		t.Errorf("%d tags recorded after refused pushes", n)
	}
	if len(f.cluster.pinNames()) != 0 {
		t.Errorf("pins after refused pushes: %v", f.cluster.pinNames())
	}
	if code, _, _ := f.do("HEAD", "/v2/bad/input/blobs/"+string(wrong), nil); code != 404 {
		t.Errorf("a blob with the wrong digest was stored: HEAD %d", code)
	}

	// A chunked upload with a wrong digest, and one cut short.
	code, h, _ := f.do("POST", "/v2/bad/input/blobs/uploads/", nil)
	if code != 202 {
		t.Fatalf("start upload: %d", code)
	}
	loc := h.Get("Location")
	if code, _, body := f.do("PATCH", loc, blob[:3], "Content-Range", "0-2"); code != 202 {
		t.Fatalf("patch: %d %s", code, body)
	}
	if code, _, body := f.do("PATCH", loc, blob[5:], "Content-Range", "5-6"); code != 416 || errCode(body) != codeBlobUploadInvalid {
		t.Errorf("out-of-order chunk: %d %s, want 416", code, body)
	}
	if code, _, body := f.do("PUT", loc+"?digest="+string(digestOf("sha256", blob)), blob[3:], "Content-Range", "3-6"); code != 201 {
		t.Errorf("finishing with the last chunk: %d %s", code, body)
	}
	_, h, _ = f.do("POST", "/v2/bad/input/blobs/uploads/", nil)
	loc = h.Get("Location")
	f.do("PATCH", loc, []byte("abc"))
	if code, _, body := f.do("PUT", loc+"?digest="+string(wrong), nil); code != 400 || errCode(body) != codeDigestInvalid {
		t.Errorf("chunked, wrong digest: %d %s", code, body)
	}
	if code, _, _ := f.do("GET", loc, nil); code != 404 {
		t.Errorf("upload with a wrong digest still open: %d", code)
	}
	// A monolithic upload whose body ends before its Content-Length.
	truncated := truncatedPost(t, f.srv.URL, "/v2/bad/input/blobs/uploads/?digest="+string(digestOf("sha256", bytes.Repeat([]byte("x"), 1000))), bytes.Repeat([]byte("x"), 10), 1000)
	if !strings.HasPrefix(truncated, "400 ") || !strings.Contains(truncated, codeSizeInvalid) {
		t.Errorf("truncated upload: %q", truncated)
	}
	if code, _, _ := f.do("HEAD", "/v2/bad/input/blobs/"+string(digestOf("sha256", bytes.Repeat([]byte("x"), 1000))), nil); code != 404 {
		t.Errorf("a truncated upload was stored: HEAD %d", code)
	}
}

// truncatedPost sends a body shorter than its Content-Length, closes its
// side, and returns the answer's head.
func truncatedPost(t *testing.T, base, path string, body []byte, length int) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, length)
	conn.Write(body)
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b)
}

// TestImagePinsShareLayers pushes two images sharing a layer, tags and
// deletes them, and follows the pins: each image is one pin named after
// its tag; a deleted image's pin goes, the other keeps the shared layer.
func TestImagePinsShareLayers(t *testing.T) {
	f := newFixture(t)
	shared, own1, own2 := []byte("shared base layer"), []byte("layer of app1"), []byte("layer of app2")
	m1, m2 := f.image("apps/one", shared, own1), f.image("apps/one", shared, own2)
	for tag, m := range map[string][]byte{"v1": m1, "v2": m2} {
		if code, _, body := f.do("PUT", "/v2/apps/one/manifests/"+tag, m, "Content-Type", mediaOCIManifest); code != 201 {
			t.Fatalf("push %s: %d %s", tag, code, body)
		}
	}
	if got := f.cluster.pinNames(); !slices.Equal(got, []string{"apps/one:v1", "apps/one:v2"}) {
		t.Fatalf("pins %v", got)
	}
	// A second tag on v1's manifest shares its pin.
	f.do("PUT", "/v2/apps/one/manifests/stable", m1, "Content-Type", mediaOCIManifest)
	if got := f.cluster.pinNames(); len(got) != 2 {
		t.Fatalf("pins after a second tag: %v", got)
	}
	code, _, body := f.do("GET", "/v2/apps/one/tags/list?n=2", nil)
	if code != 200 || string(body) != `{"name":"apps/one","tags":["stable","v1"]}` {
		t.Fatalf("tags page: %d %s", code, body)
	}
	// Deleting v1 keeps the manifest (stable still names it) ...
	if code, _, _ := f.do("DELETE", "/v2/apps/one/manifests/v1", nil); code != 202 {
		t.Fatalf("delete v1: %d", code)
	}
	if got := f.cluster.pinNames(); !slices.Equal(got, []string{"apps/one:stable", "apps/one:v2"}) {
		t.Fatalf("pins after deleting v1: %v", got)
	}
	// ... deleting stable, its last tag, removes it and unpins it.
	f.do("DELETE", "/v2/apps/one/manifests/stable", nil)
	if got := f.cluster.pinNames(); !slices.Equal(got, []string{"apps/one:v2"}) {
		t.Fatalf("pins after deleting stable: %v", got)
	}
	if code, _, _ := f.do("GET", "/v2/apps/one/manifests/"+string(digestOf("sha256", m1)), nil); code != 404 {
		t.Fatalf("manifest of a deleted image: %d", code)
	}
	// The remaining image's pin holds the shared layer.
	var rec manifestRecord
	raw, _, _ := f.cluster.LocalRecord(manifestKey("apps/one", digestOf("sha256", m2)))
	json.Unmarshal(raw, &rec)
	if !slices.Contains(rec.Parts, string(digestOf("sha256", shared))) {
		t.Fatalf("v2's parts %v lack the shared layer", rec.Parts)
	}
	root, _ := cid.Decode(rec.Root)
	links, err := f.node.LocalDAG.Get(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links.Links() {
		names = append(names, l.Name)
	}
	if !slices.Contains(names, string(digestOf("sha256", shared))) || !slices.Contains(names, "manifest") || !slices.Contains(names, "repository") {
		t.Fatalf("image directory links %v", names)
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }

// TestScopeAndChallenge checks the guard's rule for the registry port and
// the shape of its refusals: pulls need read (nothing with PublicPull),
// pushes and deletions pin; a 401 offers Basic only, which docker answers
// with the credentials of docker login.
func TestScopeAndChallenge(t *testing.T) {
	for _, tc := range []struct {
		public bool
		method string
		want   auth.Scope
	}{
		{false, "GET", auth.ScopeRead}, {false, "HEAD", auth.ScopeRead}, {false, "PUT", auth.ScopePin},
		{false, "POST", auth.ScopePin}, {false, "PATCH", auth.ScopePin}, {false, "DELETE", auth.ScopePin},
		{true, "GET", auth.ScopeNone}, {true, "HEAD", auth.ScopeNone}, {true, "PUT", auth.ScopePin}, {true, "DELETE", auth.ScopePin},
	} {
		r := httptest.NewRequest(tc.method, "/v2/a/manifests/b", nil)
		if got := (Config{PublicPull: tc.public}).Scope(r); got != tc.want {
			t.Errorf("Scope(%s, public %v) = %v, want %v", tc.method, tc.public, got, tc.want)
		}
	}
	w := httptest.NewRecorder()
	w.Header().Add("WWW-Authenticate", `Bearer realm="flotilla"`) // what the guard offers the other ports
	WriteError(w, http.StatusUnauthorized, "no credentials")
	if got := w.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != Challenge || errCode(w.Body.Bytes()) != codeUnauthorized {
		t.Fatalf("401: %v %s", got, w.Body)
	}
	w = httptest.NewRecorder()
	WriteError(w, http.StatusForbidden, "needs pin")
	if w.Code != 403 || errCode(w.Body.Bytes()) != codeDenied {
		t.Fatalf("403: %d %s", w.Code, w.Body)
	}
}
