package gateway_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flotilla-ipfs/flotilla/internal/gateway"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

// newDiskNode is an offline node on the stores the daemon uses (flatfs,
// pebble), so that benchmarks pay for real block reads.
func newDiskNode(b *testing.B) *ipfs.Node {
	b.Helper()
	dir := b.TempDir()
	blocks, err := storage.OpenBlocks(context.Background(), dir+"/blocks", storage.DefaultConfig(), storage.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	meta, err := storage.OpenMeta(dir + "/meta")
	if err != nil {
		b.Fatal(err)
	}
	n, err := ipfs.New(context.Background(), ipfs.DefaultConfig(), ipfs.Deps{Blocks: blocks, Meta: meta, Logger: slog.New(slog.DiscardHandler), DNS: noDNS{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close(); n.Pins.Close(); meta.Close(); blocks.Close() })
	return n
}

// BenchmarkServe measures the gateway's own cost per request (no network):
// go test -run '^$' -bench Serve -cpuprofile cpu.out ./internal/gateway
func BenchmarkServe(b *testing.B) {
	n := newDiskNode(b)
	small := make([]byte, 1024)
	rand.Read(small)
	file := addFile(b, n, string(small))
	dir := addDir(b, n, map[string]string{"a.txt": string(small)}, true)
	for _, c := range []struct {
		name string
		cfg  func(*gateway.Config)
		path string
	}{
		{"1KiB", nil, "/ipfs/" + file},
		{"1KiB-in-dir", nil, "/ipfs/" + dir + "/a.txt"},
		{"1KiB-no-response-cache", func(c *gateway.Config) { c.ResponseCacheBytes = 0 }, "/ipfs/" + file},
		{"1KiB-nocache", func(c *gateway.Config) { c.BlockCacheBytes, c.PathCacheEntries, c.ResponseCacheBytes = 0, 0, 0 }, "/ipfs/" + file},
		{"1KiB-in-dir-nocache", func(c *gateway.Config) { c.BlockCacheBytes, c.PathCacheEntries, c.ResponseCacheBytes = 0, 0, 0 }, "/ipfs/" + dir + "/a.txt"},
	} {
		cfg := gateway.DefaultConfig()
		if c.cfg != nil {
			c.cfg(&cfg)
		}
		g, err := newGateway(b, n, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodGet, c.path, nil)
					r.Host = "127.0.0.1:8080"
					w := httptest.NewRecorder()
					g.ServeHTTP(w, r)
					if w.Code != 200 {
						b.Fatalf("%s = %d", c.path, w.Code)
					}
				}
			})
		})
	}
}
