// Command registrybench pushes and pulls one image (1 GiB of random,
// incompressible layers by default) with go-containerregistry, the
// library behind crane, through three registries in the same run:
//
//   - flotilla, one node (a one-peer cluster, the image pinned once);
//
//   - flotilla, three nodes on loopback, the image replicated ×3: pushed
//     through the first (the push returns once all three hold it) and
//     pulled through the second;
//
//   - the reference registry, CNCF distribution v3.0.0's cmd/registry on
//     its filesystem driver (tools/distribution).
//
//     go run ./bench/registrybench -flotilla bin/flotilla -registry .tools/bin/registry [-size 1GiB] [-layers 8]
//
// Everything shares this machine and its disk; the figures are wall-clock
// seconds and the throughput of the image's bytes.
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-ipfs/flotilla/bench/internal/procs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "registrybench:", err)
		os.Exit(1)
	}
}

type result struct {
	name       string
	push, pull time.Duration
}

func run() error {
	bin := flag.String("flotilla", "bin/flotilla", "flotilla binary")
	ref := flag.String("registry", ".tools/bin/registry", "distribution's registry binary")
	sizeFlag := flag.String("size", "1GiB", "image size (KiB, MiB, GiB suffixes)")
	layers := flag.Int("layers", 8, "number of layers")
	dir := flag.String("dir", ".bench/registry", "working directory (emptied)")
	flag.Parse()
	size, err := parseSize(*sizeFlag)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(*dir); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	ctx := context.Background()
	var g procs.Group
	defer g.StopAll()

	img, err := randomImage(size, *layers)
	if err != nil {
		return err
	}
	fmt.Printf("image: %d layers, %.0f MiB, incompressible\n", *layers, float64(size)/(1<<20))

	var results []result
	// flotilla, one node.
	one, err := g.StartFlotilla(ctx, *bin, "flotilla-1", filepath.Join(*dir, "one"), "--offline", "--cluster-listen", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r, err := pushPull("flotilla, 1 node", img, one.Listen.Registry, one.Listen.Registry)
	if err != nil {
		return err
	}
	results = append(results, r)
	one.Stop()

	// flotilla, three nodes, replicated ×3.
	secret := filepath.Join(*dir, "secret")
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(rand.IntN(256))
	}
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		return err
	}
	var peers []*procs.Flotilla
	for i := range 3 {
		flags := []string{"--swarm-listen", "/ip4/127.0.0.1/tcp/0", "--dht", "off", "--provide", "none",
			"--cluster-listen", "127.0.0.1:0", "--cluster-secret-file", secret, "--zone", fmt.Sprintf("z%d", i),
			"--registry-replication-min", "-1", "--registry-replication-max", "-1"}
		if i > 0 {
			flags = append(flags, "--join", peers[0].Listen.Cluster)
		}
		p, err := g.StartFlotilla(ctx, *bin, fmt.Sprintf("flotilla-%d-of-3", i), filepath.Join(*dir, fmt.Sprintf("three-%d", i)), flags...)
		if err != nil {
			return err
		}
		peers = append(peers, p)
	}
	time.Sleep(3 * time.Second) // the joiners' heartbeats reach the leader: all three can be allocated
	if r, err = pushPull("flotilla, 3 nodes, ×3", img, peers[0].Listen.Registry, peers[1].Listen.Registry); err != nil {
		return err
	}
	results = append(results, r)
	for _, p := range peers {
		p.Stop()
	}

	// The reference registry on its filesystem driver.
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := filepath.Join(*dir, "distribution.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(*dir, "distribution"), addr)), 0o644)
	dp, err := g.Start("distribution", exec.CommandContext(ctx, *ref, "serve", cfg), filepath.Join(*dir, "distribution.log"))
	if err != nil {
		return err
	}
	if err := waitListening(addr); err != nil {
		return fmt.Errorf("distribution: %w: %s", err, dp.Tail())
	}
	if r, err = pushPull("distribution v3.0.0, filesystem", img, addr, addr); err != nil {
		return err
	}
	results = append(results, r)
	dp.Stop()

	mib := float64(size) / (1 << 20)
	base := results[len(results)-1]
	fmt.Printf("\n| registry | push | pull | push vs distribution | pull vs distribution |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Printf("| %s | %.1f s (%.0f MiB/s) | %.1f s (%.0f MiB/s) | %.2f× | %.2f× |\n", r.name,
			r.push.Seconds(), mib/r.push.Seconds(), r.pull.Seconds(), mib/r.pull.Seconds(),
			base.push.Seconds()/r.push.Seconds(), base.pull.Seconds()/r.pull.Seconds())
	}
	fmt.Println("\n(× above 1: faster than distribution)")
	return nil
}

// pushPull pushes img to one registry and pulls it, every layer read and
// verified, from another (or the same).
func pushPull(label string, img v1.Image, pushHost, pullHost string) (result, error) {
	r := result{name: label}
	pushRef, err := name.ParseReference(pushHost+"/bench/image:v1", name.Insecure)
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := remote.Write(pushRef, img, remote.WithJobs(4)); err != nil {
		return r, fmt.Errorf("%s: push: %w", label, err)
	}
	r.push = time.Since(start)
	pullRef, _ := name.ParseReference(pullHost+"/bench/image:v1", name.Insecure)
	start = time.Now()
	got, err := remote.Image(pullRef)
	if err != nil {
		return r, fmt.Errorf("%s: pull: %w", label, err)
	}
	ls, err := got.Layers()
	if err != nil {
		return r, err
	}
	var eg errgroup.Group
	eg.SetLimit(4) // docker's default concurrent downloads are 3, crane's jobs 4
	for _, l := range ls {
		eg.Go(func() error {
			rc, err := l.Compressed() // verifies the digest at EOF
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return r, fmt.Errorf("%s: pull: %w", label, err)
	}
	r.pull = time.Since(start)
	fmt.Printf("%s: push %s, pull %s\n", label, r.push.Round(time.Millisecond), r.pull.Round(time.Millisecond))
	return r, nil
}

// randomImage is an OCI image of n uncompressed layers of random bytes.
func randomImage(size int64, n int) (v1.Image, error) {
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	var ls []v1.Layer
	for i := range n {
		b := make([]byte, size/int64(n))
		rng.Read(b)
		b[0] = byte(i)
		ls = append(ls, static.NewLayer(b, types.OCIUncompressedLayer))
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), ls...)
	if err != nil {
		return nil, err
	}
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	return fmt.Errorf("nothing listens on %s after 30s", addr)
}
