package registry_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
	"github.com/flotilla-ipfs/flotilla/internal/registry"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

// testPeer is one in-process peer: a node on a loopback swarm, its
// cluster peer and its registry behind an HTTP server, with its hand-off
// handler on the cluster port, as the daemon serves them.
type testPeer struct {
	peer    *cluster.Peer
	node    *ipfs.Node
	net     *p2p.Network
	repo    *repo.Repo
	srv     *httptest.Server
	handoff *http.Server
	host    string // the registry's host:port
}

func (tp *testPeer) stop() {
	if tp.peer == nil {
		return
	}
	tp.srv.Close()
	tp.handoff.Close()
	tp.peer.Stop()
	tp.node.Close()
	tp.node.Pins.Close()
	tp.net.Close()
	tp.repo.Close()
	tp.peer = nil
}

// startPeers starts n peers forming one cluster, each serving a registry
// with cfg.
func startPeers(t *testing.T, n int, cfg registry.Config) []*testPeer {
	t.Helper()
	ctx := context.Background()
	secret := []byte("registry test cluster secret 32b")
	var peers []*testPeer
	for i := range n {
		dir := t.TempDir()
		tp := &testPeer{}
		var err error
		if tp.repo, err = repo.Open(dir); err != nil {
			t.Fatal(err)
		}
		pcfg := p2p.DefaultConfig()
		pcfg.Listen, pcfg.DHT, pcfg.Bootstrap = []string{"/ip4/127.0.0.1/tcp/0"}, "off", nil
		if tp.net, err = p2p.Start(ctx, pcfg, tp.repo.Identity, nil); err != nil {
			t.Fatal(err)
		}
		ncfg := ipfs.DefaultConfig()
		ncfg.Provide = ipfs.ProvideNone
		tp.node, err = ipfs.New(ctx, ncfg, ipfs.Deps{
			Blocks: dssync.MutexWrap(ds.NewMapDatastore()), Meta: dssync.MutexWrap(ds.NewMapDatastore()),
			Network: tp.net, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		ccfg := cluster.DefaultConfig()
		ccfg.Listen, ccfg.Secret, ccfg.Zone, ccfg.PeerName = "127.0.0.1:0", secret, fmt.Sprintf("z%d", i), fmt.Sprintf("peer%d", i)
		ccfg.Heartbeat, ccfg.DownAfter = 100*time.Millisecond, 600*time.Millisecond
		if i > 0 {
			ccfg.Join = []string{peers[0].peer.Addr()}
		}
		id := tp.repo.ID.String()
		tp.peer, err = cluster.Start(ctx, ccfg, cluster.Deps{
			Dir: filepath.Join(dir, "cluster"), ID: id, Node: tp.node, Logger: slog.New(slog.DiscardHandler),
			SwarmAddrs: func() []string {
				var out []string
				for _, a := range tp.net.Host.Addrs() {
					out = append(out, a.String()+"/p2p/"+id)
				}
				return out
			},
			FreeSpace: func() uint64 { return 1 << 40 },
		})
		if err != nil {
			t.Fatal(err)
		}
		reg, err := registry.New(cfg, registry.Deps{
			Cluster: tp.peer, Node: tp.node, LocalDAG: tp.node.LocalDAG, DAG: tp.node.DAG,
			UploadDir: filepath.Join(dir, "uploads"), Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		tp.srv = httptest.NewServer(reg)
		tp.handoff = &http.Server{Handler: reg.Handoff()}
		go tp.handoff.Serve(tp.peer.APIListener())
		tp.host = strings.TrimPrefix(tp.srv.URL, "http://")
		t.Cleanup(tp.stop)
		peers = append(peers, tp)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, tp := range peers {
		for {
			ms, err := tp.peer.Members(ctx)
			if err == nil && len(ms) == n && tp.peer.Leader() != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster of %d did not form: %v %v", n, ms, err)
			}
			time.Sleep(50 * time.Millisecond) // polling interval
		}
	}
	return peers
}

// TestCraneThroughTheCluster pushes an image of many random layers with
// go-containerregistry through one peer, pulls it through another at once
// (read-your-writes), then through the third after the first is gone;
// every digest matches and every layer's bytes verify.
func TestCraneThroughTheCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-peer cluster")
	}
	peers := startPeers(t, 3, registry.Config{ReplicationMin: 2, ReplicationMax: 2})
	img, err := random.Image(256<<10, 24) // 24 layers of 256 KiB: a chunk and a bit, compressed
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	ref := func(tp *testPeer) name.Reference {
		r, err := name.ParseReference(tp.host+"/crane/many-layers:v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	start := time.Now()
	if err := remote.Write(ref(peers[0]), img); err != nil {
		t.Fatalf("push through peer 0: %v", err)
	}
	t.Logf("pushed 24 layers through peer 0 (replicated ×2) in %s", time.Since(start).Round(time.Millisecond))

	pull := func(tp *testPeer, label string) {
		t.Helper()
		got, err := remote.Image(ref(tp))
		if err != nil {
			t.Fatalf("pull through %s: %v", label, err)
		}
		if d, _ := got.Digest(); d != want {
			t.Fatalf("pull through %s: digest %s, want %s", label, d, want)
		}
		wantLayers, _ := img.Layers()
		gotLayers, _ := got.Layers()
		if len(gotLayers) != len(wantLayers) {
			t.Fatalf("pull through %s: %d layers, want %d", label, len(gotLayers), len(wantLayers))
		}
		for i := range wantLayers {
			a, _ := wantLayers[i].Digest()
			b, _ := gotLayers[i].Digest()
			if a != b {
				t.Fatalf("pull through %s: layer %d digest %s, want %s", label, i, b, a)
			}
		}
		// validate reads every layer and checks its bytes against its
		// digest and the config's diff IDs.
		if err := validate.Image(got); err != nil {
			t.Fatalf("pull through %s: %v", label, err)
		}
	}
	pull(peers[1], "peer 1")
	peers[0].stop()
	pull(peers[2], "peer 2, peer 0 gone")

	// The copy back out is the same image, through another name.
	dst, _ := name.ParseReference(peers[1].host+"/crane/copy:v1", name.Insecure)
	src, err := remote.Image(ref(peers[2]))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, src); err != nil {
		t.Fatalf("copy within the registry: %v", err)
	}
	var _ v1.Image = src
}
