//go:build e2e

package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// project is the compose project of the test's stack: its containers,
// networks and volumes are apart from a developer's `make compose-up`
// stack (project flotilla), though the published ports are the same.
const project = "flotilla-e2e"

// Timers of the test's stack, short so that the whole test stays within
// ten minutes; the local stack keeps the daemon's defaults.
const (
	repairAfter     = 15 * time.Second
	deadNodeTimeout = 45 * time.Second
)

// The daemon's defaults the timers count from: a peer is down for the time
// since its last heartbeat, and a peer that says it is leaving counts as
// silent for downAfter already.
const (
	heartbeat = time.Second
	downAfter = 4 * time.Second
)

var nodes = []string{"node-a", "node-b", "node-c"}

// stack drives the compose stack of deploy/compose.yaml, and with storage
// s3 its S3 variant (compose.s3.yaml laid over it).
type stack struct {
	t       *testing.T
	storage string // "" (flatfs) or "s3": FLOTILLA_STORAGE of compose.sh
	secrets string // the generated secrets directory
	cred    string // admin:password
	ctlBin  string // ipfs-cluster-ctl
	kuboBin string // Kubo's ipfs
	flBin   string // the flotilla binary the image holds
	client  *http.Client
}

// requireTools fails, in CI, or skips, elsewhere, when the Docker engine is
// missing; the images must have been built (make compose-test builds them),
// the S3 server's too for storage s3.
func requireTools(t *testing.T, storage string) *stack {
	t.Helper()
	for _, tool := range []string{"docker", "docker-compose"} {
		if out, err := exec.Command(tool, "version").CombinedOutput(); err != nil {
			msg := fmt.Sprintf("%s is not usable (%v: %s): the e2e test needs a Docker engine and docker-compose", tool, err, bytes.TrimSpace(out))
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg + "; skipped outside CI")
		}
	}
	images := []string{"flotilla:latest", "flotilla-lb:v2.11.9"}
	if storage == "s3" {
		images = append(images, s3Image)
	}
	for _, img := range images {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Fatalf("image %s is missing: run make image lb-image s3-image (make compose-test does)", img)
		}
	}
	s := &stack{t: t, storage: storage, client: &http.Client{Timeout: 30 * time.Second}}
	for _, v := range []struct {
		env string
		to  *string
	}{{"FLOTILLA_BIN", &s.flBin}, {"FLOTILLA_CLUSTER_CTL", &s.ctlBin}, {"FLOTILLA_KUBO", &s.kuboBin}} {
		*v.to = os.Getenv(v.env)
		if *v.to == "" {
			t.Fatalf("%s is not set: run the test through make compose-test", v.env)
		}
		if _, err := os.Stat(*v.to); err != nil {
			t.Fatalf("%s: %v", v.env, err)
		}
	}
	return s
}

// up starts the stack from nothing (what a failed earlier run may have
// left is wiped first) with fresh secrets, tears it down when the test
// ends, and reads the admin credentials.
func (s *stack) up() {
	t := s.t
	s.secrets = filepath.Join(t.TempDir(), "secrets")
	s.script("down", "wipe")
	start := time.Now()
	t.Logf("%s", strings.TrimSpace(s.script("up")))
	t.Logf("compose up to a ready cluster (%s): %s", cmp.Or(s.storage, "flatfs"), time.Since(start).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			s.logs()
		}
		s.script("down", "wipe")
	})
	raw, err := os.ReadFile(filepath.Join(s.secrets, "admin.credentials"))
	if err != nil {
		t.Fatal(err)
	}
	s.cred = strings.TrimSpace(string(raw))
}

// env is the environment of compose.sh and docker-compose.
func (s *stack) env() []string {
	return append(os.Environ(),
		"FLOTILLA_PROJECT="+project,
		"FLOTILLA_STORAGE="+s.storage,
		"FLOTILLA_SECRETS="+s.secrets,
		"FLOTILLA_BIN="+s.flBin,
		"FLOTILLA_REPAIR_AFTER="+repairAfter.String(),
		"FLOTILLA_DEAD_NODE_TIMEOUT="+deadNodeTimeout.String(),
	)
}

// script runs deploy/compose.sh.
func (s *stack) script(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("../compose.sh", args...)
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("compose.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// composeArgs names the test's project and its compose files.
func (s *stack) composeArgs(args ...string) []string {
	files := []string{"-p", project, "-f", "../compose.yaml"}
	if s.storage == "s3" {
		files = append(files, "-f", "../compose.s3.yaml")
	}
	return append(files, args...)
}

// compose runs docker-compose on the test's project.
func (s *stack) compose(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("docker-compose", s.composeArgs(args...)...)
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// container is the ID of a service's container.
func (s *stack) container(svc string) string {
	s.t.Helper()
	id := strings.TrimSpace(s.compose("ps", "-q", svc))
	if id == "" {
		s.t.Fatalf("service %s has no container", svc)
	}
	return id
}

// network is the docker name of one of the stack's networks.
func network(name string) string { return project + "_" + name }

// nodeAddr is a node's address on its zone network, where the host (and
// the load balancer) reach it whatever happens to the shared network.
func (s *stack) nodeAddr(svc string) string {
	s.t.Helper()
	zone := "zone-" + strings.TrimPrefix(svc, "node-")
	var nets map[string]struct{ IPAddress string }
	raw := docker(s.t, "inspect", "--format", "{{json .NetworkSettings.Networks}}", s.container(svc))
	if err := json.Unmarshal([]byte(raw), &nets); err != nil {
		s.t.Fatalf("docker inspect %s: %v: %s", svc, err, raw)
	}
	n, ok := nets[network(zone)]
	if !ok || n.IPAddress == "" {
		s.t.Fatalf("%s has no address on %s: %s", svc, network(zone), raw)
	}
	return n.IPAddress
}

// ready reports whether a node's /ready answers 200.
func (s *stack) ready(addr string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + ":9090/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// eventually polls cond until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = cond(); err == nil {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
	return 0
}

func (s *stack) waitReady(svc string, timeout time.Duration) time.Duration {
	s.t.Helper()
	return eventually(s.t, timeout, svc+" ready", func() error {
		if !s.ready(s.nodeAddr(svc)) {
			return errors.New("/ready is not 200")
		}
		return nil
	})
}

// ctl runs ipfs-cluster-ctl against the load balancer.
func (s *stack) ctl(args ...string) (string, error) {
	return s.ctlAt("127.0.0.1", args...)
}

// ctlAt runs ipfs-cluster-ctl against the REST API on host (the load
// balancer's 127.0.0.1, or a node's address).
func (s *stack) ctlAt(host string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.ctlBin, append([]string{"--host", "/ip4/" + host + "/tcp/9094", "--force-http", "--basic-auth", s.cred}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ipfs-cluster-ctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (s *stack) mustCtl(args ...string) string {
	s.t.Helper()
	out, err := s.ctl(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// ipfs runs Kubo's CLI against the load balancer's Kubo RPC port.
func (s *stack) ipfs(args ...string) string {
	s.t.Helper()
	return s.ipfsAt("127.0.0.1", args...)
}

// ipfsAt runs Kubo's CLI against the Kubo RPC API on host (the load
// balancer's 127.0.0.1, or a node's address).
func (s *stack) ipfsAt(host string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(s.kuboBin, append([]string{"--api", "/ip4/" + host + "/tcp/5001", "--api-auth", "basic:" + s.cred}, args...)...)
	cmd.Env = append(os.Environ(), "IPFS_PATH="+s.t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("ipfs %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// allUp waits until the cluster's health lists three peers, all up.
func (s *stack) allUp(timeout time.Duration) {
	s.t.Helper()
	eventually(s.t, timeout, "three peers up", func() error {
		out, err := s.ctl("--enc=json", "health", "metrics", "ping")
		if err != nil {
			return err
		}
		var ms []struct {
			Peer  string `json:"peer"`
			Valid bool   `json:"valid"`
		}
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		up := 0
		for _, m := range ms {
			if m.Valid {
				up++
			}
		}
		if up != 3 || len(ms) != 3 {
			return fmt.Errorf("%d of %d peers up", up, len(ms))
		}
		return nil
	})
}

// members lists the cluster's members, down ones included, as the ping
// metric of each.
func (s *stack) members() (map[string]bool, error) {
	out, err := s.ctl("--enc=json", "health", "metrics", "ping")
	if err != nil {
		return nil, err
	}
	var ms []struct {
		Peer string `json:"peer"`
	}
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	set := map[string]bool{}
	for _, m := range ms {
		set[m.Peer] = true
	}
	return set, nil
}

// pinset lists the CIDs of the cluster's pins.
func (s *stack) pinset() map[string]bool {
	s.t.Helper()
	out := s.mustCtl("--enc=json", "pin", "ls")
	set := map[string]bool{}
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var p pinInfo
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return set
		} else if err != nil {
			s.t.Fatalf("pin ls: %v", err)
		}
		set[p.Cid] = true
	}
}

// getStatus fails unless url answers want, with the admin's credentials.
func (s *stack) getStatus(url string, want int) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	user, password, _ := strings.Cut(s.cred, ":")
	req.SetBasicAuth(user, password)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %s %s, want %d", url, resp.Status, bytes.TrimSpace(body), want)
	}
	return nil
}

// watchQuorum polls every node's /ready and measures the longest time no
// node was ready (no leader anywhere).
type quorumWatch struct {
	stopCh  chan struct{}
	done    chan struct{}
	longest time.Duration
}

func watchQuorum(s *stack) *quorumWatch {
	addrs := map[string]string{}
	for _, n := range nodes {
		addrs[n] = s.nodeAddr(n)
	}
	w := &quorumWatch{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		lastReady := time.Now()
		limit := time.After(maxLoad)
		for {
			any := false
			for _, a := range addrs {
				if s.ready(a) {
					any = true
					break
				}
			}
			if any {
				lastReady = time.Now()
			} else if gap := time.Since(lastReady); gap > w.longest {
				w.longest = gap
			}
			select {
			case <-w.stopCh:
				return
			case <-limit:
				return
			case <-time.After(100 * time.Millisecond): // polling interval
			}
		}
	}()
	return w
}

// stop ends the watch and returns the longest time without a ready node.
func (w *quorumWatch) stop() time.Duration {
	close(w.stopCh)
	<-w.done
	return w.longest
}

// servedBy asks the load balancer's REST API which peer answers.
func (s *stack) servedBy() (string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9094/id", nil)
	if err != nil {
		return "", err
	}
	user, password, _ := strings.Cut(s.cred, ":")
	req.SetBasicAuth(user, password)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var id struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&id); err != nil || id.ID == "" {
		return "", fmt.Errorf("GET /id through the load balancer: %s %v", resp.Status, err)
	}
	return id.ID, nil
}

// pinInfo is the part of IPFS Cluster's pin and status objects the test
// reads.
type pinInfo struct {
	Cid         string   `json:"cid"`
	Allocations []string `json:"allocations"`
	PeerMap     map[string]struct {
		Status string `json:"status"`
	} `json:"peer_map"`
}

func (s *stack) status(cid string) (pinInfo, error) {
	var st pinInfo
	out, err := s.ctl("--enc=json", "status", cid)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(out), &st)
}

func (s *stack) allocation(cid string) (pinInfo, error) {
	var p pinInfo
	out, err := s.ctl("--enc=json", "pin", "ls", cid)
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal([]byte(out), &p)
}

// pinnedOn waits until cid is pinned on at least n peers, none of them in
// exclude, and returns the peers that pinned it.
func (s *stack) pinnedOn(cid string, n int, timeout time.Duration, exclude ...string) []string {
	s.t.Helper()
	var pinned []string
	eventually(s.t, timeout, fmt.Sprintf("%s pinned on %d peers", cid, n), func() error {
		st, err := s.status(cid)
		if err != nil {
			return err
		}
		pinned = pinned[:0]
		for p, ps := range st.PeerMap {
			if ps.Status == "pinned" && !slices.Contains(exclude, p) {
				pinned = append(pinned, p)
			}
		}
		if len(pinned) < n {
			return fmt.Errorf("pinned on %v of %v", pinned, st.PeerMap)
		}
		return nil
	})
	return pinned
}

// peerIDs maps the stack's peer names to their IDs, as the cluster lists
// them.
func (s *stack) peerIDs() (map[string]string, error) {
	out, err := s.ctl("--enc=json", "peers", "ls")
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var id struct {
			ID       string `json:"id"`
			Peername string `json:"peername"`
			Error    string `json:"error"`
		}
		if err := dec.Decode(&id); errors.Is(err, io.EOF) {
			return ids, nil
		} else if err != nil {
			return nil, err
		}
		ids[id.Peername] = id.ID
	}
}

// get reads url and checks the body against want.
func (s *stack) get(url string, want []byte) error {
	resp, err := s.client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	if !bytes.Equal(body, want) {
		return fmt.Errorf("GET %s: %d bytes that differ from the %d added", url, len(body), len(want))
	}
	return nil
}

// logs puts the end of every service's log into the test's output.
func (s *stack) logs() {
	cmd := exec.Command("docker-compose", s.composeArgs("logs", "--no-color", "--tail", "60")...)
	cmd.Env = s.env()
	out, _ := cmd.CombinedOutput()
	s.t.Logf("the stack's logs (last 60 lines per service):\n%s", out)
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
