package main_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
	"github.com/flotilla-ipfs/flotilla/internal/kubotest"
	"github.com/flotilla-ipfs/flotilla/internal/s3store/s3test"
)

// s3Flags are the daemon flags of a block store under prefix in srv's
// bucket, with extra flags after them.
func s3Flags(srv *s3test.Server, prefix string, extra ...string) []string {
	return append([]string{"--blockstore", "s3", "--s3-bucket", srv.Bucket, "--s3-endpoint", srv.Endpoint,
		"--s3-path-style", "--s3-prefix", prefix}, extra...)
}

// s3Env is the same block store given as the environment, with the
// server's credentials.
func s3Env(srv *s3test.Server, prefix string) []string {
	return append(srv.Env(), "FLOTILLA_BLOCKSTORE=s3", "FLOTILLA_S3_BUCKET="+srv.Bucket, "FLOTILLA_S3_ENDPOINT="+srv.Endpoint,
		"FLOTILLA_S3_PATH_STYLE=true", "FLOTILLA_S3_PREFIX="+prefix)
}

// sortedLines splits output into its lines, sorted.
func sortedLines(out string) []string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	slices.Sort(lines)
	return lines
}

// repoStat is the part of repo stat --json these tests read.
type repoStat struct {
	NumObjects int
	S3         *struct {
		Bucket        string
		Packs         int64
		PacksDeleting int64
		LiveBlocks    int64
		LiveFraction  float64
		CacheHitRatio float64
		Requests      map[string]int64
	}
}

// A daemon on S3 imports with Kubo's CIDs, gives the content back, reports
// the store's figures, and a daemon with an empty data directory on the
// same bucket and prefix serves it all. Without a daemon the CLI opens
// the directory on its bucket from the daemon's settings.
func TestS3BlockstoreRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw, kubo and flotilla; skipped in -short mode")
	}
	srv := s3test.Start(t)
	kubo := kubotest.New(t, "test")
	tree := kuboTree(t)
	dir := t.TempDir()
	d := ft.StartDaemonEnv(t, dir, srv.Env(), s3Flags(srv, "node", "--offline")...)

	var root string
	for _, args := range [][]string{
		{"-r"},
		{"-r", "--cid-version=1"},
		{"-r", "--raw-leaves=false", "--chunker=size-1000"},
		{"-r", "--trickle", "--chunker=size-4096"},
	} {
		want := kubo.Run(append(append([]string{"add", "--only-hash", "--progress=false"}, args...), tree)...)
		r := d.RPC(append(append([]string{"add"}, args...), tree)...)
		if r.Code != 0 {
			t.Fatalf("add %v on s3: %s", args, r.Stderr)
		}
		if got, want := sortedLines(r.Stdout), sortedLines(want); !slices.Equal(got, want) {
			t.Fatalf("add %v on s3:\n%s\nkubo:\n%s", args, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if root == "" {
			lines := strings.Fields(strings.TrimSpace(r.Stdout)[strings.LastIndex(strings.TrimSpace(r.Stdout), "\n")+1:])
			root = lines[1]
		}
	}
	out := filepath.Join(t.TempDir(), "copy")
	if r := d.RPC("get", "-o", out, root); r.Code != 0 {
		t.Fatalf("get: %s", r.Stderr)
	}
	sameTree(t, tree, out)

	var stat repoStat
	ft.DecodeJSON(t, d.RPC("--json", "repo", "stat").Stdout, &stat)
	if stat.S3 == nil || stat.S3.Bucket != srv.Bucket || stat.S3.Packs == 0 || stat.S3.LiveBlocks < int64(stat.NumObjects) || stat.S3.Requests["PutObject"] == 0 {
		t.Fatalf("repo stat on s3 = %+v %+v", stat, stat.S3)
	}
	if text := d.RPC("repo", "stat").Stdout; !strings.Contains(text, "S3:         "+srv.Bucket+"/node") || !strings.Contains(text, "PutObject") {
		t.Fatalf("repo stat on s3 does not show the store:\n%s", text)
	}
	if code, body := get(t, "http://"+d.Listen.Ops+"/ready"); code != http.StatusOK || !strings.Contains(body, `"s3":"ok"`) {
		t.Fatalf("/ready = %d %s", code, body)
	}
	if _, metrics := get(t, "http://"+d.Listen.Ops+"/metrics"); !strings.Contains(metrics, `flotilla_s3_requests_total{operation="PutObject",outcome="ok"}`) {
		t.Fatal("/metrics lacks the S3 requests")
	}
	d.Stop()

	// Without a daemon, the CLI opens the directory with the daemon's
	// settings: from the environment, or refused without them rather
	// than opened as an empty flatfs store.
	if r := ft.CLI(t, dir, nil, "repo", "stat"); r.Code == 0 || !strings.Contains(r.Stderr, "--blockstore s3") {
		t.Fatalf("repo stat of an s3 directory without its settings: exit %d, %s", r.Code, r.Stderr)
	}
	if r := ft.CLIEnv(t, dir, s3Env(srv, "node"), "repo", "stat"); r.Code != 0 || !strings.Contains(r.Stdout, "S3:") {
		t.Fatalf("repo stat without a daemon: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}

	// A fresh peer on the same prefix rebuilds its index from the bucket.
	fresh := ft.StartDaemonEnv(t, t.TempDir(), srv.Env(), s3Flags(srv, "node", "--offline")...)
	if r := fresh.RPC("cat", root+"/sub/c.txt"); r.Code != 0 || r.Stdout != "gamma\n" {
		t.Fatalf("cat on a fresh directory: exit %d, %q, %s", r.Code, r.Stdout, r.Stderr)
	}
	var again repoStat
	ft.DecodeJSON(t, fresh.RPC("--json", "repo", "stat").Stdout, &again)
	if again.NumObjects != stat.NumObjects {
		t.Fatalf("the fresh directory has %d blocks, the first %d", again.NumObjects, stat.NumObjects)
	}
	if r := fresh.RPC("repo", "verify"); r.Code != 0 {
		t.Fatalf("repo verify on the fresh directory: %s %s", r.Stdout, r.Stderr)
	}
}

// The kill -9 test on S3; the restart also leaves no unfinished upload in
// the bucket.
func TestS3AcknowledgedWritesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw; skipped in -short mode")
	}
	srv := s3test.Start(t)
	dir := t.TempDir()
	start := func() *ft.Daemon { return ft.StartDaemonEnv(t, dir, srv.Env(), s3Flags(srv, "node", "--offline")...) }
	testKill9(t, start, func() int { return srv.Count("PutObject") + srv.Count("UploadPart") }, 1)
	uploads, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("%d unfinished uploads left after the restart", len(uploads.Uploads))
	}
}

// S3 failing (500s, 503 SlowDown) fails an add with an error naming the
// bucket, takes the peer out of /ready, corrupts nothing, and once S3
// answers again everything works. An endpoint down at start stops the
// start with an error that says what to check.
func TestS3FaultsFailCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw; skipped in -short mode")
	}
	srv := s3test.Start(t)
	d := ft.StartDaemonEnv(t, t.TempDir(), srv.Env(), s3Flags(srv, "node", "--offline")...)
	ready := func() (int, string) { return get(t, "http://"+d.Listen.Ops+"/ready") }
	add := func(content string) ft.Result { return d.RPC("add", "-Q", writeFile(t, "f.txt", content)) }

	r := add(strings.Repeat("before the fault\n", 20_000))
	if r.Code != 0 {
		t.Fatalf("add: %s", r.Stderr)
	}
	before := strings.TrimSpace(r.Stdout)

	srv.Intercept(func(op string, _ *http.Request) int {
		if op == "PutObject" || op == "UploadPart" {
			return http.StatusServiceUnavailable // SlowDown
		}
		return http.StatusInternalServerError
	})
	r = add(strings.Repeat("during the fault\n", 20_000))
	if r.Code == 0 || !strings.Contains(r.Stderr, `bucket "`+srv.Bucket+`"`) || !strings.Contains(r.Stderr, "503") {
		t.Fatalf("add while S3 fails: exit %d, stdout %q, stderr %q; want a failure naming the bucket and the 503", r.Code, r.Stdout, r.Stderr)
	}
	waitFor(t, 30*time.Second, "/ready false while S3 fails", func() error {
		if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"s3":"s3store: bucket`) {
			return fmt.Errorf("/ready = %d %s", code, body)
		}
		return nil
	})

	srv.Intercept(nil)
	waitFor(t, 30*time.Second, "/ready once S3 answers", func() error {
		if code, body := ready(); code != http.StatusOK {
			return fmt.Errorf("/ready = %d %s", code, body)
		}
		return nil
	})
	if r := add(strings.Repeat("after the fault\n", 20_000)); r.Code != 0 {
		t.Fatalf("add after the fault: %s", r.Stderr)
	}
	if r := d.RPC("cat", before); r.Code != 0 || !strings.HasPrefix(r.Stdout, "before the fault\n") {
		t.Fatalf("cat of what was added before the fault: exit %d: %s", r.Code, r.Stderr)
	}
	for _, check := range [][]string{{"repo", "verify"}, {"pin", "verify"}} {
		if r := d.RPC(check...); r.Code != 0 {
			t.Fatalf("%s after the fault: %s %s", strings.Join(check, " "), r.Stdout, r.Stderr)
		}
	}
	d.Stop()

	// An endpoint nobody listens on, at start.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	r = ft.CLIEnv(t, t.TempDir(), srv.Env(), "daemon", "--offline", "--blockstore", "s3", "--s3-bucket", srv.Bucket,
		"--s3-endpoint", down, "--s3-path-style", "--rpc-listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0",
		"--gateway-listen", "", "--api-listen", "", "--pinsvc-listen", "")
	if r.Code == 0 || !strings.Contains(r.Stderr, "cannot reach "+down) {
		t.Fatalf("daemon with the endpoint down: exit %d, %s", r.Code, r.Stderr)
	}
}

// Invalid storage settings are refused before anything is opened, naming
// the setting.
func TestS3SettingsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--blockstore", "s3"}, "a bucket is required (--s3-bucket)"},
		{[]string{"--s3-bucket", "b"}, "--blockstore is flatfs"},
		{[]string{"--blockstore", "tape"}, `--blockstore "tape"`},
		{[]string{"--blockstore", "s3", "--s3-bucket", "b", "--s3-endpoint", "localhost:9000"}, "endpoint"},
		{[]string{"--blockstore", "s3", "--s3-bucket", "b", "--s3-cache-size", "1000"}, "--s3-cache-size"},
	} {
		dir := t.TempDir()
		r := ft.CLI(t, dir, nil, append([]string{"config", "show"}, tc.args...)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("config show %v: exit %d, %q; want an error about %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
}

// Three daemons share one bucket and prefix (--s3-shared): what one adds
// is served by another's gateway that may not fetch (--gateway-no-fetch),
// pinning it on every peer writes nothing more to the bucket, and a peer
// replaced by one with an empty data directory holds the pin and serves it
// from the bucket alone.
func TestS3SharedClusterOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and three daemons; skipped in -short mode")
	}
	srv := s3test.Start(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(hex.EncodeToString([]byte("shared bucket cluster secret 32b"))), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(zone, join string) *ft.Daemon {
		flags := append(clusterFlags(secret, zone, join), s3Flags(srv, "cluster", "--s3-shared", "--gateway-no-fetch")...)
		return ft.StartDaemonEnv(t, t.TempDir(), srv.Env(), flags...)
	}
	d0 := start("z1", "")
	d1 := start("z2", d0.Listen.Cluster)
	d2 := start("z3", d0.Listen.Cluster)

	add := func(content string, args ...string) string {
		r := d0.RPC(append(append([]string{"add", "-Q"}, args...), writeFile(t, "shared.txt", content))...)
		if r.Code != 0 {
			t.Fatalf("add: %s", r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}
	served := func(d *ft.Daemon, root, content string) func() error {
		return func() error {
			code, body := get(t, "http://"+d.Listen.Gateway+"/ipfs/"+root)
			if code != http.StatusOK || body != content {
				return fmt.Errorf("gateway of %s: %d, %d bytes", d.Dir, code, len(body))
			}
			return nil
		}
	}
	// Not pinned, so no peer fetches it: another peer's gateway, which may
	// not fetch, serves it because the cluster told it of the packs.
	loose := strings.Repeat("added on one peer, read through another\n", 20_000)
	waitFor(t, 30*time.Second, "the gateway of another peer serves an unpinned add", served(d1, add(loose, "--pin=false"), loose))

	content := strings.Repeat("blocks stored once whatever the replication\n", 30_000) // 5 blocks
	root := add(content)
	srv.Reset()
	held := func(d *ft.Daemon) func() error {
		return func() error {
			if out := d.RPC("pin", "verify", "--verbose").Stdout; !strings.Contains(out, root+" ok") {
				return fmt.Errorf("%s: pin verify = %q", d.Dir, out)
			}
			return nil
		}
	}
	for _, d := range []*ft.Daemon{d0, d1, d2} {
		waitFor(t, 60*time.Second, "every peer pins the add", held(d))
	}
	if n := srv.Count("PutObject") + srv.Count("UploadPart"); n != 0 {
		t.Errorf("pinning on three peers wrote %d objects to the bucket, want 0 (%v)", n, srv.Counts())
	}
	var stat repoStat
	ft.DecodeJSON(t, d2.RPC("--json", "repo", "stat").Stdout, &stat)
	if stat.S3 == nil || stat.S3.LiveBlocks < 5 {
		t.Fatalf("repo stat of a peer that wrote nothing = %+v", stat.S3)
	}

	// Kubo's repo gc on a shared bucket runs the cluster's collection
	// (no peer may delete alone there), and what the cluster pins stays.
	if r := d1.RPC("gc"); r.Code != 0 {
		t.Fatalf("gc on a shared bucket: %s", r.Stderr)
	}
	for _, d := range []*ft.Daemon{d0, d1, d2} {
		waitFor(t, 10*time.Second, "the add survives the collection", held(d))
	}
	srv.Reset() // a collection may rewrite packs; the replacement below must not write

	// d2 is gone for good; a peer with an empty data directory takes its
	// zone, gets its allocation when the cluster repairs, and holds it
	// from the bucket.
	d2.Kill()
	d3 := start("z3", d0.Listen.Cluster)
	waitFor(t, 90*time.Second, "the replacement pins the add", held(d3))
	waitFor(t, 10*time.Second, "the replacement's gateway serves it without fetching", served(d3, root, content))
	if n := srv.Count("PutObject") + srv.Count("UploadPart"); n != 0 {
		t.Errorf("the replacement wrote %d objects to the bucket, want 0 (%v)", n, srv.Counts())
	}
}

// A peer of a shared-bucket cluster killed with -9 in the middle of an add,
// its first pack's upload in flight, leaves nothing a restart cannot clean:
// the restart aborts the multipart uploads it left unfinished, the
// interrupted add is not pinned, the acknowledged one is, and no peer's
// index points at a pack the bucket does not hold (repo verify reads every
// block an index names, the killed peer's and those that followed its
// records).
//
// The daemon's packs (an import's 8–16 MiB) stay under the multipart size,
// which no flag lowers, so the unfinished multipart upload a crash leaves
// behind when a pack is 64 MiB or more is planted under the killed peer's
// writer id, as S3 holds it after such a crash.
func TestS3SharedKill9MidAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and three daemons; skipped in -short mode")
	}
	srv := s3test.Start(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(hex.EncodeToString([]byte("shared bucket cluster secret 32b"))), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(dir, zone, join string) *ft.Daemon {
		flags := append(clusterFlags(secret, zone, join), s3Flags(srv, "cluster", "--s3-shared")...)
		return ft.StartDaemonEnv(t, dir, srv.Env(), flags...)
	}
	d0 := start(t.TempDir(), "z1", "")
	dir1 := t.TempDir()
	d1 := start(dir1, "z2", d0.Listen.Cluster)
	d2 := start(t.TempDir(), "z3", d0.Listen.Cluster)

	acked := strings.Repeat("acknowledged before the kill\n", 40_000)
	r := d1.RPC("add", "-Q", writeFile(t, "acked.txt", acked))
	if r.Code != 0 {
		t.Fatalf("add: %s", r.Stderr)
	}
	ackedRoot := strings.TrimSpace(r.Stdout)

	// The next pack d1 writes waits in the proxy until d1 is dead.
	var (
		mu      sync.Mutex
		heldKey string
	)
	held, release := make(chan struct{}), make(chan struct{})
	srv.Intercept(func(op string, req *http.Request) int {
		if op != "PutObject" {
			return 0
		}
		mu.Lock()
		first := heldKey == ""
		if first {
			heldKey = strings.TrimPrefix(req.URL.Path, "/"+srv.Bucket+"/")
			close(held)
		}
		mu.Unlock()
		if first {
			<-release
		}
		return 0
	})
	t.Cleanup(func() { srv.Intercept(nil) })
	big := filepath.Join(t.TempDir(), "big.bin")
	buf := make([]byte, 24<<20)
	rand.Read(buf)
	if err := os.WriteFile(big, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	add := exec.Command(ft.Binary(t), "--rpc", d1.Listen.RPC, "add", "-Q", big)
	if err := add.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(60 * time.Second): // a deadline, not synchronisation
		t.Fatal("the large add wrote no pack within 60s")
	}
	d1.Kill()
	close(release)
	if err := add.Wait(); err == nil {
		t.Fatal("the add finished although its daemon was killed mid-way")
	}

	// What S3 holds after a crash in a multipart upload of d1's.
	mu.Lock()
	key := heldKey
	mu.Unlock()
	writer, _, ok := strings.Cut(path.Base(key), "-")
	if !ok || !strings.HasPrefix(key, "cluster/packs/") {
		t.Fatalf("the held write was not a pack: %q", key)
	}
	planted := "cluster/packs/00/" + writer + "-00" + strings.Repeat("ab", 7)
	client := srv.Client()
	ctx := context.Background()
	if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(srv.Bucket), Key: aws.String(planted)}); err != nil {
		t.Fatal(err)
	}

	d1 = start(dir1, "z2", d0.Listen.Cluster)
	uploads, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("%d unfinished uploads left after the restart (planted: %s)", len(uploads.Uploads), planted)
	}

	pins := d0.API("pin", "ls", "--json").Stdout
	if !strings.Contains(pins, `"cid":"`+ackedRoot+`"`) || strings.Count(pins, "\n") != 1 {
		t.Errorf("after the interrupted add the pinset is\n%s\nwant only the acknowledged %s", pins, ackedRoot)
	}
	for name, d := range map[string]*ft.Daemon{"d0": d0, "d1 (restarted)": d1, "d2": d2} {
		waitFor(t, 30*time.Second, name+" verifies every block its index names", func() error {
			if r := d.RPC("repo", "verify"); r.Code != 0 || !strings.Contains(r.Stdout, "all") {
				return fmt.Errorf("repo verify: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
			}
			return nil
		})
		if r := d.RPC("cat", ackedRoot); r.Code != 0 || r.Stdout != acked {
			t.Errorf("%s: cat of the acknowledged add: exit %d, %d bytes, %s", name, r.Code, len(r.Stdout), r.Stderr)
		}
	}
}

// With a prefix of its own, the daemon compacts by itself: once GC leaves
// a pack dead, the next round schedules its object for deletion, and what
// is still pinned reads as before.
func TestS3DaemonCompactsDeadPacks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw and flotilla; skipped in -short mode")
	}
	srv := s3test.Start(t)
	d := ft.StartDaemonEnv(t, t.TempDir(), srv.Env(), s3Flags(srv, "node", "--offline", "--s3-compact-interval", "1s")...)
	rnd := mrand.New(mrand.NewSource(7))
	add := func(name string) string {
		data := make([]byte, 1<<20)
		rnd.Read(data)
		r := d.RPC("add", "-Q", writeFile(t, name, string(data)))
		if r.Code != 0 {
			t.Fatalf("add: %s", r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}
	dead, kept := add("dead.bin"), add("kept.bin")
	if r := d.API("pin", "rm", dead); r.Code != 0 {
		t.Fatalf("pin rm: %s", r.Stderr)
	}
	if r := d.RPC("gc"); r.Code != 0 || !strings.Contains(r.Stdout, "removed") {
		t.Fatalf("gc removed %q: %s", r.Stdout, r.Stderr)
	}
	waitFor(t, 30*time.Second, "the dead pack is scheduled for deletion", func() error {
		var stat repoStat
		ft.DecodeJSON(t, d.RPC("--json", "repo", "stat").Stdout, &stat)
		if stat.S3 == nil || stat.S3.PacksDeleting == 0 {
			return fmt.Errorf("repo stat S3 = %+v", stat.S3)
		}
		return nil
	})
	if r := d.RPC("cat", kept); r.Code != 0 || len(r.Stdout) != 1<<20 {
		t.Fatalf("cat of the kept file after compaction: %d bytes, %s", len(r.Stdout), r.Stderr)
	}
}
