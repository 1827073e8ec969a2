//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
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

	"github.com/ipfs/go-cid"
)

// s3Image is the S3 server of the stack's S3 variant (make s3-image).
const s3Image = "flotilla-s3:v1.8.0"

// TestS3Stack runs the S3 variant of the stack (`make compose-up
// STORAGE=s3`, compose.s3.yaml): the same three nodes with their blocks in
// one shared bucket (--blockstore s3 --s3-shared) of the stack's S3 server.
//
// A file added through one node is read through the gateway of a node that
// holds no replica of it, and a node killed and replaced by one with an
// empty volume serves it too. What shows that the blocks come from the
// bucket and not from the other peers: each of those nodes lists every
// block of the file as its own (refs/local: the index of the shared packs)
// before its gateway is asked, and the fresh node reads the file's bytes
// from the bucket and writes nothing to it, while a block fetched over
// bitswap would be stored there.
//
// It takes about a minute beside TestStack's few: it checks what is
// particular to the shared bucket and leaves kills, restarts and
// partitions, which do not depend on the block store, to TestStack.
func TestS3Stack(t *testing.T) {
	s := requireTools(t, "s3")
	s.up()

	// The S3 server is on the storage network only and publishes nothing
	// on the host; its key is in no compose file and in no node's
	// environment (the nodes read it from a compose secret).
	s3ID := s.container("s3")
	var ports map[string][]struct{ HostIp, HostPort string }
	inspectJSON(t, s3ID, "{{json .NetworkSettings.Ports}}", &ports)
	for port, bindings := range ports {
		if len(bindings) > 0 {
			t.Errorf("the S3 server publishes %s on the host: %v", port, bindings)
		}
	}
	var nets map[string]any
	inspectJSON(t, s3ID, "{{json .NetworkSettings.Networks}}", &nets)
	if len(nets) != 1 || nets[network("storage")] == nil {
		t.Errorf("the S3 server is on %v, want %s only", keys(nets), network("storage"))
	}
	key, secret := s3Key(t, filepath.Join(s.secrets, "s3.env"))
	for _, f := range []string{"../compose.yaml", "../compose.s3.yaml"} {
		text, _ := os.ReadFile(f)
		if strings.Contains(string(text), secret) || strings.Contains(string(text), key) {
			t.Errorf("%s holds the S3 key", f)
		}
	}
	for _, n := range nodes {
		var env []string
		inspectJSON(t, s.container(n), "{{json .Config.Env}}", &env)
		for _, kv := range env {
			if strings.Contains(kv, secret) || strings.Contains(kv, key) {
				t.Errorf("%s has the S3 key in its environment: %s=…", n, strings.SplitN(kv, "=", 2)[0])
			}
		}
	}

	ids, err := s.peerIDs()
	if err != nil || len(ids) != 3 {
		t.Fatalf("peers: %v %v, want node-a, node-b and node-c", ids, err)
	}
	addrs := map[string]string{}
	for _, n := range nodes {
		addrs[n] = s.nodeAddr(n)
	}

	// 1. A file added through node-a with one replica: its packs are in
	// the bucket, and a node that holds no replica has its blocks and
	// serves it.
	data := make([]byte, 24<<20)
	rand.Read(data)
	out, err := s.ctlAt(addrs["node-a"], "add", "--quieter", "--rmin", "1", "--rmax", "1", "--name", "s3-file", writeFile(t, "s3-file", data))
	if err != nil {
		t.Fatal(err)
	}
	fileCid := strings.TrimSpace(out)
	holders := s.pinnedOn(fileCid, 1, time.Minute)
	blocks := s.dagBlocks(addrs["node-a"], fileCid)
	st := s.repoStat(addrs["node-a"])
	inBucket := s.bucketPacks(s3ID)
	t.Logf("%s: %d blocks, pinned on %v; %d packs in the bucket, %d in node-a's index", fileCid, len(blocks), holders, inBucket, st.Packs)
	if st.Packs == 0 || int64(inBucket) != st.Packs || !st.Shared || st.Bucket != "flotilla" || st.Prefix != "flotilla" {
		t.Fatalf("node-a: %+v with %d packs in the bucket: want the shared bucket flotilla, prefix flotilla, with every pack of its index", st, inBucket)
	}
	reader := ""
	for _, n := range nodes {
		if n != "node-a" && !slices.Contains(holders, ids[n]) {
			reader = n
			break
		}
	}
	if reader == "" {
		t.Fatalf("pinned on %v: no node other than node-a without a replica", holders)
	}
	eventually(t, 30*time.Second, reader+" holds every block from the shared packs", func() error {
		return s.holds(addrs[reader], blocks)
	})
	if err := s.get("http://"+addrs[reader]+":8080/ipfs/"+fileCid, data); err != nil {
		t.Fatalf("%s's gateway (no replica): %v", reader, err)
	}

	// 2. A node killed and replaced by a fresh one with an empty volume:
	// it rebuilds its index from the bucket at start and serves the file
	// without a block from its peers.
	const replaced = "node-c"
	docker(t, "kill", s.container(replaced))
	s.compose("rm", "-f", "-v", replaced)
	docker(t, "volume", "rm", project+"_"+replaced)
	started := time.Now()
	s.compose("up", "-d", "--no-deps", replaced)
	s.waitReady(replaced, 2*time.Minute)
	fresh := s.nodeAddr(replaced)
	t.Logf("%s replaced by a node with an empty volume, ready in %s", replaced, time.Since(started).Round(100*time.Millisecond))
	before := s.repoStat(fresh)
	if before.Packs < st.Packs {
		t.Errorf("the fresh %s indexed %d packs, want the bucket's %d", replaced, before.Packs, st.Packs)
	}
	// Checked once, before anything is read: the blocks are there from the
	// rebuild, not from a fetch.
	if err := s.holds(fresh, blocks); err != nil {
		t.Fatalf("the fresh %s, before any read: %v", replaced, err)
	}
	if err := s.get("http://"+fresh+":8080/ipfs/"+fileCid, data); err != nil {
		t.Fatalf("the fresh %s's gateway: %v", replaced, err)
	}
	after := s.repoStat(fresh)
	if w := writes(after.Requests); w != 0 {
		t.Errorf("the fresh %s wrote to the bucket (%v): it stored blocks it should have found there", replaced, after.Requests)
	}
	if got := after.ReceivedBytes - before.ReceivedBytes; got < int64(len(data)) {
		t.Errorf("the fresh %s read %d bytes from the bucket to serve the file of %d: its blocks came from elsewhere", replaced, got, len(data))
	}
	t.Logf("the fresh %s: %d packs indexed; S3 requests after serving the file: %v", replaced, after.Packs, after.Requests)
}

// inspectJSON decodes `docker inspect --format format` of a container.
func inspectJSON(t *testing.T, id, format string, v any) {
	t.Helper()
	raw := docker(t, "inspect", "--format", format, id)
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		t.Fatalf("docker inspect %s: %v: %s", format, err, raw)
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// s3Key reads the S3 server's generated root key (compose.sh's s3.env).
func s3Key(t *testing.T, path string) (key, secret string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "ROOT_ACCESS_KEY_ID="); ok {
			key = v
		}
		if v, ok := strings.CutPrefix(line, "ROOT_SECRET_ACCESS_KEY="); ok {
			secret = v
		}
	}
	if len(key) < 16 || len(secret) < 32 {
		t.Fatalf("%s: no generated key and secret", path)
	}
	return key, secret
}

// s3Stat is the part of repo/stat's S3 figures the test reads.
type s3Stat struct {
	Bucket, Prefix string
	Shared         bool
	Packs          int64
	Requests       map[string]int64
	ReceivedBytes  int64
}

// repoStat asks a node's Kubo RPC API for its S3 store's figures.
func (s *stack) repoStat(addr string) s3Stat {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+":5001/api/v0/repo/stat", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	user, password, _ := strings.Cut(s.cred, ":")
	req.SetBasicAuth(user, password)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("repo/stat on %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct{ S3 *s3Stat }
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("repo/stat on %s: %s %v: %s", addr, resp.Status, err, bytes.TrimSpace(body))
	}
	if out.S3 == nil {
		s.t.Fatalf("repo/stat on %s has no S3 figures: the node does not keep its blocks in S3: %s", addr, bytes.TrimSpace(body))
	}
	return *out.S3
}

// writes counts the requests that write to the bucket.
func writes(requests map[string]int64) int64 {
	var n int64
	for _, op := range []string{"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "CopyObject", "DeleteObject"} {
		n += requests[op]
	}
	return n
}

// dagBlocks lists the multihashes of every block of a DAG (the root and
// `refs -r`), read from a node that holds it.
func (s *stack) dagBlocks(addr, root string) map[string]bool {
	s.t.Helper()
	refs := append([]string{root}, strings.Fields(s.ipfsAt(addr, "refs", "-r", "--unique", root))...)
	set := map[string]bool{}
	for _, r := range refs {
		c, err := cid.Decode(r)
		if err != nil {
			s.t.Fatalf("refs of %s: %q: %v", root, r, err)
		}
		set[string(c.Hash())] = true
	}
	if len(set) < 2 {
		s.t.Fatalf("refs of %s: %v, want the root and its leaves", root, refs)
	}
	return set
}

// holds fails unless a node's block store lists every one of blocks as its
// own (refs/local: nothing is fetched to answer it).
func (s *stack) holds(addr string, blocks map[string]bool) error {
	cmd := exec.Command(s.kuboBin, "--api", "/ip4/"+addr+"/tcp/5001", "--api-auth", "basic:"+s.cred, "refs", "local")
	cmd.Env = append(os.Environ(), "IPFS_PATH="+s.t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("refs local on %s: %v", addr, err)
	}
	local := map[string]bool{}
	for _, r := range strings.Fields(string(out)) {
		if c, err := cid.Decode(r); err == nil {
			local[string(c.Hash())] = true
		}
	}
	missing := 0
	for b := range blocks {
		if !local[b] {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d of the %d blocks are not in %s's store (%d blocks listed)", missing, len(blocks), addr, len(local))
	}
	return nil
}

// bucketPacks counts the pack objects in the S3 server's bucket directory
// (the posix backend: an object is a file), read with `docker cp`, since
// the server's image has no shell.
func (s *stack) bucketPacks(id string) int {
	s.t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("docker", "cp", id+":/s3/flotilla/flotilla/packs", "-")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("docker cp of the bucket's packs: %v: %s", err, stderr.String())
	}
	n := 0
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			s.t.Fatalf("the bucket's packs: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			n++
		}
	}
}
