package main_test

import (
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// TestImageCid pushes an image to a daemon's registry and checks what
// `flotilla image cid` prints: the pinned directory, the manifest, the
// config and each layer, every layer's CID being the one `flotilla add`
// (Kubo's) gives its bytes, and the directory a pin of the cluster named
// after the tag.
func TestImageCid(t *testing.T) {
	d := ft.StartDaemon(t, t.TempDir())
	img, err := random.Image(300<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(d.Listen.Registry+"/cli/app:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Digest string `json:"digest"`
		Root   string `json:"root"`
		Parts  []struct {
			Kind, Digest, Cid string
		} `json:"parts"`
	}
	ft.DecodeJSON(t, ft.MustCLI(t, d.Dir, "--json", "image", "cid", "cli/app:v1"), &got)
	want, _ := img.Digest()
	if got.Digest != want.String() || got.Root == "" || len(got.Parts) != 5 {
		t.Fatalf("image cid --json: %+v", got)
	}
	layers, _ := img.Layers()
	for i, l := range layers {
		part := got.Parts[2+i]
		ld, _ := l.Digest()
		if part.Kind != "layer" || part.Digest != ld.String() {
			t.Fatalf("part %d: %+v, want layer %s", 2+i, part, ld)
		}
		rc, _ := l.Compressed()
		b, _ := io.ReadAll(rc)
		rc.Close()
		kubo := strings.TrimSpace(d.RPC("add", "-Q", "--only-hash", writeFile(t, "layer", string(b))).Stdout)
		if part.Cid != kubo {
			t.Fatalf("layer %d: CID %s, add gives %s", i, part.Cid, kubo)
		}
	}
	text := ft.MustCLI(t, d.Dir, "image", "cid", "cli/app:v1")
	if !strings.Contains(text, got.Root+"  image") || strings.Count(text, "layer") != 3 {
		t.Fatalf("image cid:\n%s", text)
	}
	pins := d.API("pin", "ls")
	if pins.Code != 0 || !strings.Contains(pins.Stdout, got.Root) || !strings.Contains(pins.Stdout, "cli/app:v1") {
		t.Fatalf("pin ls: %d\n%s%s", pins.Code, pins.Stdout, pins.Stderr)
	}
	if r := ft.CLI(t, d.Dir, nil, "image", "cid", "cli/app:nope"); r.Code == 0 || !strings.Contains(r.Stderr, "MANIFEST_UNKNOWN") {
		t.Fatalf("unknown tag: exit %d %s", r.Code, r.Stderr)
	}
}
