package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// `pin add --from` moves a pinset in bulk through a follower: every good
// line is pinned (with the options a JSON line carries), the bad one is
// reported with its number and fails the command, and the cluster lists
// exactly the good ones. The same from stdin with --json answers line by
// line.
func TestPinAddFrom(t *testing.T) {
	d0, d1 := startTwoPeers(t)

	const n = 20000
	var b strings.Builder
	for i := range n {
		h, _ := mh.Sum(fmt.Appendf(nil, "migrated %d", i), mh.SHA2_256, -1)
		c := cid.NewCidV1(cid.Raw, h).String()
		switch i {
		case 7:
			fmt.Fprintf(&b, `{"cid":%q,"name":"seventh","replication_factor_min":1,"replication_factor_max":1,"metadata":{"from":"elsewhere"}}`+"\n", c)
		case 11:
			b.WriteString("not-a-cid\n")
		default:
			b.WriteString(c + "\n")
		}
	}
	file := filepath.Join(t.TempDir(), "pins.ndjson")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := ft.CLI(t, t.TempDir(), nil, "pin", "add", "--from", file, "--api", d1.Listen.API)
	if r.Code != 1 || !strings.Contains(r.Stderr, "line 12 (not-a-cid):") || !strings.Contains(r.Stdout, fmt.Sprintf("pinned %d, failed 1", n-1)) {
		t.Fatalf("pin add --from: exit %d\nstdout %q\nstderr %q", r.Code, r.Stdout, r.Stderr)
	}
	pins := jsonLines(t, mustAPI(t, d0, "--json", "pin", "ls"))
	if len(pins) != n-1 {
		t.Fatalf("%d pins listed, want %d", len(pins), n-1)
	}
	for _, p := range pins {
		if p["name"] == "seventh" {
			if p["replication_factor_max"] != 1.0 || p["metadata"].(map[string]any)["from"] != "elsewhere" {
				t.Fatalf("pin of the JSON line = %v", p)
			}
		}
	}

	r = ft.CLI(t, t.TempDir(), []byte("bafkqaaa\n\n"+"QmBad\n"), "--json", "pin", "add", "--from", "-", "--api", d0.Listen.API)
	answers := jsonLines(t, r.Stdout)
	if r.Code != 1 || len(answers) != 2 || answers[0]["line"] != 1.0 || answers[0]["error"] != nil || answers[1]["line"] != 3.0 || answers[1]["code"] != 400.0 {
		t.Fatalf("pin add --from - --json: exit %d, answers %v, stderr %q", r.Code, answers, r.Stderr)
	}
}
