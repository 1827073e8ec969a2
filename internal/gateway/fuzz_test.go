package gateway_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzGatewayRequest throws arbitrary request targets, hosts, Accept and
// Range headers at a gateway provisioned with the conformance fixtures.
// Whatever arrives, the answer is a status the specs name for it: never a
// panic (boxo turns one into a 500), and never a 500 except the two the
// specs prescribe (an unparsable _redirects file).
func FuzzGatewayRequest(f *testing.F) {
	n := newFixtureNode(f)
	g, err := newGateway(f, n, fixtureConfig())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct{ target, host, accept, rng string }{
		{"/ipfs/" + helloV1, "", "", ""},
		{"/ipfs/" + dirWithFiles + "/multiblock.txt?format=car&dag-scope=entity&entity-bytes=-10:*", "", "", ""},
		{"/ipfs/" + dirWithFiles + "/multiblock.txt", "", "", "bytes=-3"},
		{"/ipfs/" + dagCBOR + "/foo/link", "", "application/vnd.ipld.dag-json", ""},
		{"/ipns/" + ipnsRoot1 + "/root2/?format=tar", "", "", ""},
		{"/ipns/" + ipnsRoot1 + "?format=ipns-record", "", "", ""},
		{"/", "dnslink-test.example.org", "text/html", ""},
		{"/", v1(redirExample) + ".ipfs.example.com", "", ""},
		{"/posts/1/2/3/x", v1(redirExample) + ".ipfs.example.com", "", ""},
		{"/ipfs/" + helloV1, "example.com", "", ""},
		{"/x", "dnslink--test-example-org.ipns.example.com", "", ""},
		{"/ipfs/" + helloV1, "", "application/vnd.ipld.car; version=1; order=dfs; dups=y", ""},
		{"/ipfs/QmYiPNLU7Hc739sqcBH5DgVmk5mKTQVzKSqvJJeNGWTgrE/hello-CIDv1_TOO_LONG", "", "", ""},
		{"/ipfs/%2e%2e/%00", "%", ";;;", "bytes=9999999999999999999-"},
	} {
		f.Add(s.target, s.host, s.accept, s.rng)
	}
	f.Fuzz(func(t *testing.T, target, host, accept, rng string) {
		raw := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nAccept: " + accept + "\r\nRange: " + rng + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before any handler runs
		}
		r.RemoteAddr = "127.0.0.1:1"
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		body := w.Body.String()
		switch code := w.Code; {
		case code < 500, code == http.StatusNotImplemented:
		case code == 500 && strings.Contains(body, "_redirects"):
		default:
			t.Fatalf("GET %q Host %q Accept %q Range %q = %d: %.300q", target, host, accept, rng, code, body)
		}
	})
}
