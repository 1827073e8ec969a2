package storage_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

func TestShardIsChosenAtCreationAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blocks")
	d, err := storage.OpenBlocks(dir, storage.Config{Shard: "next-to-last/3"})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	// Reopening with the default keeps the store's own function.
	d, err = storage.OpenBlocks(dir, storage.DefaultConfig())
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
