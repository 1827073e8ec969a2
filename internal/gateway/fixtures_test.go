package gateway_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/gateway"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// fixturesDir finds the gateway conformance fixtures (see their README):
// $FLOTILLA_GATEWAY_FIXTURES, else ../shared/fixtures/gateway-conformance
// next to the repository. Missing fixtures fail the test: a conformance
// test that silently skips proves nothing.
func fixturesDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FLOTILLA_GATEWAY_FIXTURES")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "fixtures", "gateway-conformance")
	}
	if _, err := os.Stat(filepath.Join(dir, "dnslinks.IPFS_NS_MAP")); err != nil {
		t.Fatalf("gateway conformance fixtures not found at %s (%v): they come from the gateway-conformance suite 0.13.2; set FLOTILLA_GATEWAY_FIXTURES to their directory", dir, err)
	}
	return dir
}

// noDNS answers every DNS question with "no such host", at once: the
// tests run offline, and DNSLink comes from IPFS_NS_MAP.
type noDNS struct{}

func (noDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (noDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// brokenRecords are the fixture IPNS records a correct node refuses: a
// bad V2 signature, a V1 value that disagrees with the signed V2 data, and
// a V1-only record (V2 signatures are mandatory since IPIP-428).
var brokenRecords = map[string]bool{
	"k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c": true,
	"k51qzi5uqu5dlmit2tuwdvnx4sbnyqgmvbxftl0eo3f33wwtb9gr7yozae9kpw": true,
	"k51qzi5uqu5dm4tm0wt8srkg9h9suud4wuiwjimndrkydqm81cqtlb5ak6p7ku": true,
}

// newFixtureNode is an offline in-memory node provisioned as the fixtures'
// README says: every CAR imported without pinning, every valid IPNS record
// stored, IPFS_NS_MAP set from dnslinks.IPFS_NS_MAP.
func newFixtureNode(t testing.TB) *ipfs.Node {
	t.Helper()
	dir := fixturesDir(t)
	nsmap, err := os.ReadFile(filepath.Join(dir, "dnslinks.IPFS_NS_MAP"))
	if err != nil {
		t.Fatal(err)
	}
	if tt, ok := t.(*testing.T); ok {
		tt.Setenv("IPFS_NS_MAP", strings.TrimSpace(string(nsmap)))
	} else {
		// Fuzz and benchmark setup: namesys reads the variable once, when
		// the node is built, and nothing else in the process reads it.
		os.Setenv("IPFS_NS_MAP", strings.TrimSpace(string(nsmap)))
	}
	n := newMemNode(t)
	ctx := context.Background()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".car"):
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = n.DagImport(ctx, f, false)
			f.Close()
			if err != nil {
				t.Fatalf("import %s: %v", e.Name(), err)
			}
		case strings.HasSuffix(e.Name(), ".ipns-record"):
			rec, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(e.Name(), ".ipns-record"), "_")
			_, err = n.PutRecord(ctx, name, rec, true)
			if brokenRecords[name] && err == nil {
				t.Fatalf("PutRecord(%s) accepted a broken record", e.Name())
			}
			if !brokenRecords[name] && err != nil {
				t.Fatalf("PutRecord(%s) = %v, want it stored", e.Name(), err)
			}
		}
	}
	return n
}

// testBlocks gives the block store of the nodes the tests build: memory,
// unless a test runs the suites on S3 (TestFixturesOnS3).
var testBlocks = func(testing.TB) ds.Batching { return dssync.MutexWrap(ds.NewMapDatastore()) }

// newMemNode is an offline node on in-memory datastores (the blocks in
// testBlocks').
func newMemNode(t testing.TB) *ipfs.Node {
	t.Helper()
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{
		Blocks: testBlocks(t),
		Meta:   dssync.MutexWrap(ds.NewMapDatastore()),
		Logger: slog.New(slog.DiscardHandler),
		DNS:    noDNS{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); n.Pins.Close() })
	return n
}

// fixtureConfig is the gateway setup of the fixtures' README: example.com
// and localhost as subdomain gateways with DNSLink inlining.
func fixtureConfig() gateway.Config {
	c := gateway.DefaultConfig()
	c.PublicHosts = []string{"example.com", "localhost"}
	return c
}

// newGateway builds a gateway on n, closed with the test.
func newGateway(t testing.TB, n *ipfs.Node, cfg gateway.Config) (*gateway.Gateway, error) {
	g, err := gateway.New(cfg, gateway.Deps{Node: n, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Cleanup(func() { g.Close() })
	}
	return g, err
}

// serve starts the gateway on 127.0.0.1:0.
func serve(t testing.TB, n *ipfs.Node, cfg gateway.Config) *httptest.Server {
	t.Helper()
	g, err := newGateway(t, n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv
}

// client never follows redirects: the tests check them.
var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
