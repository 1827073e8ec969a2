package gateway_test

import (
	"context"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/flotilla-ipfs/flotilla/internal/s3store"
	"github.com/flotilla-ipfs/flotilla/internal/s3store/s3test"
)

// The gateway fixture suites again, with every block in flotilla's S3
// store on a real S3 server (versitygw): packs, index, range reads and
// cache, behind the same answers.
func TestFixturesOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an S3 server; skipped in -short mode")
	}
	srv := s3test.Start(t)
	srv.SetEnv(t)
	memory := testBlocks
	t.Cleanup(func() { testBlocks = memory })
	testBlocks = func(tb testing.TB) ds.Batching {
		cfg := s3store.DefaultConfig()
		cfg.Bucket, cfg.Endpoint, cfg.PathStyle = srv.Bucket, srv.Endpoint, true
		cfg.Prefix = tb.Name() // a store of its own for every suite
		st, err := s3store.Open(context.Background(), tb.TempDir(), cfg, s3store.Deps{})
		if err != nil {
			tb.Fatalf("open the S3 store: %v", err)
		}
		tb.Cleanup(func() { st.Close() })
		return st
	}
	for name, suite := range map[string]func(*testing.T){
		"path": TestPathGateway, "trustless": TestTrustlessGateway, "codecs": TestCodecsAndTar,
		"ipns": TestIPNS, "dnslink": TestDNSLinkAndSubdomains,
	} {
		t.Run(name, suite)
	}
	// The blocks went to the bucket: packs were written and read back.
	if srv.Total() == 0 {
		t.Fatal("no S3 request was made: the suites did not run on S3")
	}
	t.Logf("S3 requests: %v", srv.Counts())
}
