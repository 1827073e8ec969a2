package main_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// clusterFlags are the flags of a test cluster peer: online on loopback,
// no DHT, the shared secret, short failure timers.
func clusterFlags(secretFile, zone string, join string) []string {
	f := []string{"--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none",
		"--cluster-listen", "127.0.0.1:0", "--cluster-secret-file", secretFile, "--zone", zone,
		"--peername", zone, "--repair-after", "5s", "--dead-node-timeout", "1h"}
	if join != "" {
		f = append(f, "--join", join)
	}
	return f
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// Three real daemons form a cluster; one is killed with SIGKILL and comes
// back on the same directory and address: it keeps its identity and its
// pinset, catches up with what it missed, and holds its allocations.
func TestClusterOfProcessesSurvivesKill9(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(hex.EncodeToString([]byte("kill -9 cluster secret 32 bytes!"))), 0o600)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	d0 := ft.StartDaemon(t, dirs[0], clusterFlags(secret, "z1", "")...)
	d1 := ft.StartDaemon(t, dirs[1], clusterFlags(secret, "z2", d0.Listen.Cluster)...)
	d2 := ft.StartDaemon(t, dirs[2], clusterFlags(secret, "z3", d0.Listen.Cluster)...)

	// A pin through one peer is replicated to all three (default min 2,
	// max 3, capped by the cluster size).
	f := writeFile(t, "doc.txt", "replicated by flotilla\n")
	root := strings.TrimSpace(d1.RPC("add", "-Q", f).Stdout)
	if root == "" {
		t.Fatal("add returned no CID")
	}
	for _, d := range []*ft.Daemon{d0, d1, d2} {
		waitFor(t, 60*time.Second, "pin listed on every peer", func() error {
			if out := d.API("pin", "ls").Stdout; !strings.Contains(out, root) {
				return fmt.Errorf("%s: pin ls = %q", d.Dir, out)
			}
			return nil
		})
	}
	waitFor(t, 60*time.Second, "every peer holds the content", func() error {
		for _, d := range []*ft.Daemon{d0, d1, d2} {
			if r := d.RPC("cat", root); r.Stdout != "replicated by flotilla\n" {
				return fmt.Errorf("%s: cat = %q %s", d.Dir, r.Stdout, r.Stderr)
			}
		}
		return nil
	})

	addr := d2.Listen.Cluster
	d2.Kill()
	// Written while d2 is dead.
	f2 := writeFile(t, "later.txt", "written while a peer was dead\n")
	later := strings.TrimSpace(d0.RPC("add", "-Q", f2).Stdout)

	flags := clusterFlags(secret, "z3", d0.Listen.Cluster)
	flags[7] = addr // --cluster-listen: same address as before
	d2 = ft.StartDaemon(t, dirs[2], flags...)
	waitFor(t, 30*time.Second, "restarted peer catches up", func() error {
		out := d2.API("pin", "ls").Stdout
		if !strings.Contains(out, root) || !strings.Contains(out, later) {
			return fmt.Errorf("pin ls = %q", out)
		}
		return nil
	})
	waitFor(t, 30*time.Second, "restarted peer holds both pins", func() error {
		if r := d2.RPC("cat", later); r.Stdout != "written while a peer was dead\n" {
			return fmt.Errorf("cat later = %q %s", r.Stdout, r.Stderr)
		}
		return nil
	})
}

// A peer with another cluster secret is refused, stays unready, and says
// at Warn what to check.
func TestWrongSecretIsRefusedAndSaysWhy(t *testing.T) {
	dir := t.TempDir()
	secrets := []string{filepath.Join(dir, "right"), filepath.Join(dir, "wrong")}
	for i, f := range secrets {
		if err := os.WriteFile(f, []byte(strings.Repeat(fmt.Sprint(i+1), 64)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	member := ft.StartDaemon(t, filepath.Join(dir, "member"), clusterFlags(secrets[0], "z1", "")...)
	stranger := ft.StartDaemonAlive(t, filepath.Join(dir, "stranger"), nil, clusterFlags(secrets[1], "z2", member.Listen.Cluster)...)
	waitFor(t, 20*time.Second, "a warning naming the cluster secret", func() error {
		for _, line := range strings.Split(stranger.Stderr(), "\n") {
			if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "same cluster secret") {
				return nil
			}
		}
		return fmt.Errorf("stderr: %s", stranger.Stderr())
	})
	if code, body := get(t, "http://"+stranger.Listen.Ops+"/ready"); code != 503 {
		t.Errorf("/ready of the refused peer = %d %s, want 503", code, body)
	}
	if r := member.API("peers", "ls", "--json"); r.Code != 0 || len(strings.Split(strings.TrimSpace(r.Stdout), "\n")) != 1 {
		t.Errorf("the member's cluster: exit %d, %s; want itself alone", r.Code, r.Stdout)
	}
}
