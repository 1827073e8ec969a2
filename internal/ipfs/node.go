// Package ipfs is the embedded IPFS node of a peer: blockstore → exchange
// (bitswap, or nothing offline) → blockservice → DAG service, with pins,
// garbage collection and content routing on top.
//
// The node knows nothing of clusters: it stores, imports, pins and
// exchanges content, and the layers above decide what to pin.
package ipfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/exchange"
	offline "github.com/ipfs/boxo/exchange/offline"
	bsfetcher "github.com/ipfs/boxo/fetcher/impl/blockservice"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/path/resolver"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	"github.com/ipfs/boxo/provider"
	ds "github.com/ipfs/go-datastore"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/ipfs/go-unixfsnode"
	dagpb "github.com/ipld/go-codec-dagpb"
	"github.com/libp2p/go-libp2p/core/routing"
	madns "github.com/multiformats/go-multiaddr-dns"

	"github.com/flotilla-ipfs/flotilla/internal/p2p"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Provide strategies: which CIDs the node announces to the DHT.
const (
	ProvideRoots  = "roots"  // the root of every pin (the default)
	ProvidePinned = "pinned" // every block of every pin
	ProvideAll    = "all"    // every block in the blockstore
	ProvideNone   = "none"
)

// Config holds the node's own settings.
type Config struct {
	// Provide is the providing strategy: roots, pinned, all or none.
	Provide string
	// ReprovideInterval is how often the provided set is announced again.
	ReprovideInterval time.Duration
}

// DefaultConfig provides pinned roots every 22 hours, as Kubo does.
func DefaultConfig() Config {
	return Config{Provide: ProvideRoots, ReprovideInterval: 22 * time.Hour}
}

// Validate checks the strategy name.
func (c Config) Validate() error {
	switch c.Provide {
	case ProvideRoots, ProvidePinned, ProvideAll, ProvideNone:
		return nil
	}
	return fmt.Errorf("ipfs: provide strategy %q: want roots, pinned, all or none", c.Provide)
}

// Deps are what the node is built on. Blocks and Meta are owned by the
// caller; Network is nil for an offline node.
type Deps struct {
	Blocks  ds.Batching // block bytes, keyed by multihash
	Meta    ds.Batching // pins and provider state
	Network *p2p.Network
	Logger  *slog.Logger

	// DNS answers DNSLink lookups; nil is the system resolver.
	DNS madns.BasicResolver
}

// Node is a running IPFS node.
type Node struct {
	cfg       Config
	log       *slog.Logger
	blocksDS  ds.Batching
	metaDS    ds.Batching
	Blocks    blockstore.GCBlockstore // local blocks, with the GC/pin lock
	Exchange  exchange.Interface
	Service   blockservice.BlockService
	DAG       ipld.DAGService // may fetch from the network
	LocalDAG  ipld.DAGService // never leaves the blockstore
	Pins      pin.Pinner
	Network   *p2p.Network // nil offline
	provider  provider.System
	unixfsRes resolver.Resolver
	stop      chan struct{} // closes flushLoop
	done      chan struct{} // closed when flushLoop returned
	localRes  resolver.Resolver

	// Records holds IPNS records: the local store, and the DHT online.
	Records routing.ValueStore
	records *records
	// Names resolves /ipns/ paths: IPNS names through Records, DNSLink
	// through IPFS_NS_MAP and DNS.
	Names         namesys.NameSystem
	uncachedNames namesys.NameSystem
	dns           madns.BasicResolver // nil: the system resolver

	received receivedSet // DAGs held whole before their pin (receive.go)
}

// ErrOffline is returned by operations that need the network.
var ErrOffline = errors.New("this node is offline")

// New wires the node in dependency order. It does not take ownership of the
// datastores: Close leaves them open.
func New(ctx context.Context, cfg Config, d Deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: d.Logger, blocksDS: d.Blocks, metaDS: d.Meta, Network: d.Network}

	// Identity CIDs carry their data inline and are never stored; the
	// GC locker lets an add keep the collector out until its pin is set.
	base := blockstore.NewIdStore(blockstore.NewBlockstore(d.Blocks, blockstore.NoPrefix()))
	n.Blocks = blockstore.NewGCBlockstore(base, blockstore.NewGCLocker())

	if d.Network != nil {
		net := bsnet.NewFromIpfsHost(d.Network.Host)
		n.Exchange = bitswap.New(ctx, net, contentDiscovery(d.Network), n.Blocks)
	} else {
		n.Exchange = offline.Exchange(n.Blocks)
	}
	n.Service = blockservice.New(n.Blocks, n.Exchange)
	n.DAG = merkledag.NewDAGService(n.Service)
	localService := blockservice.New(n.Blocks, offline.Exchange(n.Blocks))
	n.LocalDAG = merkledag.NewDAGService(localService)

	// dspinner keeps its keys under /pins on its own. (Wrapping it in a
	// /pins namespace breaks it: go-datastore's prefix transform leaves keys
	// that already start with the prefix alone, then strips it on read.)
	pins, err := dspinner.New(ctx, d.Meta, n.DAG)
	if err != nil {
		return nil, fmt.Errorf("open pins: %w", err)
	}
	// The pinner's own syncing fsyncs up to three times per change while
	// holding its one lock, which serialises every pin of the node behind
	// the disk. Instead, changes are written unsynced and made durable by
	// syncPins (one pebble WAL fsync, shared by concurrent callers) before
	// any of them is acknowledged; flushLoop marks the pinner clean later.
	pins.SetAutosync(false)
	n.Pins = pins
	n.stop = make(chan struct{})
	n.done = make(chan struct{})
	go n.flushLoop()

	n.unixfsRes = newResolver(n.Service)
	n.localRes = newResolver(localService)

	var dht routing.ValueStore
	if d.Network != nil && d.Network.DHT != nil {
		dht = d.Network.DHT
	}
	n.records, n.dns = newRecords(d.Meta, dht), d.DNS
	n.Records = n.records
	if n.Names, n.uncachedNames, err = newNameSystems(n.records, n.Records, d.DNS); err != nil {
		return nil, err
	}

	n.provider, err = n.newProvider(d)
	if err != nil {
		return nil, err
	}
	return n, nil
}

func newResolver(bs blockservice.BlockService) resolver.Resolver {
	fc := bsfetcher.NewFetcherConfig(bs)
	fc.PrototypeChooser = dagpb.AddSupportToChooser(bsfetcher.DefaultPrototypeChooser)
	return resolver.NewBasicResolver(fc.WithReifier(unixfsnode.Reify))
}

// Online reports whether the node has a network.
func (n *Node) Online() bool { return n.Network != nil }

// Close stops the exchange and the provider.
func (n *Node) Close() error {
	close(n.stop)
	<-n.done
	var errs []error
	if n.provider != nil {
		errs = append(errs, n.provider.Close())
	}
	errs = append(errs, n.Exchange.Close())
	return errors.Join(errs...)
}

// syncPins makes every pin change so far durable.
func (n *Node) syncPins(ctx context.Context) error {
	return n.metaDS.Sync(ctx, ds.NewKey("/pins"))
}

// flushLoop periodically flushes the pinner, which marks its index clean
// (a pinner that finds itself dirty at start rebuilds its indexes). Pin
// durability does not depend on it: see syncPins.
func (n *Node) flushLoop() {
	defer close(n.done)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			n.Pins.Flush(context.Background())
			return
		case <-t.C:
			n.Pins.Flush(context.Background())
		}
	}
}

// HasBlock reports whether the blockstore holds c.
func (n *Node) HasBlock(ctx context.Context, c cid.Cid) (bool, error) { return n.Blocks.Has(ctx, c) }

// Connect dials peers by their multiaddrs (with /p2p/), best effort, each
// within a few seconds: so that bitswap finds content on them without the
// DHT. Offline, it does nothing.
func (n *Node) Connect(ctx context.Context, addrs []string) {
	if n.Network == nil {
		return
	}
	for _, a := range addrs {
		info, err := peer.AddrInfoFromString(a)
		if err != nil || info.ID == n.Network.Host.ID() {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n.Network.Host.Connect(dctx, *info)
		cancel()
	}
}
