package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/files"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// ctlAddQuery is what ipfs-cluster-ctl 1.1.6 sends for a plain `add`
// (AddParams.ToQueryString of DefaultAddParams).
const ctlAddQuery = "chunker=size-262144&cid-version=0&format=unixfs&hash=sha2-256&hidden=false&layout=&local=false" +
	"&mode=recursive&name=&no-pin=false&nocopy=false&progress=false&raw-leaves=false&recursive=false" +
	"&replication-max=0&replication-min=0&shard=false&shard-size=104857600&stream-channels=true" +
	"&user-allocations=&wrap-with-directory=false"

func resolve(t *testing.T, p importer.Params) importer.Settings {
	t.Helper()
	s, err := p.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRestParseAddOptions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ptr := func(v int) *int { return &v }
	yes, no := true, false
	kubo := resolve(t, importer.Params{}) // Kubo's defaults: CIDv0, 256 KiB, balanced
	v1 := resolve(t, importer.Params{CidVersion: ptr(1)})
	tests := []struct {
		query string
		want  addParams // stream is true unless stream-channels=false
		err   string
	}{
		{query: "", want: addParams{AddRequest: AddRequest{Pin: pin.Pin{Mode: pin.Recursive}, Import: kubo}}},
		{query: ctlAddQuery, want: addParams{AddRequest: AddRequest{Pin: pin.Pin{Mode: pin.Recursive}, Import: kubo}}},
		// ctl with --cid-version 1 also sends raw-leaves=true; without it,
		// CIDv1 implies raw leaves, as in Kubo and IPFS Cluster.
		{query: "cid-version=1&raw-leaves=true", want: addParams{AddRequest: AddRequest{Pin: pin.Pin{Mode: pin.Recursive}, Import: v1}}},
		{query: "cid-version=1", want: addParams{AddRequest: AddRequest{Pin: pin.Pin{Mode: pin.Recursive}, Import: v1}}},
		{query: "cid-version=1&raw-leaves=false", want: addParams{AddRequest: AddRequest{Pin: pin.Pin{Mode: pin.Recursive},
			Import: resolve(t, importer.Params{CidVersion: ptr(1), RawLeaves: &no})}}},
		{query: "layout=trickle&chunker=size-1024&hash=blake2b-256&wrap-with-directory=true", want: addParams{AddRequest: AddRequest{
			Pin: pin.Pin{Mode: pin.Recursive}, Import: resolve(t, importer.Params{Trickle: &yes, Chunker: "size-1024", Hash: "blake2b-256", Wrap: true})}}},
		{query: "trickle=true&layout=trickle", want: addParams{AddRequest: AddRequest{Pin: pin.Pin{Mode: pin.Recursive},
			Import: resolve(t, importer.Params{Trickle: &yes})}}},
		{query: "format=car&local=true&no-pin=true&progress=true&stream-channels=false&recursive=true&hidden=true",
			want: addParams{AddRequest: AddRequest{Pin: pin.Pin{Mode: pin.Recursive}, Import: kubo, CAR: true, Local: true, NoPin: true}, progress: true}},
		{query: "name=n&replication-min=1&replication-max=2&meta-k=v&user-allocations=" + testPeer + "&expire-in=1h&pin-update=" + testCid,
			want: addParams{AddRequest: AddRequest{Pin: pin.Pin{Name: "n", Mode: pin.Recursive, ReplicationMin: 1, ReplicationMax: 2,
				Metadata: map[string]string{"k": "v"}, UserAllocations: []string{testPeer}, ExpireAt: now.Add(time.Hour)}, Import: kubo}}},

		{query: "shard=true", err: "sharding"},
		{query: "nocopy=true", err: "filestore"},
		{query: "mode=direct", err: "pinned recursively"},
		{query: "format=car&wrap-with-directory=true", err: "cannot wrap a CAR"},
		{query: "format=tar", err: `format parameter "tar"`},
		{query: "layout=zigzag", err: `layout parameter "zigzag"`},
		{query: "layout=balanced&trickle=true", err: "contradicts"},
		{query: "local=maybe", err: `parameter local "maybe" is invalid`},
		{query: "stream-channels=2", err: "stream-channels"},
		{query: "raw-leaves=yes", err: "raw-leaves"},
		{query: "cid-version=one", err: "cid-version"},
		{query: "cid-version=7", err: "unknown CID version"},
		{query: "cid-version=0&hash=blake2b-256", err: "CIDv0 only supports sha2-256"},
		{query: "chunker=size-0", err: "chunker"},
		{query: "hash=md5000", err: "unrecognized hash"},
		{query: "replication-min=3&replication-max=2", err: "want 1 <= min <= max"},
		{query: "expire-at=2001-01-01T00:00:00Z", err: "is in the past"},
		{query: "user-allocations=bob", err: "bad peer ID"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseAddOptions(q, now)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseAddOptions(%q) error = %v, want one containing %q", tt.query, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseAddOptions(%q) error = %v", tt.query, err)
			continue
		}
		if q.Get("stream-channels") != "false" {
			tt.want.stream = true
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseAddOptions(%q) = %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

// fakeAdder reads the whole upload, as an importer would, and reports
// each file with a made-up CID (the raw block of its bytes), after a
// progress report; fail, if set, is returned once the upload is read.
type fakeAdder struct {
	mu    sync.Mutex
	calls int
	got   map[string]string // path -> content, of the last call
	req   AddRequest
	fail  error
}

func (f *fakeAdder) Add(ctx context.Context, upload files.Directory, req AddRequest, emit func(Added) error) error {
	f.mu.Lock()
	f.calls++
	f.req = req
	f.got = map[string]string{}
	f.mu.Unlock()
	err := files.Walk(upload, func(path string, nd files.Node) error {
		file, ok := nd.(files.File)
		if !ok {
			return nil
		}
		data, err := io.ReadAll(file)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.got[path] = string(data)
		f.mu.Unlock()
		if err := emit(Added{Name: path, Bytes: uint64(len(data))}); err != nil {
			return err
		}
		return emit(Added{Name: path, Cid: blocks.NewBlock(data).Cid(), Size: uint64(len(data)), Allocations: []string{testPeer}})
	})
	if err != nil {
		return err
	}
	return f.fail
}

func newAddAPI(t *testing.T, fa *fakeAdder) *httptest.Server {
	t.Helper()
	d := Deps{Cluster: &fakeCluster{pins: map[cid.Cid]pin.Pin{}}, Version: "v-test", Logger: slog.New(slog.DiscardHandler)}
	if fa != nil {
		d.Adder = fa
	}
	srv := httptest.NewServer(NewHandler(DefaultConfig(), d))
	t.Cleanup(srv.Close)
	return srv
}

// multipartBody encodes files (path -> content; a path ending in "/" is a
// directory) as Kubo's and IPFS Cluster's clients do.
func multipartBody(t testing.TB, entries ...[2]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, e := range entries {
		h := map[string][]string{"Content-Type": {"application/octet-stream"}}
		name := e[0]
		if strings.HasSuffix(name, "/") {
			h["Content-Type"] = []string{"application/x-directory"}
			name = strings.TrimSuffix(name, "/")
		}
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, url.QueryEscape(name))}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e[1]))
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func postAdd(t *testing.T, srv *httptest.Server, query, contentType string, body []byte) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/add?"+query, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body) // to EOF: the trailers are read
	return resp, string(out)
}

func TestRestAddOutputs(t *testing.T) {
	fa := &fakeAdder{}
	srv := newAddAPI(t, fa)
	ct, body := multipartBody(t, [2]string{"dir/", ""}, [2]string{"dir/a.txt", "alpha"}, [2]string{"dir/sub/", ""}, [2]string{"dir/sub/b", "bravo!"})
	aCid, bCid := blocks.NewBlock([]byte("alpha")).Cid().String(), blocks.NewBlock([]byte("bravo!")).Cid().String()
	entryA := `{"name":"dir/a.txt","cid":"` + aCid + `","size":5,"allocations":["` + testPeer + `"]}`
	entryB := `{"name":"dir/sub/b","cid":"` + bCid + `","size":6,"allocations":["` + testPeer + `"]}`

	// NDJSON, one line per entry as it is added, an empty trailer; the
	// progress reports only when asked for, with a null CID.
	q, _ := url.ParseQuery(ctlAddQuery)
	q.Set("name", "site")
	q.Set("replication-min", "1")
	q.Set("replication-max", "1")
	resp, out := postAdd(t, srv, q.Encode(), ct, body)
	if want := entryA + "\n" + entryB + "\n"; resp.StatusCode != 200 || out != want {
		t.Errorf("POST /add = %d %q, want 200 %q", resp.StatusCode, out, want)
	}
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Chunked-Output") != "1" {
		t.Errorf("POST /add headers = %v", resp.Header)
	}
	if v, ok := resp.Trailer["X-Stream-Error"]; !ok || v[0] != "" {
		t.Errorf("POST /add trailer = %q, want an empty X-Stream-Error", resp.Trailer)
	}
	if want := map[string]string{"dir/a.txt": "alpha", "dir/sub/b": "bravo!"}; !reflect.DeepEqual(fa.got, want) {
		t.Errorf("the adder read %v, want %v", fa.got, want)
	}
	if fa.req.Pin.Name != "site" || fa.req.Pin.ReplicationMin != 1 || fa.req.Pin.Cid.Defined() {
		t.Errorf("the adder was asked for %+v", fa.req.Pin)
	}

	_, out = postAdd(t, srv, "progress=true", ct, body)
	if want := `{"name":"dir/a.txt","cid":null,"bytes":5}` + "\n" + entryA + "\n"; !strings.HasPrefix(out, want) {
		t.Errorf("POST /add?progress=true = %q, want it to start with %q", out, want)
	}

	// stream-channels=false: one JSON array at the end.
	resp, out = postAdd(t, srv, "stream-channels=false", ct, body)
	if want := "[" + entryA + "," + entryB + "]\n"; resp.StatusCode != 200 || out != want {
		t.Errorf("POST /add?stream-channels=false = %d %q, want 200 %q", resp.StatusCode, out, want)
	}

	// A failure after the first output goes in the trailer; before any,
	// it is the status.
	fa.fail = errors.New("the pin failed")
	resp, out = postAdd(t, srv, "", ct, body)
	if resp.StatusCode != 200 || resp.Trailer.Get("X-Stream-Error") != "the pin failed" || !strings.Contains(out, aCid) {
		t.Errorf("POST /add failing late = %d %q, trailer %q", resp.StatusCode, out, resp.Trailer)
	}
	resp, out = postAdd(t, srv, "stream-channels=false", ct, body)
	if resp.StatusCode != 500 || !strings.Contains(out, `"code":500`) || !strings.Contains(out, "the pin failed") {
		t.Errorf("POST /add?stream-channels=false failing = %d %q", resp.StatusCode, out)
	}
}

func TestRestAddBadInput(t *testing.T) {
	fa := &fakeAdder{}
	srv := newAddAPI(t, fa)
	ct, body := multipartBody(t, [2]string{"f", "content"})
	tests := []struct {
		name, query, contentType string
		body                     []byte
		code                     int
		msg                      string
	}{
		{"bad option", "shard=true", ct, body, 400, "sharding"},
		{"bad import option", "chunker=size-x", ct, body, 400, "chunker"},
		{"not multipart", "", "application/octet-stream", body, 400, "multipart/form-data"},
		{"no boundary", "", "multipart/form-data", body, 400, "multipart/form-data"},
		{"truncated", "", ct, body[:len(body)-20], 400, "malformed upload"},
		{"garbage", "", ct, []byte("this is not multipart"), 400, "malformed upload"},
		{"no file", "", ct, []byte("--" + strings.TrimPrefix(ct, "multipart/form-data; boundary=") + "--\r\n"), 400, "no file"},
	}
	for _, tt := range tests {
		resp, out := postAdd(t, srv, tt.query, tt.contentType, tt.body)
		var e wireError
		if err := json.Unmarshal([]byte(out), &e); err != nil || resp.StatusCode != tt.code || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("%s: POST /add = %d %q, want %d with %q", tt.name, resp.StatusCode, out, tt.code, tt.msg)
		}
	}
	if fa.calls != 3 { // the three uploads that got past the options and headers
		t.Errorf("the adder was called %d times, want 3", fa.calls)
	}

	// Without an Adder, 501.
	resp, out := postAdd(t, newAddAPI(t, nil), "", ct, body)
	if resp.StatusCode != 501 || !strings.Contains(out, "not implemented") {
		t.Errorf("POST /add without an adder = %d %q", resp.StatusCode, out)
	}
}

// FuzzAddUpload: whatever the query and the multipart body, /add answers a
// client error or a success, never a server error, and never panics.
func FuzzAddUpload(f *testing.F) {
	ct, body := multipartBody(f, [2]string{"d/", ""}, [2]string{"d/x", "xyz"}, [2]string{"y", "why"})
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add("", body)
	f.Add("format=car&progress=true", body[:len(body)/2])
	f.Add(ctlAddQuery, []byte("--"+boundary+"\r\nContent-Disposition: form-data; filename=\"%zz/../..\"\r\n\r\nx\r\n--"+boundary+"--\r\n"))
	f.Add("stream-channels=false&cid-version=1", []byte("--"+boundary+"\r\nContent-Type: application/x-directory\r\n\r\n--"+boundary+"--"))
	f.Add("local=true&layout=trickle", []byte{})
	fa := &fakeAdder{}
	d := Deps{Cluster: &fakeCluster{pins: map[cid.Cid]pin.Pin{}}, Logger: slog.New(slog.DiscardHandler), Adder: fa}
	h := NewHandler(DefaultConfig(), d)
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/add", bytes.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST /add?%s with %q = %d %s", query, body, rec.Code, rec.Body)
		}
	})
}
