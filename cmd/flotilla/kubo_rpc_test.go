package main_test

import (
	"bytes"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ft "github.com/flotilla-ipfs/flotilla/internal/flotillatest"
	"github.com/flotilla-ipfs/flotilla/internal/kubotest"
)

// kuboTree writes a small site with a multi-block file and returns its
// directory.
func kuboTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	rnd := rand.New(rand.NewSource(42))
	big := make([]byte, 700_000) // three 256 KiB chunks
	rnd.Read(big)
	for name, data := range map[string][]byte{
		"a.txt":         []byte("alpha\n"),
		"b.bin":         big,
		"sub/c.txt":     []byte("gamma\n"),
		"sub/copy.txt":  []byte("alpha\n"), // same block as a.txt
		"sub/deep/e":    nil,
		"index.html":    []byte("<p>hi</p>\n"),
		"data.json":     []byte(`{"a":{"b":[1,2,{"c":"d"}]},"n":null,"link":{"/":"bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"}}`),
		"raw-block.bin": []byte("raw block bytes\n"),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// kuboEmptyDir is the empty UnixFS directory Kubo's init pins.
const kuboEmptyDir = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"

// apiAddr turns host:port into the multiaddr Kubo's --api takes.
func apiAddr(t *testing.T, hostport string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return "/ip4/" + host + "/tcp/" + port
}

// Kubo 0.43's own CLI, as a remote client (ipfs --api …), prints the same
// thing whether it talks to a Kubo daemon or to flotilla: the wire format
// of every command in the subset is Kubo's.
func TestKuboCLIAgainstFlotilla(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kubo and flotilla; skipped in -short mode")
	}
	kubo := kubotest.New(t, "test")
	kd := kubo.StartDaemon()
	raw, err := os.ReadFile(filepath.Join(kd.Path, "api"))
	if err != nil {
		t.Fatal(err)
	}
	kuboAPI := strings.TrimSpace(string(raw))
	fl := ft.StartDaemon(t, t.TempDir(), "--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none")
	flAPI := apiAddr(t, fl.Listen.RPC)

	// run runs the same kubo command against both daemons.
	run := func(args ...string) (kuboOut, flOut string, kuboErr, flErr error) {
		kuboOut, kuboErr = kubo.Try(append([]string{"--api", kuboAPI}, args...)...)
		flOut, flErr = kubo.Try(append([]string{"--api", flAPI}, args...)...)
		return
	}
	// same wants identical successful output.
	same := func(args ...string) string {
		t.Helper()
		k, f, kerr, ferr := run(args...)
		if kerr != nil || ferr != nil {
			t.Fatalf("ipfs %s: kubo err %v, flotilla err %v", strings.Join(args, " "), kerr, ferr)
		}
		if k != f {
			t.Fatalf("ipfs %s:\nkubo:\n%s\nflotilla:\n%s", strings.Join(args, " "), k, f)
		}
		return f
	}
	// sameLines wants the same lines in any order (Kubo prints maps).
	sameLines := func(args ...string) {
		t.Helper()
		k, f, kerr, ferr := run(args...)
		if kerr != nil || ferr != nil {
			t.Fatalf("ipfs %s: kubo err %v, flotilla err %v", strings.Join(args, " "), kerr, ferr)
		}
		kl, fl := strings.Split(strings.TrimSpace(k), "\n"), strings.Split(strings.TrimSpace(f), "\n")
		// Kubo's init pins the empty directory (its MFS root): a
		// property of a Kubo repository, not of the wire.
		kl = slices.DeleteFunc(kl, func(l string) bool { return strings.HasPrefix(l, kuboEmptyDir) })
		slices.Sort(kl)
		slices.Sort(fl)
		if !slices.Equal(kl, fl) {
			t.Fatalf("ipfs %s:\nkubo:\n%s\nflotilla:\n%s", strings.Join(args, " "), k, f)
		}
	}
	// bothFail wants an error from both.
	bothFail := func(args ...string) {
		t.Helper()
		k, f, kerr, ferr := run(args...)
		if kerr == nil || ferr == nil {
			t.Fatalf("ipfs %s: want both to fail; kubo %q %v, flotilla %q %v", strings.Join(args, " "), k, kerr, f, ferr)
		}
	}
	// sameErr wants both to fail with the same message.
	sameErr := func(args ...string) {
		t.Helper()
		k, f, kerr, ferr := run(args...)
		if kerr == nil || ferr == nil || kerr.Error() != ferr.Error() || k != f {
			t.Fatalf("ipfs %s: want the same failure; kubo %q %v, flotilla %q %v", strings.Join(args, " "), k, kerr, f, ferr)
		}
	}
	field := func(out string, i int) string {
		t.Helper()
		f := strings.Fields(out)
		if len(f) <= i {
			t.Fatalf("output %q has no field %d", out, i)
		}
		return f[i]
	}

	tree := kuboTree(t)
	file := filepath.Join(tree, "b.bin")

	// add: directories, import options, hashing only, wrapping.
	lines := same("add", "-r", tree)
	root := field(lines[strings.LastIndex(strings.TrimSpace(lines), "\n")+1:], 1)
	same("add", "-r", "--cid-version=1", tree)
	same("add", "-r", "--cid-version=1", "--raw-leaves=false", "--chunker=size-1000", "-Q", tree)
	same("add", "-Q", "--trickle", file)
	same("add", "-Q", "--only-hash", "--hash=sha2-512", file)
	same("add", "-w", file)
	loose := strings.TrimSpace(same("add", "-Q", "--pin=false", "--cid-version=1", filepath.Join(tree, "sub", "c.txt")))

	// cat, get, ls.
	same("cat", root+"/a.txt")
	if k, f, kerr, ferr := run("cat", "--offset=100", "--length=300000", root+"/b.bin"); kerr != nil || ferr != nil || k != f {
		t.Fatalf("cat with offset and length differs: %v %v (%d vs %d bytes)", kerr, ferr, len(k), len(f))
	}
	bothFail("cat", root)
	same("ls", root)
	same("ls", root+"/sub")
	for name, api := range map[string]string{"kubo": kuboAPI, "flotilla": flAPI} {
		out := filepath.Join(t.TempDir(), name)
		kubo.Run("--api", api, "get", "-o", out, root)
		sameTree(t, tree, out)
	}

	// refs in all its forms, resolve.
	same("refs", root)
	same("refs", "-r", root)
	same("refs", "-r", "-u", root)
	same("refs", "-r", "-e", root)
	same("refs", "-r", "--format=<linkname>: <src> -> <dst>", root)
	same("refs", "-r", "--max-depth=2", root)
	same("resolve", "/ipfs/"+root+"/sub/c.txt")
	same("resolve", root+"/sub")

	// pins: names, types, targets, removal, update.
	same("pin", "add", "--name=loose-one", loose)
	sameLines("pin", "ls", "--type=recursive")
	sameLines("pin", "ls", "--type=recursive", "--names")
	sameLines("pin", "ls", "--type=recursive", "--stream")
	sameLines("pin", "ls", "--type=direct")
	sameLines("pin", "ls", "--type=indirect")
	same("pin", "ls", root)
	same("pin", "ls", root+"/a.txt")
	same("pin", "rm", loose)
	bothFail("pin", "rm", loose)
	same("pin", "update", "--unpin=false", root, loose)
	sameLines("pin", "ls", "--type=recursive")

	// blocks.
	blk := strings.TrimSpace(same("block", "put", filepath.Join(tree, "raw-block.bin")))
	same("block", "put", "--mhtype=sha2-512", filepath.Join(tree, "raw-block.bin"))
	same("block", "get", blk)
	same("block", "stat", blk)
	sameErr("block", "rm", blk) // its bytes are also a leaf of the tree: pinned
	own := filepath.Join(t.TempDir(), "own.bin")
	os.WriteFile(own, []byte("a block of its own\n"), 0o644)
	same("block", "rm", strings.TrimSpace(same("block", "put", own)))
	bothFail("block", "stat", "not-a-cid")

	// dag: put, get (with paths and codecs), stat, export, import.
	node := strings.TrimSpace(same("dag", "put", filepath.Join(tree, "data.json")))
	same("dag", "put", "--store-codec=dag-json", filepath.Join(tree, "data.json"))
	same("dag", "put", "--input-codec=json", "--store-codec=json", filepath.Join(tree, "data.json"))
	same("dag", "get", node)
	same("dag", "get", node+"/a/b/2")
	same("dag", "get", "--output-codec=dag-cbor", node)
	same("dag", "get", root)
	same("dag", "stat", "--progress=false", root)
	same("dag", "stat", "--progress=false", root, root+"/sub")
	kcar, fcar, kerr, ferr := run("dag", "export", root)
	if kerr != nil || ferr != nil || !bytes.Equal([]byte(kcar), []byte(fcar)) {
		t.Fatalf("dag export differs: %v %v (%d vs %d bytes)", kerr, ferr, len(kcar), len(fcar))
	}
	carFile := filepath.Join(t.TempDir(), "root.car")
	os.WriteFile(carFile, []byte(fcar), 0o644)
	same("dag", "import", "--stats", carFile)
	same("dag", "import", "--pin-roots=false", carFile)

	// The swarm, with each daemon connected to the other.
	kubo.Run("--api", kuboAPI, "swarm", "connect", fl.Listen.Swarm[0])
	if out := kubo.Run("--api", flAPI, "swarm", "peers"); !strings.Contains(out, kd.ID) {
		t.Fatalf("flotilla swarm peers does not list kubo %s:\n%s", kd.ID, out)
	}
	if out := kubo.Run("--api", flAPI, "swarm", "addrs"); !strings.Contains(out, kd.ID) {
		t.Fatalf("flotilla swarm addrs does not list kubo %s:\n%s", kd.ID, out)
	}
	if out := kubo.Run("--api", flAPI, "swarm", "addrs", "local"); !strings.Contains(out, "/ip4/127.0.0.1/tcp/") {
		t.Fatalf("flotilla swarm addrs local = %q", out)
	}
	if out := kubo.Run("--api", flAPI, "swarm", "disconnect", "/p2p/"+kd.ID); strings.TrimSpace(out) != "disconnect "+kd.ID+" success" {
		t.Fatalf("flotilla swarm disconnect = %q", out)
	}
	if out := kubo.Run("--api", flAPI, "swarm", "disconnect", "/p2p/"+kd.ID); !strings.Contains(out, "failure: not connected") {
		t.Fatalf("second swarm disconnect = %q, want a failure line as Kubo prints", out)
	}

	// repo, and the commands outside the subset.
	if out := kubo.Run("--api", flAPI, "repo", "gc"); !strings.Contains(out, "removed ") {
		t.Fatalf("repo gc removed nothing:\n%s", out)
	}
	kubo.Run("--api", flAPI, "repo", "stat")
	if _, err := kubo.Try("--api", flAPI, "files", "ls", "/"); err == nil || !strings.Contains(err.Error(), "not implemented") {
		t.Fatalf("a command outside the subset = %v, want a clear 'not implemented'", err)
	}
}

// IPNS records go in with Kubo's `routing put --allow-offline` and come out
// with `routing get`, `name resolve` and `resolve`, as they do on a Kubo
// node (here an offline Kubo CLI: a daemon with Routing.Type none keeps
// no records).
func TestKuboCLIIPNS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts flotilla and runs kubo; skipped in -short mode")
	}
	fx := os.Getenv("FLOTILLA_GATEWAY_FIXTURES")
	if fx == "" {
		fx = filepath.Join("..", "..", "..", "shared", "fixtures", "gateway-conformance")
	}
	const name = "k51qzi5uqu5dlxdsdu5fpuu7h69wu4ohp32iwm9pdt9nq3y5rpn3ln9j12zfhe"
	recFile := filepath.Join(fx, name+"_1.ipns-record")
	rec, err := os.ReadFile(recFile)
	if err != nil {
		t.Fatalf("gateway conformance fixtures not found (%v): set FLOTILLA_GATEWAY_FIXTURES", err)
	}
	kubo := kubotest.New(t, "test")
	fl := ft.StartDaemon(t, t.TempDir())
	api := apiAddr(t, fl.Listen.RPC)

	if out, err := kubo.Try("--api", api, "routing", "put", "/ipns/"+name, recFile); err == nil || !strings.Contains(err.Error(), "allow-offline") {
		t.Fatalf("routing put on an offline node without --allow-offline = %q %v, want Kubo's error", out, err)
	}
	want := kubo.Run("routing", "put", "--allow-offline", "/ipns/"+name, recFile)
	if got := kubo.Run("--api", api, "routing", "put", "--allow-offline", "/ipns/"+name, recFile); got != want {
		t.Fatalf("routing put printed %q, kubo %q", got, want)
	}
	if got := kubo.Run("--api", api, "routing", "get", "/ipns/"+name); got != string(rec) {
		t.Fatalf("routing get returned %d bytes, want the %d-byte record", len(got), len(rec))
	}
	want = kubo.Run("name", "resolve", "--offline", name)
	if got := kubo.Run("--api", api, "name", "resolve", name); got != want {
		t.Fatalf("name resolve = %q, kubo %q", got, want)
	}
	if got := kubo.Run("--api", api, "resolve", "/ipns/"+name); got != want {
		t.Fatalf("resolve /ipns/… = %q, want %q", got, want)
	}
	bad := filepath.Join(fx, "k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c_v1-v2-broken-signature-v2_2.ipns-record")
	if _, err := kubo.Try("--api", api, "routing", "put", "--allow-offline", "/ipns/k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c", bad); err == nil {
		t.Fatal("routing put accepted a record with a broken signature")
	}
	// flotilla's own CLI reads the same store.
	if got := ft.MustCLI(t, t.TempDir(), "--rpc", fl.Listen.RPC, "name", "resolve", name); got != want {
		t.Fatalf("flotilla name resolve = %q, want %q", got, want)
	}
}
