// Package kubotest runs a real Kubo (built by `make tools`) for interop
// tests: as a CLI on a throwaway repo, or as a daemon on loopback.
package kubotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Binary returns the path of the kubo binary, failing the test with the
// command that builds it when it is missing.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FLOTILLA_KUBO"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", ".tools", "bin", "ipfs")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kubo binary not found at %s: run `make tools` (or set FLOTILLA_KUBO)", p)
	}
	return p
}

// Kubo is one kubo repository.
type Kubo struct {
	t    testing.TB
	bin  string
	Path string // IPFS_PATH
}

// New initialises a fresh kubo repository with the given profiles (e.g.
// "test", "unixfs-v1-2025").
func New(t testing.TB, profiles ...string) *Kubo {
	t.Helper()
	k := &Kubo{t: t, bin: Binary(t), Path: t.TempDir()}
	args := []string{"init", "--empty-repo"}
	if len(profiles) > 0 {
		args = append(args, "--profile="+strings.Join(profiles, ","))
	}
	k.Run(args...)
	return k
}

// Run runs a kubo command against the repository and returns its stdout,
// failing the test on a non-zero exit.
func (k *Kubo) Run(args ...string) string {
	k.t.Helper()
	out, err := k.Try(args...)
	if err != nil {
		k.t.Fatalf("ipfs %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Try runs a kubo command and returns its stdout, or an error carrying
// its stderr.
func (k *Kubo) Try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = append(os.Environ(), "IPFS_PATH="+k.Path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// SetConfig sets a kubo config key to a JSON value.
func (k *Kubo) SetConfig(key string, value any) {
	k.t.Helper()
	raw, err := json.Marshal(value)
	if err != nil {
		k.t.Fatal(err)
	}
	k.Run("config", "--json", key, string(raw))
}

// Daemon is a running kubo daemon.
type Daemon struct {
	*Kubo
	Swarm []string // swarm multiaddrs with /p2p/
	ID    string
	cmd   *exec.Cmd
	done  chan struct{}
}

// StartDaemon runs `ipfs daemon` on the repository (which should carry the
// "test" profile: loopback only, no bootstrap, no discovery) and waits until
// its API answers.
func (k *Kubo) StartDaemon() *Daemon {
	k.t.Helper()
	k.SetConfig("Routing.Type", "none")
	cmd := exec.Command(k.bin, "daemon")
	cmd.Env = append(os.Environ(), "IPFS_PATH="+k.Path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	d := &Daemon{Kubo: k, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	k.t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-d.done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(k.Path, "api")); err == nil {
			if raw, err := k.Try("id"); err == nil {
				var id struct {
					ID        string
					Addresses []string
				}
				if json.Unmarshal([]byte(raw), &id) == nil && len(id.Addresses) > 0 {
					d.ID, d.Swarm = id.ID, id.Addresses
					return d
				}
			}
		}
		select {
		case <-d.done:
			k.t.Fatalf("kubo daemon exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("kubo daemon not ready after 60s")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
