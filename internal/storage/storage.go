// Package storage opens the datastores a node keeps its bytes in: blocks in
// flatfs (one file per block, fsynced), metadata in pebble.
//
// Blocks sit behind go-datastore's Batching interface, the narrow contract
// boxo's blockstore is built on, so that another backend (S3) can replace
// flatfs without the node noticing.
package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	flatfs "github.com/ipfs/go-ds-flatfs"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// Config selects and tunes the block backend.
type Config struct {
	// Shard is the flatfs sharding function used when the block store is
	// created: "next-to-last/2" (Kubo's default) or "next-to-last/3" for
	// stores beyond a few hundred million blocks. An existing store keeps
	// the function it was created with.
	Shard string
	// NoSync skips fsync on block writes. Only for throwaway test data:
	// acknowledged writes may be lost on power failure.
	NoSync bool
}

// DefaultConfig returns the settings of a fresh data directory.
func DefaultConfig() Config { return Config{Shard: "next-to-last/2"} }

// Validate checks the shard function.
func (c Config) Validate() error {
	if _, err := parseShard(c.Shard); err != nil {
		return fmt.Errorf("storage: invalid shard %q: %w", c.Shard, err)
	}
	return nil
}

// OpenBlocks opens (creating if needed) the flatfs block store in dir.
// flatfs clears its temp directory on open, so writes interrupted by a crash
// leave nothing behind.
func OpenBlocks(dir string, cfg Config) (ds.Batching, error) {
	if _, err := os.Stat(filepath.Join(dir, "SHARDING")); err == nil {
		return flatfs.Open(dir, !cfg.NoSync)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	shard, err := parseShard(cfg.Shard)
	if err != nil {
		return nil, fmt.Errorf("storage: invalid shard %q: %w", cfg.Shard, err)
	}
	return flatfs.CreateOrOpen(dir, shard, !cfg.NoSync)
}

// OpenMeta opens the pebble metadata store in dir. Every write is synced:
// pins are small and their loss after an acknowledgement is not acceptable.
func OpenMeta(dir string) (ds.Batching, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return pebbleds.NewDatastore(dir, pebbleds.WithPebbleWriteOptions(pebble.Sync), pebbleds.WithCacheSize(64<<20))
}

// parseShard reads the short form of a flatfs shard function
// ("next-to-last/2") that users write in flags.
func parseShard(short string) (*flatfs.ShardIdV1, error) {
	return flatfs.ParseShardFunc(flatfs.PREFIX + "v1/" + short)
}
