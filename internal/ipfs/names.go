package ipfs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/path"
	ds "github.com/ipfs/go-datastore"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/multiformats/go-base32"
	madns "github.com/multiformats/go-multiaddr-dns"
)

// ErrBadRecord marks an IPNS record that does not validate for its name.
var ErrBadRecord = errors.New("invalid IPNS record")

// ErrNeedsAllowOffline is returned by PutRecord on an offline node unless
// the caller accepts a record that is stored but not published, as Kubo's
// `routing put --allow-offline` does.
var ErrNeedsAllowOffline = errors.New("can't put while offline: pass `--allow-offline` to override")

// recordPrefix is where IPNS records live in the metadata store, keyed by
// the base32 of their routing key.
const recordPrefix = "/ipns-records/"

// nameCacheSize bounds the name system's cache of resolved names.
const nameCacheSize = 1024

// records is the node's IPNS value store: records kept in the metadata
// store (imported with PutRecord, or learnt from the network) and, when the
// node is online with a DHT, the DHT. Every value it returns has been
// validated: namesys trusts its value store to do that.
type records struct {
	store     ds.Datastore
	dht       routing.ValueStore // nil offline or with the DHT off
	validator record.Validator
	// shared, once set, gives the records the cluster keeps for the
	// names it publishes (see ShareRecords).
	shared atomic.Pointer[SharedRecords]
}

// SharedRecords returns the record a cluster keeps for an IPNS routing
// key, or nil.
type SharedRecords func(ctx context.Context, routingKey string) []byte

// ShareRecords makes the node read IPNS records from src beside its own
// store: a name the cluster publishes resolves on every peer at once,
// whatever the DHT knows.
func (n *Node) ShareRecords(src SharedRecords) { n.records.shared.Store(&src) }

// sharedRecord returns the shared record of key if it is valid.
func (r *records) sharedRecord(ctx context.Context, key string) []byte {
	src := r.shared.Load()
	if src == nil {
		return nil
	}
	val := (*src)(ctx, key)
	if val == nil || r.validator.Validate(key, val) != nil {
		return nil
	}
	return val
}

var _ routing.ValueStore = (*records)(nil)

func newRecords(meta ds.Datastore, dht routing.ValueStore) *records {
	return &records{store: meta, dht: dht, validator: ipns.Validator{}}
}

func recordKey(key string) ds.Key {
	return ds.NewKey(recordPrefix + base32.RawStdEncoding.EncodeToString([]byte(key)))
}

// checkKey accepts IPNS routing keys only: they are the only values whose
// validity the node can check.
func checkKey(key string) error {
	if !strings.HasPrefix(key, "/ipns/") {
		return fmt.Errorf("%w: key %q: only /ipns/ records are supported", ErrBadPath, key)
	}
	return nil
}

// local returns the best valid record for key of the node's store and the
// cluster's.
func (r *records) local(ctx context.Context, key string) ([]byte, error) {
	shared := r.sharedRecord(ctx, key)
	val, err := r.store.Get(ctx, recordKey(key))
	if err == nil && r.validator.Validate(key, val) != nil {
		err = ds.ErrNotFound // expired (or corrupt): as good as absent
	}
	switch {
	case err != nil && shared != nil:
		return shared, nil
	case err != nil:
		return nil, err
	case shared != nil:
		if i, err := r.validator.Select(key, [][]byte{val, shared}); err == nil && i == 1 {
			return shared, nil
		}
	}
	return val, nil
}

// storeLocal keeps val unless the stored record for key is better.
func (r *records) storeLocal(ctx context.Context, key string, val []byte) error {
	if old, err := r.local(ctx, key); err == nil {
		best, err := r.validator.Select(key, [][]byte{val, old})
		if err != nil {
			return err
		}
		if best != 0 {
			return fmt.Errorf("%w: a newer record for this name is already stored", ErrBadRecord)
		}
	}
	return r.store.Put(ctx, recordKey(key), val)
}

// PutValue validates and stores a record, and publishes it to the DHT
// when there is one.
func (r *records) PutValue(ctx context.Context, key string, val []byte, opts ...routing.Option) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := r.validator.Validate(key, val); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if err := r.storeLocal(ctx, key, val); err != nil {
		return err
	}
	var o routing.Options
	if err := o.Apply(opts...); err != nil {
		return err
	}
	if r.dht == nil || o.Offline {
		return nil
	}
	return r.dht.PutValue(ctx, key, val, opts...)
}

// GetValue returns the best valid record of the local store and the DHT.
func (r *records) GetValue(ctx context.Context, key string, opts ...routing.Option) ([]byte, error) {
	var best []byte
	for v := range r.search(ctx, key, opts) {
		best = v
	}
	if best == nil {
		return nil, routing.ErrNotFound
	}
	return best, nil
}

// SearchValue sends better and better records: the local one first, then
// what the DHT finds that beats it.
func (r *records) SearchValue(ctx context.Context, key string, opts ...routing.Option) (<-chan []byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return r.search(ctx, key, opts), nil
}

func (r *records) search(ctx context.Context, key string, opts []routing.Option) <-chan []byte {
	out := make(chan []byte, 1)
	local, _ := r.local(ctx, key)
	var o routing.Options
	if r.dht == nil || o.Apply(opts...) != nil || o.Offline {
		if local != nil {
			out <- local
		}
		close(out)
		return out
	}
	go func() {
		defer close(out)
		best := local
		if best != nil {
			select {
			case out <- best:
			case <-ctx.Done():
				return
			}
		}
		found, err := r.dht.SearchValue(ctx, key, opts...)
		if err != nil {
			return
		}
		for v := range found {
			if best != nil {
				if i, err := r.validator.Select(key, [][]byte{best, v}); err != nil || i == 0 {
					continue
				}
			}
			best = v
			// Keep what the network taught us: the next resolution
			// works offline too.
			r.store.Put(ctx, recordKey(key), v)
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// PutRecord validates an IPNS record for name (a peer ID, a libp2p-key CID,
// or either prefixed by /ipns/) and stores it. Online, it is also published
// to the DHT; offline, allowOffline must be set.
func (n *Node) PutRecord(ctx context.Context, name string, rec []byte, allowOffline bool) (ipns.Name, error) {
	nm, err := parseName(name)
	if err != nil {
		return ipns.Name{}, err
	}
	var opts []routing.Option
	if !n.Online() || n.Network.DHT == nil {
		if !allowOffline {
			return ipns.Name{}, ErrNeedsAllowOffline
		}
		opts = append(opts, routing.Offline)
	}
	return nm, n.Records.PutValue(ctx, string(nm.RoutingKey()), rec, opts...)
}

// GetRecord returns the best known valid IPNS record of name.
func (n *Node) GetRecord(ctx context.Context, name string) ([]byte, error) {
	nm, err := parseName(name)
	if err != nil {
		return nil, err
	}
	rec, err := n.Records.GetValue(ctx, string(nm.RoutingKey()))
	if errors.Is(err, routing.ErrNotFound) {
		return nil, fmt.Errorf("%w: no valid IPNS record for %s", ErrNotFound, nm)
	}
	return rec, err
}

func parseName(s string) (ipns.Name, error) {
	nm, err := ipns.NameFromString(s)
	if err != nil {
		return ipns.Name{}, fmt.Errorf("%w: IPNS name %q: %v", ErrBadPath, s, err)
	}
	return nm, nil
}

// ResolveOptions tune a name resolution.
type ResolveOptions struct {
	// Recursive follows names that resolve to other names, down to an
	// /ipfs/ path. Without it, one step is taken.
	Recursive bool
	// NoCache skips the cache of resolved names.
	NoCache bool
	// RecordCount and Timeout bound the DHT search (0: namesys defaults).
	RecordCount uint
	Timeout     time.Duration
}

// ResolveName resolves an /ipns/ path (an IPNS name or a DNSLink domain)
// through the local records, IPFS_NS_MAP and DNS, and the DHT when online.
func (n *Node) ResolveName(ctx context.Context, p path.Path, o ResolveOptions) (namesys.Result, error) {
	if !p.Mutable() {
		return namesys.Result{Path: p}, nil
	}
	opts := []namesys.ResolveOption{}
	if !o.Recursive {
		opts = append(opts, namesys.ResolveWithDepth(1))
	}
	if o.RecordCount > 0 {
		opts = append(opts, namesys.ResolveWithDhtRecordCount(o.RecordCount))
	}
	if o.Timeout > 0 {
		opts = append(opts, namesys.ResolveWithDhtTimeout(o.Timeout))
	}
	ns := n.Names
	if o.NoCache {
		ns = n.uncachedNames
	}
	res, err := ns.Resolve(ctx, p, opts...)
	if errors.Is(err, namesys.ErrResolveRecursion) && !o.Recursive {
		err = nil // one step taken, as asked
	}
	if err != nil {
		if errors.Is(err, namesys.ErrResolveFailed) || errors.Is(err, routing.ErrNotFound) {
			return res, fmt.Errorf("%w: could not resolve name %s: %v", ErrNotFound, p, err)
		}
		return res, fmt.Errorf("could not resolve name %s: %w", p, err)
	}
	return res, nil
}

// newNameSystems builds the cached name system the node resolves with and
// an uncached one for callers that ask to bypass the cache. namesys reads
// IPFS_NS_MAP itself, as in Kubo: static DNSLink for tests and debugging.
func newNameSystems(r *records, vs routing.ValueStore, dns madns.BasicResolver) (cached, uncached namesys.NameSystem, err error) {
	var opts []namesys.Option
	if dns != nil {
		opts = append(opts, namesys.WithDNSResolver(dns))
	}
	cached, err = namesys.NewNameSystem(vs, append(opts, namesys.WithCache(nameCacheSize))...)
	if err != nil {
		return nil, nil, fmt.Errorf("name system: %w", err)
	}
	uncached, err = namesys.NewNameSystem(vs, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("name system: %w", err)
	}
	return clusterFirst{cached, r}, clusterFirst{uncached, r}, nil
}

// OfflineNames returns a name system and a record store that never ask the
// network for IPNS records: only local records resolve. DNSLink still
// uses DNS (and IPFS_NS_MAP).
func (n *Node) OfflineNames() (namesys.NameSystem, routing.ValueStore, error) {
	vs := offlineRecords{n.Records}
	ns, _, err := newNameSystems(n.records, vs, n.dns)
	return ns, vs, err
}

// offlineRecords is a view of a value store that adds routing.Offline to
// every call.
type offlineRecords struct{ routing.ValueStore }

func (o offlineRecords) GetValue(ctx context.Context, k string, opts ...routing.Option) ([]byte, error) {
	return o.ValueStore.GetValue(ctx, k, append(opts, routing.Offline)...)
}

func (o offlineRecords) SearchValue(ctx context.Context, k string, opts ...routing.Option) (<-chan []byte, error) {
	return o.ValueStore.SearchValue(ctx, k, append(opts, routing.Offline)...)
}

func (o offlineRecords) PutValue(ctx context.Context, k string, v []byte, opts ...routing.Option) error {
	return o.ValueStore.PutValue(ctx, k, v, append(opts, routing.Offline)...)
}

// clusterFirst resolves the names the cluster publishes from the cluster's
// record, which is the newest there is: no cache to outlive, no DHT to
// wait for. Other names go to the name system it wraps.
type clusterFirst struct {
	namesys.NameSystem
	records *records
}

// Resolve takes one step at a time, so that a cluster name is read from
// the cluster at any depth: behind a DNSLink domain, or another name.
func (c clusterFirst) Resolve(ctx context.Context, p path.Path, opts ...namesys.ResolveOption) (namesys.Result, error) {
	out := namesys.Result{Path: p}
	for depth, step := namesys.ProcessResolveOptions(opts).Depth, 0; out.Path.Mutable(); step++ {
		if uint(step) == depth {
			return out, namesys.ErrResolveRecursion
		}
		res, ok := c.shared(ctx, out.Path)
		if !ok {
			var err error
			res, err = c.NameSystem.Resolve(ctx, out.Path, append(opts, namesys.ResolveWithDepth(1))...)
			if err != nil && !errors.Is(err, namesys.ErrResolveRecursion) {
				return res, err
			}
		}
		// The answer is good for as long as every step of it is.
		if step == 0 || res.TTL < out.TTL {
			out.TTL = res.TTL
		}
		out.Path, out.LastMod = res.Path, res.LastMod
	}
	return out, nil
}

func (c clusterFirst) ResolveAsync(ctx context.Context, p path.Path, opts ...namesys.ResolveOption) <-chan namesys.AsyncResult {
	if _, ok := c.shared(ctx, p); !ok {
		return c.NameSystem.ResolveAsync(ctx, p, opts...)
	}
	out := make(chan namesys.AsyncResult, 1)
	res, err := c.Resolve(ctx, p, opts...)
	out <- namesys.AsyncResult{Path: res.Path, TTL: res.TTL, LastMod: res.LastMod, Err: err}
	close(out)
	return out
}

// shared resolves one step of p from the cluster's record of its name.
func (c clusterFirst) shared(ctx context.Context, p path.Path) (namesys.Result, bool) {
	segs := p.Segments()
	if p.Namespace() != path.IPNSNamespace || len(segs) < 2 {
		return namesys.Result{}, false
	}
	name, err := ipns.NameFromString(segs[1])
	if err != nil {
		return namesys.Result{}, false // a DNSLink domain
	}
	raw := c.records.sharedRecord(ctx, string(name.RoutingKey()))
	if raw == nil {
		return namesys.Result{}, false
	}
	rec, err := ipns.UnmarshalRecord(raw)
	if err != nil {
		return namesys.Result{}, false
	}
	value, err := rec.Value()
	if err != nil {
		return namesys.Result{}, false
	}
	if len(segs) > 2 {
		if value, err = path.Join(value, segs[2:]...); err != nil {
			return namesys.Result{}, false
		}
	}
	ttl, _ := rec.TTL()
	return namesys.Result{Path: value, TTL: ttl}, true
}
