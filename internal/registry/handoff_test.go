package registry_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/flotilla-ipfs/flotilla/internal/registry"
)

// call sends one request to a peer's registry and returns the answer with
// its body read.
func call(t *testing.T, tp *testPeer, method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+tp.host+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, tp.host, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func want(t *testing.T, what string, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", what, resp.StatusCode, status, body)
	}
	if got := resp.Header.Values("Docker-Distribution-API-Version"); len(got) != 1 {
		t.Fatalf("%s: Docker-Distribution-API-Version %q, want it once", what, got)
	}
}

func errorCode(body []byte) string {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// TestUploadThroughAnyPeer sends each request of one upload to another
// peer, as a round-robin load balancer would: a chunked upload (POST,
// PATCH, PATCH, GET, PUT with the last chunk) and a streamed one (POST,
// PATCH without Content-Range, PUT) both complete, and their blobs are
// read back whole through every peer. An upload whose peer stopped
// answers BLOB_UPLOAD_UNKNOWN through the others, for the client to start
// again, and so does an ID naming no member.
func TestUploadThroughAnyPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-peer cluster")
	}
	peers := startPeers(t, 3, registry.Config{})
	const repo = "handoff/app"

	chunked := make([]byte, 3<<20+12345)
	rand.Read(chunked)
	start := func(tp *testPeer) string {
		t.Helper()
		resp, body := call(t, tp, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
		want(t, "POST on "+tp.peer.ID(), resp, body, http.StatusAccepted)
		loc := resp.Header.Get("Location")
		id := loc[strings.LastIndexByte(loc, '/')+1:]
		if !strings.HasPrefix(id, tp.peer.ID()+"-") {
			t.Fatalf("upload ID %q does not name the peer that started it, %s", id, tp.peer.ID())
		}
		return loc
	}
	loc := start(peers[0])
	a, b := 1<<20, 2<<20 // chunk boundaries
	resp, body := call(t, peers[1], http.MethodPatch, loc, bytes.NewReader(chunked[:a]),
		"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("0-%d", a-1))
	want(t, "first chunk through peer 1", resp, body, http.StatusAccepted)
	resp, body = call(t, peers[2], http.MethodPatch, loc, bytes.NewReader(chunked[a:b]),
		"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("%d-%d", a, b-1))
	want(t, "second chunk through peer 2", resp, body, http.StatusAccepted)
	resp, body = call(t, peers[1], http.MethodGet, loc, nil)
	want(t, "status through peer 1", resp, body, http.StatusNoContent)
	if got, w := resp.Header.Get("Range"), fmt.Sprintf("0-%d", b-1); got != w {
		t.Fatalf("status through peer 1: Range %q, want %q", got, w)
	}
	// A chunk that does not follow on is refused by the owner, through
	// another peer, with the owner's state.
	resp, body = call(t, peers[2], http.MethodPatch, loc, bytes.NewReader(chunked[:10]),
		"Content-Type", "application/octet-stream", "Content-Range", "0-9")
	want(t, "overlapping chunk through peer 2", resp, body, http.StatusRequestedRangeNotSatisfiable)
	sum := sha256.Sum256(chunked)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	resp, body = call(t, peers[2], http.MethodPut, loc+"?digest="+digest, bytes.NewReader(chunked[b:]),
		"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("%d-%d", b, len(chunked)-1))
	want(t, "last chunk and digest through peer 2", resp, body, http.StatusCreated)
	if got := resp.Header.Get("Docker-Content-Digest"); got != digest {
		t.Fatalf("PUT answered digest %q, want %q", got, digest)
	}
	// The session is gone from its peer, whichever peer is asked.
	resp, body = call(t, peers[1], http.MethodGet, loc, nil)
	want(t, "finished upload through peer 1", resp, body, http.StatusNotFound)

	// Streamed, as docker pushes a layer: one PATCH of unknown length.
	streamed := make([]byte, 2<<20+777)
	rand.Read(streamed)
	loc2 := start(peers[1])
	resp, body = call(t, peers[2], http.MethodPatch, loc2, io.MultiReader(bytes.NewReader(streamed)), // no length: chunked encoding
		"Content-Type", "application/octet-stream")
	want(t, "streamed PATCH through peer 2", resp, body, http.StatusAccepted)
	sum2 := sha256.Sum256(streamed)
	digest2 := "sha256:" + hex.EncodeToString(sum2[:])
	resp, body = call(t, peers[0], http.MethodPut, loc2+"?digest="+digest2, nil)
	want(t, "PUT of the streamed upload through peer 0", resp, body, http.StatusCreated)

	for i, tp := range peers {
		for _, blob := range []struct {
			digest string
			data   []byte
		}{{digest, chunked}, {digest2, streamed}} {
			resp, body := call(t, tp, http.MethodGet, "/v2/"+repo+"/blobs/"+blob.digest, nil)
			want(t, fmt.Sprintf("blob %s through peer %d", blob.digest, i), resp, body, http.StatusOK)
			if !bytes.Equal(body, blob.data) {
				t.Fatalf("blob %s through peer %d: %d bytes differ from the %d uploaded", blob.digest, i, len(body), len(blob.data))
			}
		}
	}

	// An ID naming no member of the cluster.
	resp, body = call(t, peers[0], http.MethodPatch, "/v2/"+repo+"/blobs/uploads/12D3KooWNotAMember-0123", bytes.NewReader([]byte("x")))
	want(t, "upload of no member", resp, body, http.StatusNotFound)
	if code := errorCode(body); code != "BLOB_UPLOAD_UNKNOWN" {
		t.Fatalf("upload of no member: code %q, want BLOB_UPLOAD_UNKNOWN: %s", code, body)
	}

	// The upload's peer stops: its session is lost, and the others say so.
	loc3 := start(peers[2])
	peers[2].stop()
	resp, body = call(t, peers[0], http.MethodPatch, loc3, bytes.NewReader(streamed[:100]), "Content-Type", "application/octet-stream")
	want(t, "upload of a stopped peer", resp, body, http.StatusNotFound)
	if code := errorCode(body); code != "BLOB_UPLOAD_UNKNOWN" {
		t.Fatalf("upload of a stopped peer: code %q, want BLOB_UPLOAD_UNKNOWN: %s", code, body)
	}
}

// TestPushThroughRoundRobin pushes an image with go-containerregistry
// through a round-robin balancer over three peers, with no stickiness:
// consecutive requests (an upload's POST, PATCH and PUT among them) reach
// different peers. The image pulls back whole through the balancer.
func TestPushThroughRoundRobin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-peer cluster")
	}
	peers := startPeers(t, 3, registry.Config{ReplicationMin: 2, ReplicationMax: 2})
	var next, handedOver atomic.Int64
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		tp := peers[next.Add(1)%int64(len(peers))]
		if strings.Contains(pr.In.URL.Path, "/blobs/uploads/") && pr.In.Method != http.MethodPost &&
			!strings.Contains(pr.In.URL.Path, "/uploads/"+tp.peer.ID()+"-") {
			handedOver.Add(1)
		}
		pr.SetURL(&url.URL{Scheme: "http", Host: tp.host})
	}})
	defer lb.Close()

	img, err := random.Image(512<<10, 6)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(lb.URL, "http://")+"/rr/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push through the round-robin balancer: %v", err)
	}
	if handedOver.Load() == 0 {
		t.Fatal("no upload request reached a peer other than its own: the test proves nothing")
	}
	t.Logf("%d upload requests reached another peer than the upload's", handedOver.Load())
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull through the balancer: %v", err)
	}
	if a, b := mustDigest(t, img), mustDigest(t, got); a != b {
		t.Fatalf("pulled digest %s, pushed %s", b, a)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("pulled image: %v", err)
	}
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
