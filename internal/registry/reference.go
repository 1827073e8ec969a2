package registry

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"net/http"
	"regexp"
	"strings"
)

// digest is a content digest, "algorithm:hex", as the spec writes it.
// Only sha256 (the canonical one) and sha512 are accepted: the spec's
// registered algorithms.
type digest string

// algorithms maps each accepted algorithm to its hex length and hash.
var algorithms = map[string]struct {
	hexLen int
	hash   func() hash.Hash
}{
	"sha256": {64, sha256.New},
	"sha512": {128, sha512.New},
}

// parseDigest checks s: a known algorithm, and as many lowercase hex
// digits as its hash has.
func parseDigest(s string) (digest, bool) {
	alg, hex, ok := strings.Cut(s, ":")
	a, known := algorithms[alg]
	if !ok || !known || len(hex) != a.hexLen {
		return "", false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return digest(s), true
}

func (d digest) algorithm() string { alg, _, _ := strings.Cut(string(d), ":"); return alg }

func (d digest) newHash() hash.Hash { return algorithms[d.algorithm()].hash() }

// digestOf is the digest of b with algorithm alg (one of algorithms).
func digestOf(alg string, b []byte) digest {
	h := algorithms[alg].hash()
	h.Write(b)
	return digestFromHash(alg, h)
}

func digestFromHash(alg string, h hash.Hash) digest {
	const hexDigits = "0123456789abcdef"
	sum := h.Sum(nil)
	out := make([]byte, 0, len(alg)+1+2*len(sum))
	out = append(out, alg...)
	out = append(out, ':')
	for _, b := range sum {
		out = append(out, hexDigits[b>>4], hexDigits[b&15])
	}
	return digest(out)
}

// The spec's grammar of repository names and tags ("Pulling manifests").
var (
	repoPattern = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagPattern  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// maxRepoLen keeps a repository name, with a digest, well inside a record
// key (and what clients accept: distribution's limit).
const maxRepoLen = 255

func validRepo(s string) bool { return len(s) <= maxRepoLen && repoPattern.MatchString(s) }

func validTag(s string) bool { return tagPattern.MatchString(s) }

// route kinds: what a path under /v2/ names.
const (
	routeBase      = "base"      // /v2/
	routeCatalog   = "catalog"   // /v2/_catalog
	routeManifest  = "manifest"  // /v2/<name>/manifests/<reference>
	routeBlob      = "blob"      // /v2/<name>/blobs/<digest>
	routeUploads   = "uploads"   // /v2/<name>/blobs/uploads/
	routeUpload    = "upload"    // /v2/<name>/blobs/uploads/<id>
	routeTags      = "tags"      // /v2/<name>/tags/list
	routeReferrers = "referrers" // /v2/<name>/referrers/<digest>
)

// route is a parsed request path.
type route struct {
	kind string
	repo string
	ref  string // a reference, digest or upload ID, per kind
}

// methods lists what each route answers (the rest is 405 with Allow).
var methods = map[string][]string{
	routeBase:      {http.MethodGet, http.MethodHead},
	routeCatalog:   {http.MethodGet},
	routeManifest:  {http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete},
	routeBlob:      {http.MethodGet, http.MethodHead, http.MethodDelete},
	routeUploads:   {http.MethodPost},
	routeUpload:    {http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete},
	routeTags:      {http.MethodGet},
	routeReferrers: {http.MethodGet},
}

// parseRoute reads a path. A repository name may hold slashes, and a
// reference never does, so the kind is read from the end: the last
// segment is the reference and the one (or two) before it say what it
// names. ok is false for a path outside the API (404); a path of the API
// with a malformed name gives a route with an invalid repo, which the
// handler answers NAME_INVALID.
func parseRoute(p string) (route, bool) {
	switch p {
	case "/v2", "/v2/":
		return route{kind: routeBase}, true
	case "/v2/_catalog":
		return route{kind: routeCatalog}, true
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return route{}, false
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	repoOf := func(k int) string { return strings.Join(segs[:n-k], "/") }
	switch {
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		return route{kind: routeTags, repo: repoOf(2)}, true
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		if segs[n-1] == "" {
			return route{kind: routeUploads, repo: repoOf(3)}, true
		}
		return route{kind: routeUpload, repo: repoOf(3), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		// POST /v2/<name>/blobs/uploads without the final slash.
		return route{kind: routeUploads, repo: repoOf(2)}, true
	case n >= 3 && segs[n-2] == "manifests" && segs[n-1] != "":
		return route{kind: routeManifest, repo: repoOf(2), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] != "":
		return route{kind: routeBlob, repo: repoOf(2), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "referrers" && segs[n-1] != "":
		return route{kind: routeReferrers, repo: repoOf(2), ref: segs[n-1]}, true
	}
	return route{}, false
}
