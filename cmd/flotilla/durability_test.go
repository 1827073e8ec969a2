package main_test

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// An acknowledged add survives kill -9, and a kill in the middle of an add
// leaves a directory that the next start opens with no manual cleanup.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	start := func() *ft.Daemon { return ft.StartDaemon(t, dir) }
	testKill9(t, start, func() int { return countFiles(t, filepath.Join(dir, "blocks")) }, 20)
}

// testKill9 is the kill -9 test on any block store: start starts a daemon
// on the same data directory each time, written counts what the block
// store has written so far (files, requests), and the daemon is killed
// once it has written enough more of the large add.
func testKill9(t *testing.T, start func() *ft.Daemon, written func() int, enough int) {
	d := start()

	var acked []string
	for i := range 5 {
		f := writeFile(t, "f.bin", strings.Repeat(string(rune('a'+i)), 300_000+i))
		r := d.RPC("add", "-Q", f)
		if r.Code != 0 {
			t.Fatalf("add: %s", r.Stderr)
		}
		acked = append(acked, strings.TrimSpace(r.Stdout))
	}
	d.Kill()

	// Second round: kill while a large add is streaming in.
	d = start()
	big := filepath.Join(t.TempDir(), "big.bin")
	buf := make([]byte, 64<<20)
	rand.Read(buf)
	if err := os.WriteFile(big, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	add := exec.Command(ft.Binary(t), "--rpc", d.Listen.RPC, "add", "-Q", big)
	if err := add.Start(); err != nil {
		t.Fatal(err)
	}
	before := written()
	deadline := time.Now().Add(30 * time.Second)
	for written() < before+enough {
		if time.Now().After(deadline) {
			t.Fatal("the large add wrote no blocks within 30s")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	d.Kill()
	if err := add.Wait(); err == nil {
		t.Fatal("the add finished although its daemon was killed mid-way")
	}

	d = start()
	// An add through a daemon pins in the cluster: the cluster's pinset
	// has exactly the acknowledged adds, one JSON object per line.
	pins := d.API("pin", "ls", "--json").Stdout
	for _, c := range acked {
		if !strings.Contains(pins, `"cid":"`+c+`"`) {
			t.Errorf("acknowledged pin %s lost after kill -9:\n%s", c, pins)
		}
	}
	if n := strings.Count(pins, "\n"); n != len(acked) {
		t.Errorf("after the interrupted add there are %d pins, want the %d acknowledged ones:\n%s", n, len(acked), pins)
	}
	if r := d.RPC("pin", "verify"); r.Code != 0 {
		t.Errorf("pin verify after kill -9: %s %s", r.Stdout, r.Stderr)
	}
	if r := d.RPC("repo", "verify"); r.Code != 0 || !strings.Contains(r.Stdout, "all") {
		t.Errorf("repo verify after kill -9: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := d.RPC("gc"); r.Code != 0 {
		t.Errorf("gc after kill -9: %s", r.Stderr)
	}
	for _, c := range acked {
		if r := d.RPC("cat", c); r.Code != 0 || len(r.Stdout) < 300_000 {
			t.Errorf("cat %s after kill -9 and gc: exit %d, %d bytes", c, r.Code, len(r.Stdout))
		}
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n++
		}
		return nil
	})
	return n
}
