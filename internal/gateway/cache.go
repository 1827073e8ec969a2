package gateway

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/boxo/path/resolver"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
)

// blockCache keeps recently read small blocks in memory, in front of the
// node's blockstore, whose every read opens a file. Blocks are immutable
// and named by their hash, so a cached block is always right; the cost is
// that a block deleted by GC may still be served from memory for a while.
type blockCache struct {
	blockstore.Blockstore
	maxBlock int

	mu   sync.Mutex
	lru  *simplelru.LRU[string, []byte] // guarded by mu; keyed by multihash
	size int64                          // guarded by mu: bytes held
	max  int64
}

// newBlockCache wraps bs; with max 0 it returns bs itself.
func newBlockCache(bs blockstore.Blockstore, max int64, maxBlock int) blockstore.Blockstore {
	if max <= 0 || maxBlock <= 0 {
		return bs
	}
	c := &blockCache{Blockstore: bs, maxBlock: maxBlock, max: max}
	// The entry count is not the limit (bytes are): make it unreachable.
	c.lru, _ = simplelru.NewLRU(1<<30, func(_ string, v []byte) { c.size -= int64(len(v)) })
	return c
}

func (c *blockCache) lookup(k cid.Cid) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Get(string(k.Hash()))
}

func (c *blockCache) keep(k cid.Cid, data []byte) {
	if len(data) > c.maxBlock {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(string(k.Hash())) {
		return
	}
	c.lru.Add(string(k.Hash()), data)
	c.size += int64(len(data))
	for c.size > c.max {
		c.lru.RemoveOldest()
	}
}

func (c *blockCache) Get(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	if data, ok := c.lookup(k); ok {
		return blocks.NewBlockWithCid(data, k)
	}
	b, err := c.Blockstore.Get(ctx, k)
	if err != nil {
		return nil, err
	}
	c.keep(k, b.RawData())
	return b, nil
}

func (c *blockCache) Has(ctx context.Context, k cid.Cid) (bool, error) {
	if _, ok := c.lookup(k); ok {
		return true, nil
	}
	return c.Blockstore.Has(ctx, k)
}

func (c *blockCache) GetSize(ctx context.Context, k cid.Cid) (int, error) {
	if data, ok := c.lookup(k); ok {
		return len(data), nil
	}
	return c.Blockstore.GetSize(ctx, k)
}

func (c *blockCache) DeleteBlock(ctx context.Context, k cid.Cid) error {
	c.mu.Lock()
	c.lru.Remove(string(k.Hash()))
	c.mu.Unlock()
	return c.Blockstore.DeleteBlock(ctx, k)
}

// pathCache memoises the resolution of immutable paths: /ipfs/<cid>/a/b
// names the same block forever, and resolving it walks one block per
// segment (boxo resolves every prefix of a path for X-Ipfs-Roots, so a
// path of n segments costs n(n+1)/2 block reads without the cache).
// Failures are not kept: content may arrive later.
type pathCache struct {
	resolver.Resolver
	mu  sync.Mutex
	lru *simplelru.LRU[string, resolved] // guarded by mu
}

type resolved struct {
	c    cid.Cid
	rest []string
}

// newPathCache wraps r; with 0 entries it returns r itself.
func newPathCache(r resolver.Resolver, entries int) resolver.Resolver {
	if entries <= 0 {
		return r
	}
	lru, _ := simplelru.NewLRU[string, resolved](entries, nil)
	return &pathCache{Resolver: r, lru: lru}
}

func (p *pathCache) ResolveToLastNode(ctx context.Context, fp path.ImmutablePath) (cid.Cid, []string, error) {
	if len(fp.Segments()) <= 2 {
		return fp.RootCid(), nil, nil // nothing to walk, nothing to keep
	}
	key := fp.String()
	p.mu.Lock()
	v, ok := p.lru.Get(key)
	p.mu.Unlock()
	if ok {
		return v.c, slices.Clone(v.rest), nil
	}
	c, rest, err := p.Resolver.ResolveToLastNode(ctx, fp)
	if err != nil {
		return c, rest, err
	}
	p.mu.Lock()
	p.lru.Add(key, resolved{c: c, rest: slices.Clone(rest)})
	p.mu.Unlock()
	return c, rest, nil
}

// missCache remembers, for a while, the hosts that have no DNSLink record.
// boxo asks for the DNSLink of every request's Host that is neither an IP
// nor a configured gateway host, and namesys caches answers, not their
// absence: behind a load balancer whose hostname is not configured, that
// is one DNS query per request.
type missCache struct {
	ttl time.Duration
	mu  sync.Mutex
	lru *simplelru.LRU[string, time.Time] // guarded by mu: host -> expiry
}

func newMissCache(entries int, ttl time.Duration) *missCache {
	lru, _ := simplelru.NewLRU[string, time.Time](entries, nil)
	return &missCache{ttl: ttl, lru: lru}
}

// missing reports whether host was found without DNSLink recently.
func (m *missCache) missing(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.lru.Get(host)
	return ok && time.Now().Before(exp)
}

func (m *missCache) add(host string) {
	m.mu.Lock()
	m.lru.Add(host, time.Now().Add(m.ttl))
	m.mu.Unlock()
}
