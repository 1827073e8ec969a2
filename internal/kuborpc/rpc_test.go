package kuborpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{
		Blocks: dssync.MutexWrap(ds.NewMapDatastore()), Meta: dssync.MutexWrap(ds.NewMapDatastore()),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); n.Pins.Close() })
	srv := httptest.NewServer(kuborpc.NewHandler(kuborpc.Deps{Node: n, Logger: slog.New(slog.DiscardHandler), Config: func() any { return nil }}))
	t.Cleanup(srv.Close)
	return srv
}

// call posts one command with an optional one-file multipart body.
func call(t *testing.T, srv *httptest.Server, cmd string, q url.Values, file []byte) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	ctype := ""
	if file != nil {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		w, _ := mw.CreateFormFile("file", "")
		w.Write(file)
		mw.Close()
		body, ctype = &buf, mw.FormDataContentType()
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v0/"+cmd+"?"+q.Encode(), body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func TestWireOfNewCommands(t *testing.T) {
	srv := newServer(t)
	args := func(kv ...string) url.Values {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Add(kv[i], kv[i+1])
		}
		return q
	}

	// dag/put → dag/get → dag/stat.
	resp, out := call(t, srv, "dag/put", nil, []byte(`{"a":[1,{"b":true}]}`))
	if resp.StatusCode != 200 || resp.Header.Get("X-Chunked-Output") != "1" {
		t.Fatalf("dag/put = %d %v %q", resp.StatusCode, resp.Header, out)
	}
	var put kuborpc.DagPutOutput
	json.Unmarshal([]byte(out), &put)
	if !strings.HasPrefix(put.Cid.Cid, "bafyrei") {
		t.Fatalf("dag/put answered %q", out)
	}
	if resp, out := call(t, srv, "dag/get", args("arg", put.Cid.Cid+"/a/1"), nil); resp.StatusCode != 200 || out != `{"b":true}` || resp.Header.Get("X-Stream-Output") != "1" {
		t.Fatalf("dag/get = %d %q", resp.StatusCode, out)
	}
	_, out = call(t, srv, "dag/stat", args("arg", put.Cid.Cid, "progress", "false"), nil)
	var st kuborpc.DagStatSummary
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.UniqueBlocks != 1 || st.Ratio != 1 || len(st.DagStats) != 1 {
		t.Fatalf("dag/stat = %q (%v)", out, err)
	}

	// refs of a leaf: an NDJSON stream with no value (Kubo prints nothing).
	if resp, out := call(t, srv, "refs", args("arg", put.Cid.Cid), nil); resp.StatusCode != 200 || out != "" || resp.Header.Get("X-Chunked-Output") != "1" {
		t.Fatalf("refs of a leaf = %d %q", resp.StatusCode, out)
	}
	// refs/local lists the block as CIDv1 raw.
	if _, out := call(t, srv, "refs/local", nil, nil); !strings.Contains(out, `"Ref":"bafkrei`) {
		t.Fatalf("refs/local = %q", out)
	}
	// resolve keeps the multibase of the path's CID.
	if _, out := call(t, srv, "resolve", args("arg", "/ipfs/"+put.Cid.Cid), nil); out != `{"Path":"/ipfs/`+put.Cid.Cid+`"}`+"\n" {
		t.Fatalf("resolve = %q", out)
	}

	// routing/put of garbage is a client error; routing/get of a name
	// without a record is 404; routing/get of a stored record returns it.
	const name = "k51qzi5uqu5dlxdsdu5fpuu7h69wu4ohp32iwm9pdt9nq3y5rpn3ln9j12zfhe"
	if resp, out := call(t, srv, "routing/put", args("arg", "/ipns/"+name, "allow-offline", "true"), []byte("garbage")); resp.StatusCode != 400 || !strings.Contains(out, `"Code":1`) {
		t.Fatalf("routing/put of garbage = %d %q", resp.StatusCode, out)
	}
	if resp, _ := call(t, srv, "routing/put", args("arg", "/pk/"+name, "allow-offline", "true"), []byte("x")); resp.StatusCode != 400 {
		t.Fatalf("routing/put of a non-IPNS key = %d", resp.StatusCode)
	}
	if resp, _ := call(t, srv, "routing/get", args("arg", "/ipns/"+name), nil); resp.StatusCode != 404 {
		t.Fatalf("routing/get without a record = %d", resp.StatusCode)
	}

	// An offline node: the swarm commands say so with 503, the DHT ones too.
	for cmd, arg := range map[string]string{
		"swarm/addrs": "", "swarm/addrs/local": "", "swarm/disconnect": "/p2p/12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d",
		"routing/findprovs": put.Cid.Cid, "routing/provide": put.Cid.Cid,
	} {
		resp, out := call(t, srv, cmd, args("arg", arg), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(out, "offline") {
			t.Errorf("%s offline = %d %q, want 503", cmd, resp.StatusCode, out)
		}
	}
	// version speaks Kubo's API version, which Kubo's CLI parses as semver.
	var v kuborpc.VersionOutput
	_, out = call(t, srv, "version", nil, nil)
	if json.Unmarshal([]byte(out), &v); v.Version != kuborpc.KuboAPIVersion {
		t.Fatalf("version = %q", out)
	}
	// Outside the subset: 501 with a JSON error, never a hang.
	if resp, out := call(t, srv, "files/ls", nil, nil); resp.StatusCode != 501 || !strings.Contains(out, `"Type":"error"`) {
		t.Fatalf("files/ls = %d %q", resp.StatusCode, out)
	}
}
