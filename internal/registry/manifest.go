package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
)

// Manifest media types the registry stores: OCI's image manifest and
// index, and Docker's schema 2 manifest and manifest list (what docker
// pushes). Anything else is refused: the registry must understand a
// manifest to know what it references and so what its pin covers.
const (
	mediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// isIndex reports whether a manifest media type lists other manifests.
func isIndex(mediaType string) bool {
	return mediaType == mediaOCIIndex || mediaType == mediaDockerList
}

func knownManifest(mediaType string) bool {
	switch mediaType {
	case mediaOCIManifest, mediaOCIIndex, mediaDockerManifest, mediaDockerList:
		return true
	}
	return false
}

// maxManifestSize bounds a manifest body: it is read into memory, and the
// spec lets registries refuse large ones (distribution takes 4 MiB).
const maxManifestSize = 4 << 20

// descriptor is the spec's content descriptor, with the fields the
// registry reads or answers in a referrers list.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Platform     json.RawMessage   `json:"platform,omitempty"`
}

// manifestDoc is the union of an image manifest and an index: the fields
// the registry needs of either.
type manifestDoc struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// manifest is what the registry keeps of a parsed manifest.
type manifest struct {
	mediaType string
	// artifactType is what a referrers list says of it: the manifest's
	// own, or for an image manifest its config's media type (spec,
	// "Listing Referrers").
	artifactType string
	subject      *descriptor
	annotations  map[string]string
	// blobs must be in the repository before the manifest: the config and
	// the layers, except non-distributable ones (whose content lives
	// elsewhere, at their URLs).
	blobs []descriptor
	// children are the manifests an index lists; they must be pushed
	// first.
	children []descriptor
}

// parseManifest validates body as a manifest of one of the known media
// types. contentType is the request's Content-Type: when the body names
// its media type too, the two must agree; when neither does, it is an OCI
// image manifest (the spec's default for a body without mediaType).
func parseManifest(body []byte, contentType string) (manifest, error) {
	var doc manifestDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return manifest{}, fmt.Errorf("not a JSON manifest: %v", err)
	}
	if dec.More() {
		return manifest{}, fmt.Errorf("not a JSON manifest: data after the object")
	}
	if doc.SchemaVersion == nil || *doc.SchemaVersion != 2 {
		return manifest{}, fmt.Errorf("schemaVersion must be 2")
	}
	// The body's mediaType wins over a generic Content-Type; a specific
	// one must agree with it.
	mt, ct := doc.MediaType, baseMediaType(contentType)
	generic := ct == "" || ct == "application/json" || ct == "application/octet-stream"
	switch {
	case mt != "" && !generic && ct != mt:
		return manifest{}, fmt.Errorf("Content-Type %q differs from the manifest's mediaType %q", ct, mt)
	case mt == "" && !generic:
		mt = ct
	case mt == "":
		mt = mediaOCIManifest
	}
	if !knownManifest(mt) {
		return manifest{}, fmt.Errorf("unsupported manifest media type %q (want %s, %s, %s or %s)", mt, mediaOCIManifest, mediaOCIIndex, mediaDockerManifest, mediaDockerList)
	}
	m := manifest{mediaType: mt, artifactType: doc.ArtifactType, annotations: doc.Annotations}
	if doc.Subject != nil {
		if err := checkDescriptor(*doc.Subject); err != nil {
			return manifest{}, fmt.Errorf("subject: %v", err)
		}
		m.subject = doc.Subject
	}
	if isIndex(mt) {
		if doc.Config != nil || doc.Layers != nil {
			return manifest{}, fmt.Errorf("an index has no config or layers")
		}
		if doc.Manifests == nil {
			return manifest{}, fmt.Errorf("an index needs a manifests list")
		}
		for i, d := range doc.Manifests {
			if err := checkDescriptor(d); err != nil {
				return manifest{}, fmt.Errorf("manifests[%d]: %v", i, err)
			}
		}
		m.children = doc.Manifests
		return m, nil
	}
	if doc.Manifests != nil {
		return manifest{}, fmt.Errorf("an image manifest has no manifests list")
	}
	if doc.Config == nil {
		return manifest{}, fmt.Errorf("an image manifest needs a config")
	}
	if err := checkDescriptor(*doc.Config); err != nil {
		return manifest{}, fmt.Errorf("config: %v", err)
	}
	if m.artifactType == "" {
		m.artifactType = doc.Config.MediaType
	}
	m.blobs = append(m.blobs, *doc.Config)
	for i, d := range doc.Layers {
		if err := checkDescriptor(d); err != nil {
			return manifest{}, fmt.Errorf("layers[%d]: %v", i, err)
		}
		if nonDistributable(d.MediaType) {
			continue
		}
		m.blobs = append(m.blobs, d)
	}
	return m, nil
}

func checkDescriptor(d descriptor) error {
	if d.MediaType == "" {
		return fmt.Errorf("a descriptor needs a mediaType")
	}
	if _, ok := parseDigest(d.Digest); !ok {
		return fmt.Errorf("invalid digest %q", d.Digest)
	}
	if d.Size < 0 {
		return fmt.Errorf("negative size %d", d.Size)
	}
	return nil
}

// nonDistributable layers (OCI's deprecated nondistributable types,
// Docker's foreign layers) are not pushed: the manifest may name them
// without the registry holding them.
func nonDistributable(mediaType string) bool {
	return strings.Contains(mediaType, ".nondistributable.") || strings.Contains(mediaType, ".foreign.")
}

// baseMediaType is a Content-Type without its parameters, or "" when
// there is none.
func baseMediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.TrimSpace(strings.ToLower(ct))
	}
	return mt
}
