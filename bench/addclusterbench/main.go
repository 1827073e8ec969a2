// Command addclusterbench measures the cluster-wide add of the REST API
// (IPFS Cluster's POST /add) on a 3-peer flotilla cluster on loopback,
// replication 3: the upload is streamed (never held in memory) as
// ipfs-cluster-ctl sends it, and two times are taken, until the request
// returns (every replica acknowledged every block and the pin is
// committed) and until every replica reports the pin "pinned". With them,
// the peak RSS and the CPU seconds of each peer.
//
//	go run ./bench/addclusterbench -flotilla bin/flotilla [-size 1GiB] [-runs 3]
//
// The three peers share the machine and its disk: every block is hashed,
// encrypted, sent, decrypted, verified and written three times over.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/files"
	"github.com/ipfs/boxo/ipld/merkledag"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"golang.org/x/sys/unix"

	"github.com/flotilla-ipfs/flotilla/bench/internal/payload"
	"github.com/flotilla-ipfs/flotilla/bench/internal/procs"
	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "addclusterbench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin     string
	size    int64
	runs    int
	dir     string
	query   string
	verify  bool
	timeout time.Duration
}

func run() error {
	var o options
	size := flag.String("size", "256MiB", "upload size (bytes, or with a KiB/MiB/GiB suffix; 1GiB for the large run)")
	flag.StringVar(&o.bin, "flotilla", "bin/flotilla", "flotilla binary")
	flag.IntVar(&o.runs, "runs", 1, "adds, each of different bytes")
	flag.StringVar(&o.dir, "dir", "", "directory for the peers' data; default: a fresh temp dir, removed at the end")
	flag.StringVar(&o.query, "query", "replication-min=3&replication-max=3", "options of /add (IPFS Cluster's AddParams)")
	flag.BoolVar(&o.verify, "verify", true, "check each root against the importer run in this process on the same bytes")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	var err error
	if o.size, err = payload.ParseSize(*size); err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "addclusterbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	peers, err := startCluster(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range peers {
			p.stop()
		}
	}()

	fmt.Printf("add %s through POST /add?%s on %d peers (%s)\n", mib(o.size), o.query, len(peers), peers[0].listen.API)
	for run := range o.runs {
		before := make([]time.Duration, len(peers))
		for i, p := range peers {
			before[i] = p.cpu()
		}
		unix.Sync()
		start := time.Now()
		root, err := add(ctx, peers[0].listen.API, o.query, o.size, uint64(run))
		if err != nil {
			return err
		}
		returned := time.Since(start)
		if err := waitPinned(ctx, peers[0].listen.API, root, len(peers)); err != nil {
			return err
		}
		pinned := time.Since(start)
		fmt.Printf("run %d: %s\n", run+1, root)
		fmt.Printf("  until the request returned: %7.2fs %7.1f MiB/s\n", returned.Seconds(), rate(o.size, returned))
		fmt.Printf("  until 3 replicas pinned:    %7.2fs %7.1f MiB/s\n", pinned.Seconds(), rate(o.size, pinned))
		for i, p := range peers {
			role := "replica"
			if i == 0 {
				role = "receiving peer, replica"
			}
			fmt.Printf("  peer %d (%s): peak RSS %s, CPU %.1fs\n", i, role, mib(p.peakRSS()), (p.cpu() - before[i]).Seconds())
		}
		if o.verify {
			want, err := expectedRoot(ctx, o, uint64(run))
			if err != nil {
				return err
			}
			if want != root {
				return fmt.Errorf("root %s, but the importer gives %s for the same bytes", root, want)
			}
			fmt.Printf("  root verified against the importer\n")
		}
	}
	return nil
}

// data is the deterministic content of run: pseudo-random, so that no
// chunk is deduplicated, and generated as it is read.
func data(size int64, run uint64) io.Reader {
	var seed [32]byte
	seed[0] = byte(run)
	return io.LimitReader(rand.NewChaCha8(seed), size)
}

// add uploads the data as ipfs-cluster-ctl does (multipart/form-data,
// chunked, one file part) and returns the last root of the NDJSON answer.
func add(ctx context.Context, api, query string, size int64, run uint64) (string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="bench.bin"`)
		h.Set("Content-Type", "application/octet-stream")
		part, err := mw.CreatePart(h)
		if err == nil {
			_, err = io.CopyBuffer(part, data(size, run), make([]byte, 1<<20))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/add?"+query, pr)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("POST /add: %s: %s", resp.Status, body)
	}
	var root string
	dec := json.NewDecoder(resp.Body)
	for {
		var out struct {
			Cid *string `json:"cid"`
		}
		if err := dec.Decode(&out); err == io.EOF {
			break
		} else if err != nil {
			return "", err
		}
		if out.Cid != nil {
			root = *out.Cid
		}
	}
	if e := resp.Trailer.Get("X-Stream-Error"); e != "" {
		return "", fmt.Errorf("POST /add: %s", e)
	}
	if root == "" {
		return "", errors.New("POST /add returned no root")
	}
	return root, nil
}

// waitPinned polls GET /pins/{cid} until n peers report the pin pinned.
func waitPinned(ctx context.Context, api, root string, n int) error {
	for {
		resp, err := http.Get("http://" + api + "/pins/" + root)
		if err != nil {
			return err
		}
		var info struct {
			PeerMap map[string]struct {
				Status string `json:"status"`
				Error  string `json:"error"`
			} `json:"peer_map"`
		}
		err = json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		if err != nil {
			return err
		}
		pinned := 0
		for _, s := range info.PeerMap {
			if s.Status == "pinned" {
				pinned++
			}
			if s.Status == "pin_error" {
				return fmt.Errorf("%s: pin_error: %s", root, s.Error)
			}
		}
		if pinned >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s pinned on %d of %d peers: %w", root, pinned, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// expectedRoot imports the same bytes in process, keeping no block.
func expectedRoot(ctx context.Context, o options, run uint64) (string, error) {
	q, err := url.ParseQuery(o.query)
	if err != nil {
		return "", err
	}
	p := importer.Params{Chunker: q.Get("chunker"), Hash: q.Get("hash")}
	if v := q.Get("cid-version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return "", err
		}
		p.CidVersion = &n
	}
	if v := q.Get("raw-leaves"); v != "" {
		b := v == "true"
		p.RawLeaves = &b
	}
	s, err := p.Resolve()
	if err != nil {
		return "", err
	}
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewNullDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	args := files.NewSliceDirectory([]files.DirEntry{files.FileEntry("bench.bin", files.NewReaderFile(data(o.size, run)))})
	roots, err := importer.Add(ctx, dag, args, s, nil)
	if err != nil {
		return "", err
	}
	return roots[0].Node.Cid().String(), nil
}

// peer is one running daemon.
type peer struct {
	cmd    *exec.Cmd
	listen repo.Listen
	log    *os.File
	done   chan struct{} // closed when the process exited
}

func startCluster(ctx context.Context, o options) ([]*peer, error) {
	secret := filepath.Join(o.dir, "secret")
	if err := os.WriteFile(secret, []byte(hex.EncodeToString([]byte("addclusterbench secret, 32 bytes"))), 0o600); err != nil {
		return nil, err
	}
	var peers []*peer
	for i := range 3 {
		zone := fmt.Sprintf("z%d", i)
		dir := filepath.Join(o.dir, zone)
		args := []string{"--data", dir, "daemon", "--api-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0",
			"--ops-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--pinsvc-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0",
			"--swarm-listen", "/ip4/127.0.0.1/tcp/0",
			"--dht", "off", "--provide", "none", "--cluster-listen", "127.0.0.1:0", "--cluster-secret-file", secret,
			"--zone", zone, "--peername", zone}
		if i > 0 {
			args = append(args, "--join", peers[0].listen.Cluster)
		}
		p, err := startPeer(ctx, o.bin, dir, args)
		if err != nil {
			for _, p := range peers {
				p.stop()
			}
			return nil, err
		}
		peers = append(peers, p)
	}
	// Ready once the first peer lists all three.
	for {
		if n, err := countPeers(peers[0].listen.API); err == nil && n == len(peers) {
			return peers, nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("the cluster did not form")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func startPeer(ctx context.Context, bin, dir string, args []string) (*peer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	log, err := os.Create(dir + ".log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &peer{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	for {
		l, err := repo.ReadListen(dir)
		if err == nil && l.PID == cmd.Process.Pid && l.Ops != "" {
			if resp, err := http.Get("http://" + l.Ops + "/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					p.listen = l
					return p, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			p.stop()
			return nil, fmt.Errorf("%s did not start (see %s)", dir, log.Name())
		case <-p.done:
			return nil, fmt.Errorf("%s exited at start (see %s)", dir, log.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func countPeers(api string) (int, error) {
	resp, err := http.Get("http://" + api + "/peers")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

func (p *peer) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// peakRSS is the process's high-water mark of resident memory (VmHWM).
func (p *peer) peakRSS() int64 {
	u, _ := procs.ReadUsage(p.cmd.Process.Pid)
	return u.PeakRSS
}

// cpu is the process's user and system time so far.
func (p *peer) cpu() time.Duration {
	u, _ := procs.ReadUsage(p.cmd.Process.Pid)
	return u.CPU
}

func rate(size int64, d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
