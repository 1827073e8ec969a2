package gateway_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cid "github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
)

// CIDs of the fixtures (see the fixtures' README), named for what they are.
const (
	helloV1      = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am" // "hello\n", raw
	helloV0      = "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"              // "hello\n", dag-pb
	dirWithFiles = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy" // ascii.txt, ascii-copy.txt, hello.txt, multiblock.txt
	multiblock   = "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa" // 1026 bytes in 5 raw leaves
	root1        = "bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui" // index.html, root2/root3/root4
	root2        = "bafybeih2w7hjocxjg6g2ku25hvmd53zj7og4txpby3vsusfefw5rrg5sii"
	listing      = "bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i" // no index.html, non-ASCII names
	percentDir   = "bafybeig675grnxcmshiuzdaz2xalm6ef4thxxds6o6ypakpghm5kghpc34"
	symlinkDir   = "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt"              // bar -> foo
	dagCBOR      = "bafyreibs4utpgbn7uqegmd2goqz4bkyflre2ek2iwv743fhvylwi4zeeim" // {"foo":{"link":…,"object":…}}
	dagCBORChild = "bafyreig5alecq2l2akgajxywgnv22kuxh6xcagsnelepylqovt4t5jxt6u"
	dagJSON      = "baguqeeram5ujjqrwheyaty3w5gdsmoz6vittchvhk723jjqxk7hakxkd47xq"
	dagPB        = "bafybeiegxwlgmoh2cny7qlolykdf7aq7g6dlommarldrbm7c4hbckhfcke"
	plainJSON    = "bagaaierajjsnhsxqlgfrvknlt7z2heoljcgfv37cn45tu7mhmr23x3ekiboq"
	redirects    = "QmQyqMY5vUBSbSxyitJqthgwZunCQjDVtNd8ggVCxzuPQ4"              // examples/, forced/, good-codes/, bad-codes/, invalid/, newlines/
	redirExample = "QmYBhLYDwVFvxos9h8CGU2ibaY66QNgv8hpfewxaQrPiZj"              // redirects/examples
	redirForced  = "QmU7ysGXwAtiV7aBarZASJsxKoKyKmd9Xrz2FFamSCbg8S"              // redirects/forced: /a /b 301!
	redirCodes   = "QmWHn2TunA1g7gQ7q9rwAoWuot2hMpojZ6cZ9ERsNKm5gE"              // redirects/good-codes
	redirBadCode = "QmcBcFnKKqgpCVMxxGsriw9ByTVF6uDdKDMuEBq3m6f1bm"              // redirects/bad-codes: /a /b 999
	redirInvalid = "QmRgpzYQESidTtTojN8zRWjiNs9Cy6o7KHRxh7kDpJm3KH"              // redirects/invalid: "hello"
	spa          = "bafybeib5lboymwd6p2eo4qb2lkueaine577flvsjjeuevmp2nlio72xv5q" // _redirects: /* /index.html 200
	outsideRoot  = "bafybeicaj7kvxpcv4neaqzwhrqqmdstu4dhrwfpknrgebq6nzcecfucvyu" // a "../foo" entry
	missingBlock = "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk"              // 3 KiB file, one leaf missing
	hamt         = "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i"

	ipnsRoot1   = "k51qzi5uqu5dlxdsdu5fpuu7h69wu4ohp32iwm9pdt9nq3y5rpn3ln9j12zfhe" // -> /ipfs/root1
	ipnsRoot2   = "k51qzi5uqu5djokp3m1keo36hoxtd6u3a1d2rg1camf6al7p3huy63dojlm57c" // -> /ipfs/root1/root2
	ipnsEd25519 = "12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d"           // -> hello (base58 name)
	ipnsEdCIDv1 = "k51qzi5uqu5dk3v4rmjber23h16xnr23bsggmqqil9z2gduiis5se8dht36dam" // same key, CIDv1
	ipnsRSA     = "QmVujd5Vb7moysJj8itnGufN7MEtPRCNHkKpNuA4onsRa3"
	ipnsV1V2    = "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w" // "v1+v2 record"
	ipnsV2      = "k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f" // "v2-only record"
	ipnsBadV1   = "k51qzi5uqu5dilgf7gorsh9vcqqq4myo6jd4zmqkuy9pxyxi5fua3uf7axph4y" // broken V1 signature: V2 is what counts
	ipnsV1Only  = "k51qzi5uqu5dm4tm0wt8srkg9h9suud4wuiwjimndrkydqm81cqtlb5ak6p7ku"
	ipnsBadV2   = "k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c"
	ipnsBadVal  = "k51qzi5uqu5dlmit2tuwdvnx4sbnyqgmvbxftl0eo3f33wwtb9gr7yozae9kpw"
)

const immutable = "public, max-age=29030400, immutable"

// v1 is the base32 CIDv1 of a CID: the form subdomains carry.
func v1(s string) string {
	c := cid.MustParse(s)
	return cid.NewCidV1(c.Type(), c.Hash()).String()
}

// req is one request of a case.
type req struct {
	method string // default GET
	path   string
	host   string // default the server's
	header map[string]string
}

// want is what the specs say the answer is. Zero fields are not checked.
type want struct {
	status   int
	header   map[string]string // exact values
	prefix   map[string]string // value prefixes
	absent   []string          // headers that must not be set
	body     *string           // exact body
	contains []string          // body substrings
	check    func(t *testing.T, resp *http.Response, body []byte)
}

func str(s string) *string { return &s }

type gwCase struct {
	name string
	req  req
	want want
}

func (c gwCase) run(t *testing.T, base string) {
	t.Helper()
	method := c.req.method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequest(method, base+c.req.path, nil)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if c.req.host != "" {
		r.Host = c.req.host
	}
	for k, v := range c.req.header {
		r.Header.Set(k, v)
	}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: read body: %v", c.name, err)
	}
	w := c.want
	if w.status != 0 && resp.StatusCode != w.status {
		t.Errorf("%s: %s %s (Host %q) = %d, want %d; body %.300q", c.name, method, c.req.path, c.req.host, resp.StatusCode, w.status, body)
		return
	}
	for k, v := range w.header {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: header %s = %q, want %q", c.name, k, got, v)
		}
	}
	for k, v := range w.prefix {
		if got := resp.Header.Get(k); !strings.HasPrefix(got, v) {
			t.Errorf("%s: header %s = %q, want prefix %q", c.name, k, got, v)
		}
	}
	for _, k := range w.absent {
		if got, ok := resp.Header[http.CanonicalHeaderKey(k)]; ok {
			t.Errorf("%s: header %s = %q, want it absent", c.name, k, got)
		}
	}
	if w.body != nil && string(body) != *w.body {
		t.Errorf("%s: body = %.300q, want %q", c.name, body, *w.body)
	}
	for _, s := range w.contains {
		if !bytes.Contains(body, []byte(s)) {
			t.Errorf("%s: body %.300q does not contain %q", c.name, body, s)
		}
	}
	if w.check != nil {
		w.check(t, resp, body)
	}
}

// runCases runs every case twice: the second answer may come from the
// response cache, and must be just as right.
func runCases(t *testing.T, base string, cases []gwCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, base)
			c.run(t, base)
		})
	}
}

// carBlocks parses a CAR response and returns its roots and blocks.
func carBlocks(t *testing.T, body []byte) ([]cid.Cid, []cid.Cid) {
	t.Helper()
	br, err := car.NewBlockReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("response is not a CAR: %v", err)
	}
	var got []cid.Cid
	for {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("bad CAR block: %v", err)
		}
		if sum, err := b.Cid().Prefix().Sum(b.RawData()); err != nil || !sum.Equals(b.Cid()) {
			t.Fatalf("CAR block %s does not match its CID", b.Cid())
		}
		got = append(got, b.Cid())
	}
	return br.Roots, got
}

// wantCAR checks a CAR's root and that its blocks are exactly want, in
// order when ordered is set.
func wantCAR(root string, ordered bool, want ...string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		roots, blocks := carBlocks(t, body)
		if len(roots) != 1 || roots[0].String() != root {
			t.Errorf("CAR roots = %v, want [%s]", roots, root)
		}
		var got []string
		for _, b := range blocks {
			got = append(got, b.String())
		}
		w := slices.Clone(want)
		if !ordered {
			slices.Sort(got)
			slices.Sort(w)
		}
		if !slices.Equal(got, w) {
			t.Errorf("CAR blocks = %v, want %v", got, w)
		}
	}
}

// Leaves of multiblock.txt, in order, and its byte count.
var multiblockLeaves = []string{
	"bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm",
	"bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq",
	"bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue",
	"bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe",
	"bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm",
}

func TestPathGateway(t *testing.T) {
	srv := serve(t, newFixtureNode(t), fixtureConfig())
	runCases(t, srv.URL, []gwCase{
		// Path gateway, deserialized UnixFS.
		{"raw file", req{path: "/ipfs/" + helloV1}, want{status: 200, body: str("hello\n"), header: map[string]string{
			"Content-Type": "text/plain; charset=utf-8", "Cache-Control": immutable, "Etag": `"` + helloV1 + `"`,
			"X-Ipfs-Path": "/ipfs/" + helloV1, "X-Ipfs-Roots": helloV1, "Content-Length": "6",
		}}},
		{"dag-pb file under a CIDv0 directory", req{path: "/ipfs/QmYiPNLU7Hc739sqcBH5DgVmk5mKTQVzKSqvJJeNGWTgrE/hello-CIDv0"}, want{
			status: 200, body: str("hello\n"), header: map[string]string{
				"Etag": `"` + helloV0 + `"`, "X-Ipfs-Roots": "QmYiPNLU7Hc739sqcBH5DgVmk5mKTQVzKSqvJJeNGWTgrE," + helloV0,
			}}},
		{"HEAD has the headers and no body", req{method: "HEAD", path: "/ipfs/" + helloV1}, want{status: 200, body: str(""), header: map[string]string{
			"Content-Length": "6", "Etag": `"` + helloV1 + `"`, "Cache-Control": immutable,
		}}},
		{"directory without slash redirects", req{path: "/ipfs/" + root1}, want{status: 301, header: map[string]string{"Location": "/ipfs/" + root1 + "/"}}},
		{"directory serves its index.html", req{path: "/ipfs/" + root1 + "/root2/root3/root4/"}, want{status: 200, body: str("hello\n"), prefix: map[string]string{"Content-Type": "text/html"}}},
		{"directory listing", req{path: "/ipfs/" + listing + "/"}, want{status: 200, prefix: map[string]string{
			"Content-Type": "text/html", "Etag": `"DirIndex-`,
		}, contains: []string{"api", "ipfs", "ipns", "ą"}}},
		{"X-Ipfs-Roots names every segment", req{path: "/ipfs/" + root1 + "/root2/"}, want{status: 200, header: map[string]string{
			"X-Ipfs-Roots": root1 + "," + root2,
		}}},
		{"percent-encoded file name", req{path: "/ipfs/" + percentDir + "/Portugal%252C+Espa%C3%B1a=Peninsula%20Ib%C3%A9rica.txt"}, want{
			status: 200, body: str("hello from a percent encoded filename\n")}},
		{"symlink is served as its target text", req{path: "/ipfs/" + symlinkDir + "/bar"}, want{status: 200, body: str("foo"), header: map[string]string{"Content-Type": "inode/symlink"}}},
		{"missing link is 404", req{path: "/ipfs/" + root1 + "/no-such-file"}, want{status: 404}},
		{"missing child block, nowhere to fetch it: 404", req{path: "/ipfs/" + missingBlock}, want{status: 404, absent: []string{"Cache-Control"}}},
		{"HAMT directory entry", req{path: "/ipfs/" + hamt + "/"}, want{status: 200, prefix: map[string]string{"Content-Type": "text/html"}}},

		// Ranges.
		{"range", req{path: "/ipfs/" + dirWithFiles + "/multiblock.txt", header: map[string]string{"Range": "bytes=0-4"}}, want{
			status: 206, body: str("Lorem"), header: map[string]string{"Content-Range": "bytes 0-4/1026", "Content-Length": "5"}}},
		{"range across blocks", req{path: "/ipfs/" + dirWithFiles + "/multiblock.txt", header: map[string]string{"Range": "bytes=250-260"}}, want{
			status: 206, header: map[string]string{"Content-Range": "bytes 250-260/1026", "Content-Length": "11"}}},
		{"suffix range", req{path: "/ipfs/" + helloV1, header: map[string]string{"Range": "bytes=-2"}}, want{status: 206, body: str("o\n")}},
		{"unsatisfiable range", req{path: "/ipfs/" + helloV1, header: map[string]string{"Range": "bytes=100-200"}}, want{
			status: 416, header: map[string]string{"Content-Range": "bytes */6"}}},
		{"malformed range", req{path: "/ipfs/" + helloV1, header: map[string]string{"Range": "bytes=abc"}}, want{status: 400}},

		// Downloads.
		{"?filename", req{path: "/ipfs/" + helloV1 + "?filename=greeting.txt"}, want{status: 200, header: map[string]string{
			"Content-Disposition": `inline; filename="greeting.txt"; filename*=UTF-8''greeting.txt`}}},
		{"?download=true", req{path: "/ipfs/" + helloV1 + "?filename=greeting.txt&download=true"}, want{status: 200, header: map[string]string{
			"Content-Disposition": `attachment; filename="greeting.txt"; filename*=UTF-8''greeting.txt`}}},

		// Conditional requests.
		{"If-None-Match with the ETag is 304", req{path: "/ipfs/" + helloV1, header: map[string]string{"If-None-Match": `"` + helloV1 + `"`}}, want{status: 304, body: str("")}},
		{"If-None-Match with another ETag is 200", req{path: "/ipfs/" + helloV1, header: map[string]string{"If-None-Match": `"other"`}}, want{status: 200}},

		// Bad input.
		{"invalid CID", req{path: "/ipfs/not-a-cid"}, want{status: 400}},
		{"CID too long for its hash", req{path: "/ipfs/QmYiPNLU7Hc739sqcBH5DgVmk5mKTQVzKSqvJJeNGWTgrE/hello-CIDv1_TOO_LONG"}, want{check: statusBelow500}},
		{"no CID", req{path: "/ipfs/"}, want{status: 400}},
		{"unknown namespace", req{path: "/ipfz/" + helloV1}, want{status: 404}},
		{"POST is refused", req{method: "POST", path: "/ipfs/" + helloV1}, want{status: 405}},
		{"garbage Accept is ignored", req{path: "/ipfs/" + helloV1, header: map[string]string{"Accept": "%%%;;;="}}, want{status: 200, body: str("hello\n")}},

		// CORS.
		{"CORS preflight", req{method: "OPTIONS", path: "/ipfs/" + helloV1, header: map[string]string{"Origin": "https://example.net", "Access-Control-Request-Method": "GET"}}, want{
			status: 200, header: map[string]string{"Access-Control-Allow-Origin": "*"}, contains: nil, check: func(t *testing.T, resp *http.Response, _ []byte) {
				if m := resp.Header.Values("Access-Control-Allow-Methods"); !slices.Contains(m, "GET") {
					t.Errorf("Access-Control-Allow-Methods = %v, want GET among them", m)
				}
			}}},
		{"CORS exposes the IPFS headers", req{path: "/ipfs/" + helloV1, header: map[string]string{"Origin": "https://example.net"}}, want{
			status: 200, check: func(t *testing.T, resp *http.Response, _ []byte) {
				exposed := strings.Join(resp.Header.Values("Access-Control-Expose-Headers"), ",")
				for _, h := range []string{"X-Ipfs-Path", "X-Ipfs-Roots", "Content-Range"} {
					if !strings.Contains(exposed, h) {
						t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
					}
				}
			}}},
	})
}

func statusBelow500(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode >= 500 {
		t.Errorf("status %d for bad input (%.200q), want a 4xx", resp.StatusCode, body)
	}
}

func TestTrustlessGateway(t *testing.T) {
	srv := serve(t, newFixtureNode(t), fixtureConfig())
	mb := "/ipfs/" + dirWithFiles + "/multiblock.txt"
	runCases(t, srv.URL, []gwCase{
		{"?format=raw", req{path: "/ipfs/" + helloV1 + "?format=raw"}, want{status: 200, body: str("hello\n"), header: map[string]string{
			"Content-Type": "application/vnd.ipld.raw", "Cache-Control": immutable, "X-Content-Type-Options": "nosniff",
			"Etag": `"` + helloV1 + `.raw"`,
		}, prefix: map[string]string{"Content-Disposition": "attachment;"}}},
		{"Accept raw", req{path: "/ipfs/" + dirWithFiles + "/hello.txt", header: map[string]string{"Accept": "application/vnd.ipld.raw"}}, want{
			status: 200, header: map[string]string{"Content-Type": "application/vnd.ipld.raw"}}},
		{"raw block of a dag-pb directory", req{path: "/ipfs/" + dagPB + "?format=raw"}, want{status: 200, check: func(t *testing.T, _ *http.Response, body []byte) {
			if sum, _ := cid.MustParse(dagPB).Prefix().Sum(body); !sum.Equals(cid.MustParse(dagPB)) {
				t.Errorf("raw block body does not hash to %s", dagPB)
			}
		}}},
		{"?format=car of a file: every block, DFS", req{path: mb + "?format=car"}, want{status: 200, header: map[string]string{
			"Content-Type": "application/vnd.ipld.car; version=1; order=dfs; dups=n", "X-Content-Type-Options": "nosniff",
		}, check: wantCAR(multiblock, true, append([]string{dirWithFiles, multiblock}, multiblockLeaves...)...)}},
		{"dag-scope=block: the path and the terminal block", req{path: mb + "?format=car&dag-scope=block"}, want{
			status: 200, check: wantCAR(multiblock, true, dirWithFiles, multiblock)}},
		{"dag-scope=entity of a file is the whole file", req{path: mb + "?format=car&dag-scope=entity"}, want{
			status: 200, check: wantCAR(multiblock, true, append([]string{dirWithFiles, multiblock}, multiblockLeaves...)...)}},
		{"entity-bytes picks the blocks of a byte range", req{path: mb + "?format=car&dag-scope=entity&entity-bytes=0:10"}, want{
			status: 200, check: wantCAR(multiblock, true, dirWithFiles, multiblock, multiblockLeaves[0])}},
		{"entity-bytes from the end", req{path: mb + "?format=car&dag-scope=entity&entity-bytes=-10:*"}, want{
			status: 200, check: wantCAR(multiblock, true, dirWithFiles, multiblock, multiblockLeaves[3], multiblockLeaves[4])}},
		{"dag-scope=entity of a directory: the directory only", req{path: "/ipfs/" + dirWithFiles + "?format=car&dag-scope=entity"}, want{
			status: 200, check: wantCAR(dirWithFiles, true, dirWithFiles)}},
		{"car-dups=y keeps duplicates", req{path: "/ipfs/" + dirWithFiles, header: map[string]string{
			"Accept": "application/vnd.ipld.car; version=1; order=dfs; dups=y"}}, want{
			status: 200, header: map[string]string{"Content-Type": "application/vnd.ipld.car; version=1; order=dfs; dups=y"},
			check: func(t *testing.T, _ *http.Response, body []byte) {
				_, blocks := carBlocks(t, body)
				ascii := cid.MustParse("bafkreifkam6ns4aoolg3wedr4uzrs3kvq66p4pecirz6y2vlrngla62mxm")
				n := 0
				for _, b := range blocks {
					if b.Equals(ascii) {
						n++
					}
				}
				if n != 2 {
					t.Errorf("ascii.txt and its copy share a block: got it %d times with dups=y, want 2", n)
				}
			}}},
		{"car-order=unk is accepted", req{path: "/ipfs/" + helloV1, header: map[string]string{"Accept": "application/vnd.ipld.car; version=1; order=unk"}}, want{
			status: 200, prefix: map[string]string{"Content-Type": "application/vnd.ipld.car; version=1; order="}}},
		{"CAR of the partially missing file stops at the gap", req{path: "/ipfs/" + missingBlock + "?format=car"}, want{status: 200, check: func(t *testing.T, _ *http.Response, body []byte) {
			// 200 was sent before the gap was found: the stream is cut
			// short, and a client verifying it sees the missing block.
			br, err := car.NewBlockReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("response is not a CAR: %v", err)
			}
			first, err := br.Next()
			if err != nil || !first.Cid().Equals(cid.MustParse(missingBlock)) {
				t.Fatalf("CAR of %s starts with %v (%v), want its root", missingBlock, first, err)
			}
			n := 1
			for ; ; n++ {
				if _, err := br.Next(); err != nil {
					break
				}
			}
			if n >= 4 {
				t.Errorf("CAR of a file with a missing leaf has %d blocks: it should stop at the gap", n)
			}
		}}},
		{"unknown dag-scope", req{path: "/ipfs/" + helloV1 + "?format=car&dag-scope=bogus"}, want{status: 400}},
		{"bad entity-bytes", req{path: mb + "?format=car&entity-bytes=x:y"}, want{status: 400}},
		{"reversed entity-bytes", req{path: mb + "?format=car&entity-bytes=10:5"}, want{status: 400}},
		{"CAR version 2 is not offered", req{path: "/ipfs/" + helloV1, header: map[string]string{"Accept": "application/vnd.ipld.car; version=2"}}, want{status: 400}},
		{"unknown car-dups", req{path: "/ipfs/" + helloV1, header: map[string]string{"Accept": "application/vnd.ipld.car; dups=maybe"}}, want{status: 400}},
	})
}

func TestCodecsAndTar(t *testing.T) {
	srv := serve(t, newFixtureNode(t), fixtureConfig())
	runCases(t, srv.URL, []gwCase{
		{"dag-json as dag-json", req{path: "/ipfs/" + dagJSON + "?format=dag-json"}, want{status: 200, header: map[string]string{
			"Content-Type": "application/vnd.ipld.dag-json", "Cache-Control": immutable}, contains: []string{`"banana":10`}}},
		{"dag-cbor as dag-cbor", req{path: "/ipfs/" + dagCBOR, header: map[string]string{"Accept": "application/vnd.ipld.dag-cbor"}}, want{
			status: 200, header: map[string]string{"Content-Type": "application/vnd.ipld.dag-cbor"}}},
		{"path through a dag-cbor link", req{path: "/ipfs/" + dagCBOR + "/foo/link"}, want{status: 200, header: map[string]string{
			"Etag": `"` + dagCBORChild + `.dag-cbor"`, "X-Ipfs-Roots": dagCBOR + "," + dagCBOR + "," + dagCBORChild}}},
		{"dag-cbor as HTML for a browser", req{path: "/ipfs/" + dagCBOR + "/", header: map[string]string{"Accept": "text/html"}}, want{
			status: 200, prefix: map[string]string{"Content-Type": "text/html"}, contains: []string{dagCBORChild}}},
		{"plain JSON", req{path: "/ipfs/" + plainJSON}, want{status: 200, prefix: map[string]string{"Content-Type": "application/json"}, contains: []string{`"plain json"`}}},
		{"no codec conversion (IPIP-524)", req{path: "/ipfs/" + dagPB + "?format=dag-json"}, want{status: 406}},
		{"TAR of a directory", req{path: "/ipfs/" + dirWithFiles + "?format=tar"}, want{status: 200, header: map[string]string{
			"Content-Type": "application/x-tar", "X-Content-Type-Options": "nosniff",
		}, prefix: map[string]string{"Content-Disposition": `attachment; filename="` + dirWithFiles + `.tar"`, "Etag": `W/"`}, check: tarHas(
			dirWithFiles+"/ascii.txt", dirWithFiles+"/hello.txt", dirWithFiles+"/multiblock.txt")}},
		{"TAR of a file is named for its CID", req{path: "/ipfs/" + dirWithFiles + "/hello.txt", header: map[string]string{"Accept": "application/x-tar"}}, want{
			status: 200, check: tarHas("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")}},
		{"TAR of non-UnixFS data is refused", req{path: "/ipfs/" + dagCBOR + "?format=tar"}, want{status: 400}},
		{"TAR never writes outside its root", req{path: "/ipfs/" + outsideRoot + "?format=tar"}, want{check: func(t *testing.T, resp *http.Response, body []byte) {
			tr := tar.NewReader(bytes.NewReader(body))
			for {
				h, err := tr.Next()
				if err != nil {
					return // the archive stops at the hostile entry
				}
				if strings.Contains(h.Name, "..") {
					t.Errorf("TAR entry %q escapes the archive root", h.Name)
				}
			}
		}}},
	})
}

func tarHas(names ...string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		tr := tar.NewReader(bytes.NewReader(body))
		var got []string
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("bad TAR: %v", err)
			}
			got = append(got, h.Name)
		}
		for _, n := range names {
			if !slices.Contains(got, n) {
				t.Errorf("TAR entries %v lack %q", got, n)
			}
		}
	}
}

func TestIPNS(t *testing.T) {
	n := newFixtureNode(t)
	srv := serve(t, n, fixtureConfig())
	rec, err := os.ReadFile(filepath.Join(fixturesDir(t), ipnsRoot1+"_1.ipns-record"))
	if err != nil {
		t.Fatal(err)
	}
	runCases(t, srv.URL, []gwCase{
		{"name to a directory", req{path: "/ipns/" + ipnsRoot1 + "/"}, want{status: 200, contains: []string{"root2"}, header: map[string]string{
			"X-Ipfs-Path": "/ipns/" + ipnsRoot1 + "/", "X-Ipfs-Roots": root1,
		}, prefix: map[string]string{"Cache-Control": "public, max-age="}, check: notImmutable}},
		{"name to a path", req{path: "/ipns/" + ipnsRoot2 + "/"}, want{status: 200, header: map[string]string{"X-Ipfs-Roots": root1 + "," + root2}}},
		{"ed25519 name, base58, goes to its CIDv1 form", req{path: "/ipns/" + ipnsEd25519}, want{status: 302, header: map[string]string{"Location": "/ipns/" + ipnsEdCIDv1}}},
		{"ed25519 name, CIDv1", req{path: "/ipns/" + ipnsEdCIDv1}, want{status: 200, body: str("hello\n")}},
		{"RSA name redirects to its CIDv1 form", req{path: "/ipns/" + ipnsRSA}, want{status: 302, prefix: map[string]string{"Location": "/ipns/k"}}},
		{"V1+V2 record", req{path: "/ipns/" + ipnsV1V2}, want{status: 200, body: str("v1+v2 record")}},
		{"V2-only record", req{path: "/ipns/" + ipnsV2}, want{status: 200, body: str("v2-only record")}},
		{"broken V1 signature, valid V2", req{path: "/ipns/" + ipnsBadV1}, want{status: 200, body: str("v1+v2 with broken signature v1")}},
		{"V1-only record is refused", req{path: "/ipns/" + ipnsV1Only}, want{status: 404}},
		{"broken V2 signature is refused", req{path: "/ipns/" + ipnsBadV2}, want{status: 404}},
		{"V1 value disagreeing with V2 is refused", req{path: "/ipns/" + ipnsBadVal}, want{status: 404}},
		{"record as application/vnd.ipfs.ipns-record", req{path: "/ipns/" + ipnsRoot1 + "?format=ipns-record"}, want{status: 200,
			body: str(string(rec)), header: map[string]string{"Content-Type": "application/vnd.ipfs.ipns-record"}}},
		{"record by Accept", req{path: "/ipns/" + ipnsRoot1, header: map[string]string{"Accept": "application/vnd.ipfs.ipns-record"}}, want{status: 200, body: str(string(rec))}},
		{"trustless CAR of a name", req{path: "/ipns/" + ipnsEdCIDv1 + "?format=car"}, want{status: 200, check: wantCAR(helloV1, true, helloV1)}},
		{"not a name", req{path: "/ipns/not_a_name!"}, want{check: statusBelow500}},
	})
}

func notImmutable(t *testing.T, resp *http.Response, _ []byte) {
	t.Helper()
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control of a mutable path = %q, want no immutable", cc)
	}
}

func TestDNSLinkAndSubdomains(t *testing.T) {
	srv := serve(t, newFixtureNode(t), fixtureConfig())
	port := srv.Listener.Addr().(interface{ String() string }).String()
	_, port, _ = strings.Cut(port, ":")
	examples := v1(redirExample)
	sub := func(c string) string { return v1(c) + ".ipfs.example.com" }
	runCases(t, srv.URL, []gwCase{
		// DNSLink gateway (the Host names a DNSLink domain).
		{"DNSLink host", req{path: "/", host: "dnslink-test.example.org"}, want{status: 200, body: str("hello\n"), header: map[string]string{
			"X-Ipfs-Path": "/ipns/dnslink-test.example.org/"}, check: notImmutable}},
		{"DNSLink path on the path gateway", req{path: "/ipns/dnslink-test.example.org"}, want{status: 200, body: str("hello\n")}},
		{"DNSLink to an IPNS name", req{path: "/", host: "dnslink-over-ipns.example.org"}, want{status: 200, body: str("hello\n")}},
		{"DNSLink to a CIDv1 IPNS name", req{path: "/", host: "dnslink-over-ipns-cidv1.example.org"}, want{status: 200, body: str("hello\n")}},
		{"DNSLink to a sub-path", req{path: "/", host: "dnslink-subpath.example.org"}, want{status: 200, header: map[string]string{"X-Ipfs-Roots": root1 + "," + root2}}},
		{"DNSLink directory listing", req{path: "/", host: "dnslink-dir-listing.example.org"}, want{status: 200, contains: []string{"api", "ą"}}},
		{"DNSLink SPA _redirects", req{path: "/some/client/route", host: "dnslink-enabled-with-spa.example.org"}, want{status: 200, body: str("hello world\n")}},

		// Subdomain gateway on a public host.
		{"path on a subdomain host redirects to the subdomain", req{path: "/ipfs/" + helloV1, host: "example.com"}, want{status: 301, header: map[string]string{
			"Location": "http://" + helloV1 + ".ipfs.example.com/"}}},
		{"CIDv0 goes to its base32 CIDv1 subdomain", req{path: "/ipfs/" + helloV0, host: "example.com"}, want{status: 301, header: map[string]string{
			"Location": "http://" + v1(helloV0) + ".ipfs.example.com/"}}},
		{"subdomain serves the CID", req{path: "/", host: helloV1 + ".ipfs.example.com"}, want{status: 200, body: str("hello\n"), header: map[string]string{
			"X-Ipfs-Path": "/ipfs/" + helloV1 + "/", "Cache-Control": immutable}}},
		{"subdomain with a sub-path", req{path: "/hello.txt", host: v1(dirWithFiles) + ".ipfs.example.com"}, want{status: 200, body: str("hello world\n")}},
		{"IPNS subdomain", req{path: "/", host: ipnsEdCIDv1 + ".ipns.example.com"}, want{status: 200, body: str("hello\n")}},
		{"base58 name in a subdomain goes to its CIDv1", req{path: "/", host: ipnsEd25519 + ".ipns.example.com"}, want{status: 302, prefix: map[string]string{
			"Location": "/ipns/" + ipnsEdCIDv1}}},
		{"DNSLink inlined in one label", req{path: "/", host: "dnslink--test-example-org.ipns.example.com"}, want{status: 200, body: str("hello\n")}},
		{"DNSLink path redirects to the inlined label", req{path: "/ipns/dnslink-test.example.org/", host: "example.com"}, want{status: 301, header: map[string]string{
			"Location": "http://dnslink--test-example-org.ipns.example.com/"}}},
		{"localhost is a subdomain gateway with its port", req{path: "/ipfs/" + helloV1, host: "localhost:" + port}, want{status: 301, header: map[string]string{
			"Location": "http://" + helloV1 + ".ipfs.localhost:" + port + "/"}}},
		{"X-Forwarded-Proto keeps https", req{path: "/ipfs/" + helloV1, host: "example.com", header: map[string]string{"X-Forwarded-Proto": "https"}}, want{
			status: 301, header: map[string]string{"Location": "https://" + helloV1 + ".ipfs.example.com/"}}},
		{"invalid CID subdomain", req{path: "/", host: "not-a-cid.ipfs.example.com"}, want{status: 400}},
		{"unknown host is a path gateway", req{path: "/ipfs/" + helloV1, host: "unknown.example.net"}, want{status: 200, body: str("hello\n")}},

		// _redirects (only on subdomain and DNSLink gateways).
		{"redirect default 301", req{path: "/redirect-one", host: examples + ".ipfs.example.com"}, want{status: 301, header: map[string]string{"Location": "/one.html"}}},
		{"redirect 302", req{path: "/302-redirect-two", host: examples + ".ipfs.example.com"}, want{status: 302, header: map[string]string{"Location": "/two.html"}}},
		{"rewrite 200", req{path: "/200-index", host: examples + ".ipfs.example.com"}, want{status: 200, contains: []string{"my index"}}},
		{"placeholders", req{path: "/posts/2022/01/01/hello-world", host: examples + ".ipfs.example.com"}, want{status: 301, header: map[string]string{
			"Location": "/articles/2022/01/01/hello-world"}}},
		{"splat", req{path: "/splat/one.html", host: examples + ".ipfs.example.com"}, want{status: 301, header: map[string]string{"Location": "/redirected-splat/one.html"}}},
		{"custom 404", req{path: "/not-found/x", host: examples + ".ipfs.example.com"}, want{status: 404, contains: []string{"my 404"}}},
		{"custom 410", req{path: "/gone/x", host: examples + ".ipfs.example.com"}, want{status: 410, contains: []string{"my 410"}}},
		{"custom 451", req{path: "/unavail/x", host: examples + ".ipfs.example.com"}, want{status: 451, contains: []string{"my 451"}}},
		{"catch-all", req{path: "/anything/else", host: examples + ".ipfs.example.com"}, want{status: 200, contains: []string{"my index"}}},
		{"existing file wins over a rule", req{path: "/one.html", host: examples + ".ipfs.example.com"}, want{status: 200, contains: []string{"my one"}}},
		{"forced rules are refused (spec: no forced redirects)", req{path: "/a", host: sub(redirForced)}, want{status: 500, contains: []string{"forced redirects"}}},
		{"status codes", req{path: "/a303", host: sub(redirCodes)}, want{status: 303, header: map[string]string{"Location": "/b303"}}},
		{"invalid status code in _redirects", req{path: "/a", host: sub(redirBadCode)}, want{status: 500, contains: []string{"_redirects"}}},
		{"unparsable _redirects", req{path: "/x", host: sub(redirInvalid)}, want{status: 500, contains: []string{"_redirects"}}},
		{"no _redirects on the path gateway", req{path: "/ipfs/" + redirExample + "/redirect-one"}, want{status: 404}},
	})
}
