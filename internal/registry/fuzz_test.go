package registry

import (
	"strings"
	"testing"
)

// FuzzManifest feeds arbitrary bodies and Content-Types to the manifest
// parser: it never panics, and what it accepts is a known manifest type
// whose every referenced digest parses, with no negative size.
func FuzzManifest(f *testing.F) {
	for _, seed := range []struct{ body, ct string }{
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha512:` + strings.Repeat("b", 128) + `","size":3}]}`, ""},
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("c", 64) + `","size":5,"platform":{"os":"linux"}}],"subject":{"mediaType":"x","digest":"sha256:` + strings.Repeat("d", 64) + `","size":1}}`, mediaOCIIndex},
		{`{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:00","size":-1}}`, "application/json"},
		{`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"sha256:` + strings.Repeat("e", 64) + `","size":1,"urls":["https://x"]}]}`, mediaDockerManifest},
		{`[]`, ""}, {`{"schemaVersion":2}`, mediaDockerList}, {`{} {}`, ""},
	} {
		f.Add([]byte(seed.body), seed.ct)
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		m, err := parseManifest(body, ct)
		if err != nil {
			return
		}
		if !knownManifest(m.mediaType) {
			t.Fatalf("accepted media type %q", m.mediaType)
		}
		all := append(append([]descriptor{}, m.blobs...), m.children...)
		if m.subject != nil {
			all = append(all, *m.subject)
		}
		for _, d := range all {
			if _, ok := parseDigest(d.Digest); !ok || d.Size < 0 || d.MediaType == "" {
				t.Fatalf("accepted descriptor %+v", d)
			}
		}
		for _, d := range m.blobs[min(1, len(m.blobs)):] { // layers: the config comes first
			if nonDistributable(d.MediaType) {
				t.Fatalf("a non-distributable layer is required: %+v", d)
			}
		}
		if isIndex(m.mediaType) != (m.blobs == nil) {
			t.Fatalf("%s with blobs %v", m.mediaType, m.blobs)
		}
	})
}

// FuzzRoute checks the path parser: whatever it accepts names a route
// kind with its methods, and the repository and reference rebuild the
// path.
func FuzzRoute(f *testing.F) {
	for _, p := range []string{"/v2/", "/v2/_catalog", "/v2/a/b/manifests/latest", "/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/123",
		"/v2/a/blobs/sha256:00", "/v2/a/tags/list", "/v2/a/referrers/sha256:00", "/v2/blobs/blobs/uploads", "/v2//manifests/x", "/x"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, ok := parseRoute(p)
		if !ok {
			return
		}
		if _, known := methods[rt.kind]; !known {
			t.Fatalf("%q: unknown kind %q", p, rt.kind)
		}
		if strings.Contains(rt.ref, "/") {
			t.Fatalf("%q: reference %q holds a slash", p, rt.ref)
		}
		if rt.kind != routeBase && rt.kind != routeCatalog && !strings.HasPrefix(p, "/v2/"+rt.repo+"/") {
			t.Fatalf("%q: repository %q is not the path's", p, rt.repo)
		}
	})
}
