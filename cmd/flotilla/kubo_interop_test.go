package main_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
	"github.com/flotilla-ipfs/flotilla/internal/kubotest"
)

// Content moves both ways over bitswap between flotilla and a real kubo
// 0.43 daemon, on loopback, with no DHT: each side finds the other as a
// connected peer.
func TestBitswapWithKubo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kubo; skipped in -short mode")
	}
	kubo := kubotest.New(t, "test")
	kd := kubo.StartDaemon()
	fl := ft.StartDaemon(t, t.TempDir(), "--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none")
	if len(fl.Listen.Swarm) == 0 {
		t.Fatal("flotilla daemon reports no swarm address")
	}

	// kubo fetches what flotilla added.
	ours := make([]byte, 3<<20)
	rand.Read(ours)
	oursFile := filepath.Join(t.TempDir(), "ours.bin")
	os.WriteFile(oursFile, ours, 0o644)
	r := fl.RPC("add", "-Q", "--cid-version=1", oursFile)
	if r.Code != 0 {
		t.Fatalf("flotilla add: %s", r.Stderr)
	}
	oursCid := strings.TrimSpace(r.Stdout)
	kubo.Run("swarm", "connect", fl.Listen.Swarm[0])
	if got := kubo.Run("cat", oursCid); !bytes.Equal([]byte(got), ours) {
		t.Fatalf("kubo cat %s returned %d bytes, want the %d flotilla added", oursCid, len(got), len(ours))
	}

	// flotilla fetches and pins what kubo added.
	theirs := make([]byte, 2<<20+12345)
	rand.Read(theirs)
	theirsFile := filepath.Join(t.TempDir(), "theirs.bin")
	os.WriteFile(theirsFile, theirs, 0o644)
	theirsCid := strings.TrimSpace(kubo.Run("add", "-Q", theirsFile))
	if r := fl.RPC("swarm", "connect", kd.Swarm[0]); r.Code != 0 {
		t.Fatalf("flotilla swarm connect: %s", r.Stderr)
	}
	if r := fl.API("pin", "add", "--wait", "--wait-timeout", "1m", theirsCid); r.Code != 0 {
		t.Fatalf("flotilla pin add %s from kubo: %s", theirsCid, r.Stderr)
	}
	kubo.Run("pin", "rm", theirsCid)
	kubo.Run("repo", "gc")
	// The bytes now come from flotilla's own store, kubo no longer has them.
	if r := fl.RPC("cat", theirsCid); r.Code != 0 || !bytes.Equal([]byte(r.Stdout), theirs) {
		t.Fatalf("flotilla cat %s: exit %d, %d bytes, want %d", theirsCid, r.Code, len(r.Stdout), len(theirs))
	}
	if peers := fl.RPC("swarm", "peers").Stdout; !strings.Contains(peers, kd.ID) {
		t.Fatalf("swarm peers does not list kubo %s:\n%s", kd.ID, peers)
	}
}
