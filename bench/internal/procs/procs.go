// Package procs starts, measures and stops the processes a benchmark runs:
// daemons in a Group that stops all of them on the way out (also after a
// failure or an interrupt), CPU seconds and resident memory read from
// /proc, and one-shot commands timed with their peak RSS.
package procs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const StopTimeout = 15 * time.Second

// Group owns the daemons a benchmark started.
type Group struct {
	mu    sync.Mutex
	procs []*Proc // guarded by mu
}

// Proc is a started daemon.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{} // closed when the process has been waited for
}

// Start starts cmd as a daemon of the group. Its stdout and stderr go to
// logFile (and the last lines are kept for errors). The process gets
// SIGKILL if the benchmark dies without stopping it (Pdeathsig), and has
// its own process group so that a Ctrl-C of the terminal reaches only
// the benchmark, which then stops its daemons in order.
func (g *Group) Start(name string, cmd *exec.Cmd, logFile string) (*Proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	p := &Proc{Name: name, Cmd: cmd, log: &logBuffer{f: f}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.log
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.log
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// StopAll stops every running daemon of the group, the last started
// first, each within StopTimeout.
func (g *Group) StopAll() {
	g.mu.Lock()
	ps := append([]*Proc(nil), g.procs...)
	g.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(ps) - 1; i >= 0; i-- {
		wg.Add(1)
		go func(p *Proc) { defer wg.Done(); p.Stop() }(ps[i])
	}
	wg.Wait()
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, and SIGKILL after StopTimeout, and waits for the
// process to be gone.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		p.Kill()
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	p.Cmd.Process.Kill()
	<-p.done
}

// Tail returns the last lines the process wrote.
func (p *Proc) Tail() string { return p.log.tail() }

// WaitLine waits until the process writes a line containing one of the
// substrings of want and returns that line. It fails when the process
// exits, or after timeout.
func (p *Proc) WaitLine(ctx context.Context, timeout time.Duration, want ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if line, ok := p.log.find(want); ok {
			return line, nil
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited before printing %q: %s", p.Name, want, p.Tail())
		case <-ctx.Done():
			return "", fmt.Errorf("%s: no %q within %s: %w", p.Name, want, timeout, ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

// logBuffer writes a daemon's output to its log file and keeps what it
// wrote first (where the listen addresses are) and last (errors).
type logBuffer struct {
	mu   sync.Mutex
	f    io.Writer
	head bytes.Buffer // first headMax bytes
	last bytes.Buffer // recent output, trimmed to tailMax
}

const (
	headMax = 256 << 10
	tailMax = 8 << 10
)

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Write(b)
	if n := headMax - l.head.Len(); n > 0 {
		l.head.Write(b[:min(n, len(b))])
	}
	l.last.Write(b)
	if l.last.Len() > 2*tailMax {
		rest := append([]byte(nil), l.last.Bytes()[l.last.Len()-tailMax:]...)
		l.last.Reset()
		l.last.Write(rest)
	}
	return len(b), nil
}

func (l *logBuffer) find(want []string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.head.String(), "\n") {
		for _, w := range want {
			if strings.Contains(line, w) {
				return line, true
			}
		}
	}
	return "", false
}

func (l *logBuffer) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.last.String()
	if i := strings.LastIndexByte(s[:max(0, len(s)-2000)], '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// Measured is one command run to completion.
type Measured struct {
	Stdout string        // trimmed
	Wall   time.Duration // start to exit
	CPU    time.Duration // user + system
	RSS    int64         // peak resident bytes
}

// RunMeasured runs cmd, timing it, and returns its trimmed stdout, CPU
// time and peak RSS. Dirty pages left by whatever ran before are flushed
// first, so that a command writing to disk pays only for its own writes.
func RunMeasured(cmd *exec.Cmd) (Measured, error) {
	unix.Sync()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return Measured{}, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	m := Measured{Stdout: strings.TrimSpace(stdout.String()), Wall: wall,
		CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.RSS = ru.Maxrss << 10 // KiB on Linux
	}
	return m, nil
}

// Output runs a short command and returns its stdout, or an error with
// its stderr.
func Output(ctx context.Context, env []string, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ErrNotFound is returned by Usage for a process that is gone.
var ErrNotFound = errors.New("no such process")
