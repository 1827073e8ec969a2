//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
)

// TestDockerPushAndPullAcrossPeers has the real docker engine push an
// image it built to one peer's registry (loopback registries need no TLS),
// kills that peer, and pulls the image back from another: the push was
// acknowledged only once replicated. It runs three real daemons on this
// machine, not the compose stack, and takes well under a minute.
func TestDockerPushAndPullAcrossPeers(t *testing.T) {
	requireDocker(t)
	secret := filepath.Join(t.TempDir(), "secret")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := func(zone, join string) []string {
		f := []string{"--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none",
			"--cluster-listen", "127.0.0.1:0", "--cluster-secret-file", secret, "--zone", zone, "--peername", zone}
		if join != "" {
			f = append(f, "--join", join)
		}
		return f
	}
	d0 := ft.StartDaemon(t, t.TempDir(), flags("z1", "")...)
	d1 := ft.StartDaemon(t, t.TempDir(), flags("z2", d0.Listen.Cluster)...)
	d2 := ft.StartDaemon(t, t.TempDir(), flags("z3", d0.Listen.Cluster)...)
	waitMembers(t, 3, d1.Listen.API, d2.Listen.API)

	// An image docker builds from nothing: no base image to pull.
	dir := t.TempDir()
	payload := make([]byte, 3<<20)
	rand.Read(payload)
	if err := os.WriteFile(filepath.Join(dir, "data.bin"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from flotilla\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY hello.txt data.bin /\n"), 0o644)
	name := fmt.Sprintf("e2e/app-%d", time.Now().UnixNano())
	pushRef := d0.Listen.Registry + "/" + name + ":v1"
	pullRef := d1.Listen.Registry + "/" + name + ":v1"
	t.Cleanup(func() { dockerRun(t, 30*time.Second, "rmi", "-f", pushRef, pullRef) })
	if out, err := dockerRun(t, 2*time.Minute, "build", "-q", "-t", pushRef, dir); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	start := time.Now()
	out, err := dockerRun(t, 2*time.Minute, "push", pushRef)
	if err != nil {
		t.Fatalf("docker push: %v\n%s", err, out)
	}
	pushed := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	if pushed == nil {
		t.Fatalf("docker push printed no digest:\n%s", out)
	}
	t.Logf("docker push to peer z1: %s (%s)", time.Since(start).Round(time.Millisecond), pushed[1])

	d0.Kill()
	dockerRun(t, 30*time.Second, "rmi", "-f", pushRef)
	start = time.Now()
	out, err = dockerRun(t, 2*time.Minute, "pull", pullRef)
	if err != nil {
		t.Fatalf("docker pull from peer z2 after z1 was killed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Digest: "+pushed[1]) {
		t.Fatalf("docker pull: want digest %s:\n%s", pushed[1], out)
	}
	t.Logf("docker pull from peer z2, z1 killed: %s", time.Since(start).Round(time.Millisecond))

	// The files came back whole.
	ctr, err := dockerRun(t, 30*time.Second, "create", pullRef, "/none")
	if err != nil {
		t.Fatalf("docker create: %v\n%s", err, ctr)
	}
	ctr = strings.TrimSpace(ctr)
	defer dockerRun(t, 30*time.Second, "rm", "-f", ctr) // best effort
	got := filepath.Join(t.TempDir(), "data.bin")
	if out, err := dockerRun(t, 30*time.Second, "cp", ctr+":/data.bin", got); err != nil {
		t.Fatalf("docker cp: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, payload) {
		t.Fatalf("data.bin pulled back differs (%d bytes, want %d)", len(b), len(payload))
	}
	// And the third peer serves it too.
	if r := ft.CLI(t, t.TempDir(), nil, "image", "cid", "--registry", d2.Listen.Registry, name+":v1"); r.Code != 0 || !strings.Contains(r.Stdout, pushed[1]) {
		t.Fatalf("image cid through z3: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// requireDocker fails in CI, and skips elsewhere, without a docker engine.
func requireDocker(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("docker", "version").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("docker is not usable (%v: %s)", err, bytes.TrimSpace(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipped outside CI")
	}
}

// dockerRun runs a docker command, bounded in time.
func dockerRun(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return string(out), err
}

// waitMembers waits until every REST API lists n peers.
func waitMembers(t *testing.T, n int, apis ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, api := range apis {
		for {
			resp, err := http.Get("http://" + api + "/peers")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// One NDJSON line per member.
				if strings.Count(strings.TrimSpace(string(body)), "\n")+1 >= n && resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not list %d peers", api, n)
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
	}
}

// stackImage is an image docker built and pushed through the compose
// stack's load balancer.
type stackImage struct {
	ref, digest string
	payload     []byte // data.bin in the image
	config      string // DOCKER_CONFIG holding the login to the stack's registry
}

// registryLB is the stack's registry, through the load balancer.
const registryLB = "127.0.0.1:5000"

// pushImage logs docker in to the stack's registry (in a DOCKER_CONFIG of
// the test's own, not the user's), builds an image of two layers and
// pushes it through the load balancer, whose round robin spreads the
// requests of each upload over the nodes. It checks that uploads were
// handed between nodes: their registry-handoff services served requests.
func (s *stack) pushImage() stackImage {
	t := s.t
	t.Helper()
	img := stackImage{config: t.TempDir(), payload: make([]byte, 3<<20)}
	user, password, _ := strings.Cut(s.cred, ":")
	login := exec.Command("docker", "--config", img.config, "login", "-u", user, "--password-stdin", registryLB)
	login.Stdin = strings.NewReader(password)
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("docker login %s: %v\n%s", registryLB, err, out)
	}
	dir := t.TempDir()
	rand.Read(img.payload)
	os.WriteFile(filepath.Join(dir, "data.bin"), img.payload, 0o644)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from the flotilla stack\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY data.bin /\nCOPY hello.txt /\n"), 0o644)
	img.ref = fmt.Sprintf("%s/e2e/stack-%d:v1", registryLB, time.Now().UnixNano())
	t.Cleanup(func() { dockerRun(t, 30*time.Second, "rmi", "-f", img.ref) })
	if out, err := dockerRun(t, 2*time.Minute, "build", "-q", "-t", img.ref, dir); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	before := s.handoffs()
	start := time.Now()
	out, err := dockerRun(t, 2*time.Minute, "--config", img.config, "push", img.ref)
	if err != nil {
		t.Fatalf("docker push %s: %v\n%s", img.ref, err, out)
	}
	m := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("docker push printed no digest:\n%s", out)
	}
	img.digest = m[1]
	handed := s.handoffs() - before
	t.Logf("docker push through the load balancer: %s (%s), %d upload requests handed between nodes", time.Since(start).Round(time.Millisecond), img.digest, handed)
	if handed == 0 {
		t.Fatal("no upload request was handed between nodes: the round robin never split an upload, and the push proves nothing about it")
	}
	return img
}

// pullImage removes the image from docker and pulls it back through the
// load balancer: same digest, data.bin whole.
func (s *stack) pullImage(img stackImage) {
	t := s.t
	t.Helper()
	dockerRun(t, 30*time.Second, "rmi", "-f", img.ref)
	start := time.Now()
	out, err := dockerRun(t, 2*time.Minute, "--config", img.config, "pull", img.ref)
	if err != nil {
		t.Fatalf("docker pull %s: %v\n%s", img.ref, err, out)
	}
	if !strings.Contains(out, "Digest: "+img.digest) {
		t.Fatalf("docker pull: want digest %s:\n%s", img.digest, out)
	}
	// Every layer came from the registry, none from docker's own store.
	if strings.Contains(out, "Already exists") || strings.Count(out, "Pull complete") != 2 {
		t.Fatalf("docker pull: want both layers pulled, none already there:\n%s", out)
	}
	t.Logf("docker pull through the load balancer: %s", time.Since(start).Round(time.Millisecond))
	ctr, err := dockerRun(t, 30*time.Second, "create", img.ref, "/none")
	if err != nil {
		t.Fatalf("docker create: %v\n%s", err, ctr)
	}
	ctr = strings.TrimSpace(ctr)
	defer dockerRun(t, 30*time.Second, "rm", "-f", ctr) // best effort
	got := filepath.Join(t.TempDir(), "data.bin")
	if out, err := dockerRun(t, 30*time.Second, "cp", ctr+":/data.bin", got); err != nil {
		t.Fatalf("docker cp: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, img.payload) {
		t.Fatalf("data.bin pulled back differs (%d bytes, want %d)", len(b), len(img.payload))
	}
}

// handoffs sums, over the nodes that answer, the requests their
// registry-handoff service served (from /metrics on the ops port).
func (s *stack) handoffs() int {
	total := 0
	c := http.Client{Timeout: 5 * time.Second}
	for _, n := range nodes {
		resp, err := c.Get("http://" + s.nodeAddr(n) + ":9090/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if !strings.HasPrefix(line, "flotilla_http_requests_total{") || !strings.Contains(line, `service="registry-handoff"`) {
				continue
			}
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
				total += int(v)
			}
		}
	}
	return total
}
