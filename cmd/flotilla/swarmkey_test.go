package main_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

func writeSwarmKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	p := filepath.Join(t.TempDir(), "swarm.key")
	os.WriteFile(p, []byte("/key/swarm/psk/1.0.0/\n/base16/\n"+hex.EncodeToString(key)+"\n"), 0o600)
	return p
}

// Peers sharing a swarm key exchange content; a peer without it cannot even
// connect.
func TestPrivateSwarm(t *testing.T) {
	key := writeSwarmKey(t)
	flags := []string{"--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none", "--swarm-key", key}
	a := ft.StartDaemon(t, t.TempDir(), flags...)
	b := ft.StartDaemon(t, t.TempDir(), flags...)
	outsider := ft.StartDaemon(t, t.TempDir(), "--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none")

	f := writeFile(t, "secret.txt", "members only\n")
	root := strings.TrimSpace(a.RPC("add", "-Q", f).Stdout)
	if r := b.RPC("swarm", "connect", a.Listen.Swarm[0]); r.Code != 0 {
		t.Fatalf("member connect: %s", r.Stderr)
	}
	if r := b.RPC("cat", root); r.Code != 0 || r.Stdout != "members only\n" {
		t.Fatalf("member cat: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := outsider.RPC("swarm", "connect", a.Listen.Swarm[0]); r.Code == 0 {
		t.Fatal("a peer without the swarm key connected to the private swarm")
	}
}
