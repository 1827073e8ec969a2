// Package flotillatest starts real flotilla processes for tests: it builds
// the binary once per test binary, runs CLI commands against a data
// directory, and starts daemons on 127.0.0.1 with port 0, reading the bound
// addresses from listen.json instead of guessing free ports.
package flotillatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/flotilla (once per test process) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "flotilla-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "flotilla")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/flotilla")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Result is the outcome of one CLI run.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// CLI runs `flotilla --data dir args...` with stdin and returns its output.
func CLI(t testing.TB, dir string, stdin []byte, args ...string) Result {
	t.Helper()
	return run(t, dir, stdin, nil, args...)
}

// CLIEnv is CLI with extra environment variables (KEY=VALUE).
func CLIEnv(t testing.TB, dir string, env []string, args ...string) Result {
	t.Helper()
	return run(t, dir, nil, env, args...)
}

func run(t testing.TB, dir string, stdin []byte, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), append([]string{"--data", dir}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("flotilla %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// MustCLI is CLI that fails the test on a non-zero exit.
func MustCLI(t testing.TB, dir string, args ...string) string {
	t.Helper()
	r := CLI(t, dir, nil, args...)
	if r.Code != 0 {
		t.Fatalf("flotilla %s: exit %d: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// cleanEnv drops FLOTILLA_* variables of the developer's shell, so tests
// see only the settings they pass.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLOTILLA_") {
			env = append(env, kv)
		}
	}
	return env
}

// Daemon is a running `flotilla daemon` process.
type Daemon struct {
	t      testing.TB
	Dir    string
	Listen repo.Listen
	cmd    *exec.Cmd
	stderr *lockedWriter
	done   chan struct{}
}

// StartDaemon starts a daemon on dir with every HTTP service on
// 127.0.0.1:0 and the given extra flags (default: --offline). It returns
// once /ready answers 200.
func StartDaemon(t testing.TB, dir string, extra ...string) *Daemon {
	t.Helper()
	return StartDaemonEnv(t, dir, nil, extra...)
}

// StartDaemonEnv is StartDaemon with extra environment variables
// (KEY=VALUE), e.g. IPFS_NS_MAP.
func StartDaemonEnv(t testing.TB, dir string, env []string, extra ...string) *Daemon {
	t.Helper()
	return startDaemon(t, dir, "/ready", env, extra...)
}

// StartDaemonAlive is StartDaemonEnv that returns once the daemon is alive
// (/health answers 200), ready or not: for daemons that cannot become ready,
// such as a peer whose cluster never forms.
func StartDaemonAlive(t testing.TB, dir string, env []string, extra ...string) *Daemon {
	t.Helper()
	return startDaemon(t, dir, "/health", env, extra...)
}

func startDaemon(t testing.TB, dir, probe string, env []string, extra ...string) *Daemon {
	t.Helper()
	if len(extra) == 0 {
		extra = []string{"--offline"}
	}
	args := append([]string{"--data", dir, "--log-format", "json", "daemon",
		"--rpc-listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0",
		"--api-listen", "127.0.0.1:0", "--pinsvc-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0",
		// Before the caller's flags, which may override it (the last one wins).
		"--cluster-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	d := &Daemon{t: t, Dir: dir, cmd: cmd, stderr: &lockedWriter{}, done: make(chan struct{})}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.Stop() })

	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := repo.ReadListen(dir)
		if err == nil && l.PID == cmd.Process.Pid && l.Ops != "" {
			resp, err := http.Get("http://" + l.Ops + probe)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					d.Listen = l
					return d
				}
			}
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited during start: %s", d.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon's %s not 200 after 30s: %s", probe, d.Stderr())
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// Stderr returns what the daemon logged so far.
func (d *Daemon) Stderr() string {
	d.stderr.mu.Lock()
	defer d.stderr.mu.Unlock()
	return d.stderr.w.String()
}

// Stop sends SIGTERM and waits for the process to exit.
func (d *Daemon) Stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("daemon ignored SIGTERM for 20s")
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (d *Daemon) Kill() {
	d.cmd.Process.Kill()
	<-d.done
}

// Exited reports whether the process has ended.
func (d *Daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// RPC runs a CLI command against this daemon through --rpc.
func (d *Daemon) RPC(args ...string) Result {
	d.t.Helper()
	return CLI(d.t, d.t.TempDir(), nil, append([]string{"--rpc", d.Listen.RPC}, args...)...)
}

// API runs a cluster command (pin, status, peers, health, add with
// cluster options) against this daemon's REST API through --api.
func (d *Daemon) API(args ...string) Result {
	d.t.Helper()
	return CLI(d.t, d.t.TempDir(), nil, append(args, "--api", d.Listen.API)...)
}

// DecodeJSON unmarshals s into v, failing the test on error.
func DecodeJSON(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
