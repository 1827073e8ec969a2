package daemon

import (
	"context"
	"errors"
	"log/slog"

	ds "github.com/ipfs/go-datastore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
	"github.com/flotilla-ipfs/flotilla/internal/s3store"
	"github.com/flotilla-ipfs/flotilla/internal/storage"
)

// Stores is an opened data directory: the lock, the block store and the
// metadata store.
type Stores struct {
	Repo   *repo.Repo
	Blocks ds.Batching
	Meta   ds.Batching
	// BlocksDir holds the block store's local files (flatfs's blocks, or
	// the S3 store's index and cache).
	BlocksDir string
	// S3 is Blocks when they are in S3 (--blockstore s3), for its health
	// and figures; nil on flatfs.
	S3 *s3store.Store
}

// OpenStores locks the data directory and opens both stores.
func OpenStores(ctx context.Context, data string, cfg storage.Config, deps storage.Deps) (*Stores, error) {
	r, err := repo.Open(data)
	if err != nil {
		return nil, err
	}
	dir, err := storage.BlocksDir(r.Path, cfg)
	if err != nil {
		r.Close()
		return nil, err
	}
	blocks, err := storage.OpenBlocks(ctx, dir, cfg, deps)
	if err != nil {
		r.Close()
		return nil, err
	}
	meta, err := storage.OpenMeta(r.Dir("meta"))
	if err != nil {
		blocks.Close()
		r.Close()
		return nil, err
	}
	s3, _ := blocks.(*s3store.Store)
	return &Stores{Repo: r, Blocks: blocks, Meta: meta, BlocksDir: dir, S3: s3}, nil
}

// Close closes the stores, then releases the lock.
func (s *Stores) Close() error {
	return errors.Join(s.Meta.Close(), s.Blocks.Close(), s.Repo.Close())
}

// Local is an offline node on an opened data directory: what the CLI uses
// when no daemon holds the directory.
type Local struct {
	*Stores
	Node *ipfs.Node
}

// OpenLocal opens the data directory and an offline node on it. On a
// shared bucket the packs it writes are not recorded in the cluster (there
// is none here): the other peers find them at their next start.
func OpenLocal(ctx context.Context, data string, cfg Config, log *slog.Logger) (*Local, error) {
	st, err := OpenStores(ctx, data, cfg.Storage, storage.Deps{S3: s3store.Deps{Logger: log}})
	if err != nil {
		return nil, err
	}
	n, err := ipfs.New(ctx, cfg.Node, ipfs.Deps{Blocks: st.Blocks, Meta: st.Meta, Logger: log})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Local{Stores: st, Node: n}, nil
}

// Close stops the node and closes the stores.
func (l *Local) Close() error {
	return errors.Join(l.Node.Close(), l.Node.Pins.Close(), l.Stores.Close())
}

// startNetwork starts libp2p unless the peer is offline.
func startNetwork(ctx context.Context, cfg Config, r *repo.Repo, reg prometheus.Registerer) (*p2p.Network, error) {
	if cfg.Offline {
		return nil, nil
	}
	return p2p.Start(ctx, cfg.P2P, r.Identity, reg)
}
