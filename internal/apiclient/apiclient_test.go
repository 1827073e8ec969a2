package apiclient

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// api is a stand-in REST API: /peers streams two IDs and fails in the
// trailer when asked to, /pins/{cid} answers errors, /id echoes the
// credentials it got.
func api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"version":"v-test"}`)
	})
	mux.HandleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		fmt.Fprintf(w, `{"id":"me","peername":%q,"version":%q}`+"\n", user+":"+pass, r.Header.Get("Authorization"))
	})
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("empty") {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Trailer", "X-Stream-Error")
		fmt.Fprintln(w, `{"id":"a"}`)
		fmt.Fprintln(w, `{"id":"b"}`)
		if r.URL.Query().Has("fail") {
			w.Header().Set("X-Stream-Error", "peer went away")
		}
	})
	mux.HandleFunc("POST /pins/{cid}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("cid") == "bad" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, `{"code":400,"message":"error decoding Cid"}`)
			return
		}
		fmt.Fprintf(w, `{"cid":%q,"name":%q,"metadata":{"team":%q},"replication_factor_min":2}`+"\n",
			r.PathValue("cid"), r.URL.Query().Get("name"), r.URL.Query().Get("meta-team"))
	})
	return mux
}

// peers streams /peers through the unexported helper, with one of its
// query variants.
func peers(ctx context.Context, c *Client, query string) ([]string, error) {
	var ids []string
	err := stream(ctx, c, http.MethodGet, "/peers", map[string][]string{query: {"1"}}, nil, "", func(id ID) error {
		ids = append(ids, id.ID)
		return nil
	})
	return ids, err
}

func TestClientStreamsAndErrors(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(api())
	defer srv.Close()
	c, err := New(Config{Addr: strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}

	if ids, err := peers(ctx, c, "ok"); err != nil || strings.Join(ids, ",") != "a,b" {
		t.Errorf("stream = %v, %v; want a,b", ids, err)
	}
	if ids, err := peers(ctx, c, "empty"); err != nil || len(ids) != 0 {
		t.Errorf("empty stream = %v, %v; want nothing", ids, err)
	}
	if ids, err := peers(ctx, c, "fail"); err == nil || !strings.Contains(err.Error(), "peer went away") || len(ids) != 2 {
		t.Errorf("stream failing in the trailer = %v, %v; want both items, then the trailer's error", ids, err)
	}

	p, err := c.Pin(ctx, "bafyok", PinOptions{Name: "doc", Metadata: map[string]string{"team": "storage"}})
	if err != nil || p.Cid != "bafyok" || p.Name != "doc" || p.Metadata["team"] != "storage" || p.ReplicationFactorMin != 2 {
		t.Errorf("Pin = %+v, %v", p, err)
	}
	_, err = c.Pin(ctx, "bad", PinOptions{})
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != 400 || ae.Message != "error decoding Cid" {
		t.Errorf("Pin(bad) = %v, want the API's 400 and message", err)
	}
	if _, err := c.Allocation(ctx, "x"); !errors.As(err, &ae) || ae.Code != 404 {
		t.Errorf("unknown route = %v, want a 404 *Error", err)
	}

	dead, _ := New(Config{Addr: "127.0.0.1:1"})
	if _, err := dead.ID(ctx); !errors.Is(err, ErrUnreachable) {
		t.Errorf("ID of nothing = %v, want ErrUnreachable", err)
	}
	for _, bad := range []string{"", "ftp://x:1", "host:1/path"} {
		if _, err := New(Config{Addr: bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestClientCredentials(t *testing.T) {
	srv := httptest.NewServer(api())
	defer srv.Close()
	for _, tc := range []struct{ auth, user, header string }{
		{"admin:s3cret:with:colons", "admin:s3cret:with:colons", "Basic YWRtaW46czNjcmV0OndpdGg6Y29sb25z"},
		{"tok3n", ":", "Bearer tok3n"},
		{"", ":", ""},
	} {
		c, err := New(Config{Addr: srv.URL, Auth: tc.auth})
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.ID(context.Background())
		if err != nil || id.Peername != tc.user || id.Version != tc.header {
			t.Errorf("auth %q: server saw basic %q, header %q (%v); want %q, %q", tc.auth, id.Peername, id.Version, err, tc.user, tc.header)
		}
	}
}

// A host:port that serves HTTPS is recognised; its certificate is trusted
// with the CA file only.
func TestClientHTTPSWithPrivateCA(t *testing.T) {
	srv := httptest.NewTLSServer(api())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)

	c, err := New(Config{Addr: addr, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := c.ID(context.Background()); err != nil || id.ID != "me" {
		t.Fatalf("ID over HTTPS with the CA = %+v, %v", id, err)
	}
	if u, _ := c.URL(context.Background()); u != srv.URL {
		t.Errorf("URL = %s, want %s", u, srv.URL)
	}
	c, _ = New(Config{Addr: addr})
	if _, err := c.ID(context.Background()); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "x509") {
		t.Errorf("ID over HTTPS without the CA = %v, want a certificate error", err)
	}
	if _, err := New(Config{Addr: addr, CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
