package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

func TestShardIsChosenAtCreationAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blocks")
	d, err := storage.OpenBlocks(context.Background(), dir, storage.Config{Shard: "next-to-last/3"}, storage.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	// Reopening with the default keeps the store's own function.
	d, err = storage.OpenBlocks(context.Background(), dir, storage.DefaultConfig(), storage.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "SHARDING"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(raw)); got != "/repo/flatfs/shard/v1/next-to-last/3" {
		t.Fatalf("SHARDING = %q, want next-to-last/3", got)
	}
}

func TestValidateRejectsBadShard(t *testing.T) {
	for _, shard := range []string{"", "next-to-last", "middle/2", "next-to-last/x"} {
		if err := (storage.Config{Shard: shard}).Validate(); err == nil {
			t.Errorf("Validate(%q) = nil, want an error", shard)
		}
	}
	if err := storage.DefaultConfig().Validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}
}

func TestValidateChecksTheBackend(t *testing.T) {
	s3 := storage.DefaultConfig()
	s3.Backend, s3.S3.Bucket = storage.S3, "blocks"
	if err := s3.Validate(); err != nil {
		t.Errorf("Validate(s3 with a bucket) = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*storage.Config)
		want string
	}{
		{"s3 without a bucket", func(c *storage.Config) { c.Backend = storage.S3 }, "--s3-bucket"},
		{"s3 settings on flatfs", func(c *storage.Config) { c.S3.Bucket = "blocks" }, "--blockstore is flatfs"},
		{"shared on flatfs", func(c *storage.Config) { c.S3.Shared = true }, "--blockstore is flatfs"},
		{"unknown backend", func(c *storage.Config) { c.Backend = "tape" }, `--blockstore "tape"`},
	} {
		c := storage.DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%s) = %v, want an error about %q", tc.name, err, tc.want)
		}
	}
}

// Each backend has its own directory, and flatfs refuses to start an
// empty store beside blocks that are in S3.
func TestBlocksDir(t *testing.T) {
	data := t.TempDir()
	s3 := storage.DefaultConfig()
	s3.Backend = storage.S3
	if dir, err := storage.BlocksDir(data, s3); err != nil || dir != filepath.Join(data, "blocks-s3") {
		t.Fatalf("BlocksDir(s3) = %q, %v", dir, err)
	}
	if dir, err := storage.BlocksDir(data, storage.DefaultConfig()); err != nil || dir != filepath.Join(data, "blocks") {
		t.Fatalf("BlocksDir(flatfs) of a new directory = %q, %v", dir, err)
	}
	if err := os.Mkdir(filepath.Join(data, "blocks-s3"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.BlocksDir(data, storage.DefaultConfig()); err == nil || !strings.Contains(err.Error(), "--blockstore s3") {
		t.Fatalf("BlocksDir(flatfs) beside blocks in S3 = %v, want a refusal", err)
	}
	// A directory that has both (it was switched back to flatfs) keeps
	// its flatfs store.
	if err := os.Mkdir(filepath.Join(data, "blocks"), 0o700); err != nil {
		t.Fatal(err)
	}
	if dir, err := storage.BlocksDir(data, storage.DefaultConfig()); err != nil || dir != filepath.Join(data, "blocks") {
		t.Fatalf("BlocksDir(flatfs) with both = %q, %v", dir, err)
	}
}
