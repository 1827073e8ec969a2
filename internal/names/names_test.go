package names

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"
	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// memRecords is the replicated state as one map: enough for the logic of
// this package. The cluster's own tests and cmd/flotilla's run it on real
// peers.
type memRecords struct {
	mu sync.Mutex
	m  map[string][]byte
	// beforePut, when set, runs before a put (outside the lock): a
	// concurrent writer's turn.
	beforePut func(key string)
}

func newMem() *memRecords { return &memRecords{m: map[string][]byte{}} }

func (r *memRecords) PutRecord(_ context.Context, key string, value []byte) error {
	if f := r.beforePut; f != nil {
		f(key)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[key] = bytes.Clone(value)
	return nil
}

func (r *memRecords) DeleteRecord(_ context.Context, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, key)
	return nil
}

func (r *memRecords) Record(_ context.Context, key string) ([]byte, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[key]
	return v, ok, nil
}

func (r *memRecords) Records(_ context.Context, prefix, after string, fn func(string, []byte) error) error {
	r.mu.Lock()
	keys := slices.Sorted(maps.Keys(r.m))
	snap := maps.Clone(r.m)
	r.mu.Unlock()
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) && k > after {
			if err := fn(k, snap[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *memRecords) LocalRecords(ctx context.Context, prefix, after string, fn func(string, []byte) error) error {
	return r.Records(ctx, prefix, after, fn)
}

var secret = []byte("a cluster secret of 32 bytes....")

func newService(t *testing.T, recs Records, secret []byte) *Service {
	t.Helper()
	self, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Records: recs, Secret: secret, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	v1 = path.FromCid(mustCid("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"))
	v2 = path.FromCid(mustCid("bafkreiaxwxnmsw7hb2ceisp2vtpqdctxzxdc3rlbjf2fbjw2g6hcgq3xm4"))
)

// Private keys are stored sealed: no record holds the key's bytes, another
// cluster's secret cannot open them, and a sealed key moved under another
// name does not open either.
func TestKeysAreSealed(t *testing.T) {
	ctx := context.Background()
	recs := newMem()
	s := newService(t, recs, secret)
	k, err := s.Generate(ctx, "site", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := s.Export(ctx, "site")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := crypto.MarshalPrivateKey(sk)
	seed, _ := sk.Raw()
	for key, v := range recs.m {
		if bytes.Contains(v, raw) || bytes.Contains(v, seed[:32]) {
			t.Fatalf("record %s holds the private key in clear", key)
		}
	}

	other := newService(t, recs, []byte("another cluster's secret, 32 by"))
	if _, err := other.Export(ctx, "site"); err == nil || !strings.Contains(err.Error(), "cannot be opened") {
		t.Fatalf("export with another secret: %v", err)
	}
	if keys, err := other.List(ctx); err != nil || len(keys) != 2 || keys[1] != k {
		t.Fatalf("list with another secret = %v %v (IDs are public)", keys, err)
	}
	recs.m[keyPrefix+"moved"] = recs.m[keyPrefix+"site"]
	if _, err := s.Export(ctx, "moved"); err == nil {
		t.Fatal("a sealed key opened under another name")
	}
	if _, err := New(Config{Records: recs, Secret: []byte("short")}); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

func TestKeyManagement(t *testing.T) {
	ctx := context.Background()
	s := newService(t, newMem(), secret)
	a, err := s.Generate(ctx, "a", "ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Generate(ctx, "rsa", "rsa", 2048); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		kind error
		err  error
	}{
		{"a", ErrExists, func() error { _, err := s.Generate(ctx, "a", "", 0); return err }()},
		{"self", ErrInvalid, func() error { _, err := s.Generate(ctx, Self, "", 0); return err }()},
		{"slash", ErrInvalid, func() error { _, err := s.Generate(ctx, "a/b", "", 0); return err }()},
		{"dot", ErrInvalid, func() error { _, err := s.Generate(ctx, ".a", "", 0); return err }()},
		{"type", ErrInvalid, func() error { _, err := s.Generate(ctx, "x", "dsa", 0); return err }()},
		{"rm", ErrNotFound, func() error { _, err := s.Remove(ctx, "none"); return err }()},
		{"rename", ErrExists, func() error { _, _, err := s.Rename(ctx, "a", "rsa", false); return err }()},
	} {
		if !errors.Is(bad.err, bad.kind) {
			t.Errorf("%s: err %v, want %v", bad.name, bad.err, bad.kind)
		}
	}
	k, replaced, err := s.Rename(ctx, "a", "rsa", true)
	if err != nil || !replaced || k.ID != a.ID {
		t.Fatalf("forced rename = %v %v %v", k, replaced, err)
	}
	keys, _ := s.List(ctx)
	if len(keys) != 2 || keys[0].Name != Self || keys[1] != (Key{Name: "rsa", ID: a.ID}) {
		t.Fatalf("keys after rename: %v", keys)
	}
}

// The sequence number moves when the value does, as Kubo's does, and each
// publish leaves one entry.
func TestPublishSequence(t *testing.T) {
	ctx := context.Background()
	recs := newMem()
	s := newService(t, recs, secret)
	if _, err := s.Generate(ctx, "site", "", 0); err != nil {
		t.Fatal(err)
	}
	seqOf := func() uint64 {
		t.Helper()
		n, err := s.Publish(ctx, "site", v1, PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := ipns.UnmarshalRecord(s.Record(ctx, string(n.RoutingKey())))
		if err != nil {
			t.Fatal(err)
		}
		return mustSeq(rec)
	}
	if seq := seqOf(); seq != 0 {
		t.Fatalf("first publish seq %d", seq)
	}
	if seq := seqOf(); seq != 0 {
		t.Fatalf("same value again: seq %d, want 0", seq)
	}
	name, err := s.Publish(ctx, "site", v2, PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if seq := seqOf(); seq != 2 {
		t.Fatalf("v1, v2, v1: seq %d, want 2", seq)
	}
	three := uint64(2)
	if _, err := s.Publish(ctx, "site", v2, PublishOptions{Sequence: &three}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a sequence number not above the current one: %v", err)
	}
	if _, err := s.Publish(ctx, "site", v2, PublishOptions{TTL: 3 * time.Hour, TTLSet: true, Lifetime: time.Hour}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ttl over the lifetime: %v", err)
	}
	entries := 0
	recs.Records(ctx, namePrefix+name.String()+"/", "", func(string, []byte) error { entries++; return nil })
	if entries != 1 {
		t.Fatalf("%d entries for the name, want 1", entries)
	}
}

// A renewal racing with a publish through another peer never brings the
// older value back: the renewal rewrites the entry of the sequence number
// it renewed, and readers take the highest.
func TestRepublishNeverHidesANewerPublish(t *testing.T) {
	ctx := context.Background()
	recs := newMem()
	leader := newService(t, recs, secret)
	other := newService(t, recs, secret)
	if _, err := leader.Generate(ctx, "site", "", 0); err != nil {
		t.Fatal(err)
	}
	name, err := leader.Publish(ctx, "site", v1, PublishOptions{Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The renewal has read v1 and is about to write it back when the
	// other peer's publish of v2 commits.
	once := sync.Once{}
	recs.beforePut = func(key string) {
		once.Do(func() {
			recs.beforePut = nil
			if _, err := other.Publish(ctx, "site", v2, PublishOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	if err := leader.Republish(ctx, time.Now().Add(31*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rec, err := ipns.UnmarshalRecord(leader.Record(ctx, string(name.RoutingKey())))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rec.Value(); v.String() != v2.String() {
		t.Fatalf("after the race the name points to %s, want the newer %s", v, v2)
	}
	// The next pass drops the renewed but outdated entry.
	if err := leader.Republish(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	entries := 0
	recs.Records(ctx, namePrefix, "", func(string, []byte) error { entries++; return nil })
	if entries != 1 {
		t.Fatalf("%d entries after the next pass, want 1", entries)
	}
}

// Names are renewed once past half their lifetime (or RepublishEvery), not
// before; a name whose key is gone lives out its record and is dropped.
func TestRepublishRenewsDueNamesOnly(t *testing.T) {
	ctx := context.Background()
	recs := newMem()
	s := newService(t, recs, secret)
	s.cfg.RepublishEvery = 4 * time.Hour
	s.Generate(ctx, "a", "", 0)
	s.Generate(ctx, "b", "", 0)
	na, _ := s.Publish(ctx, "a", v1, PublishOptions{Lifetime: time.Hour})
	nb, _ := s.Publish(ctx, "b", v1, PublishOptions{Lifetime: 48 * time.Hour})
	entry := func(n ipns.Name) []byte {
		var v []byte
		recs.Records(ctx, namePrefix+n.String()+"/", "", func(_ string, b []byte) error { v = b; return nil })
		return v
	}
	a0, b0 := entry(na), entry(nb)
	now := time.Now()
	if err := s.Republish(ctx, now.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(entry(na), a0) || !bytes.Equal(entry(nb), b0) {
		t.Fatal("a name was renewed before it was due")
	}
	if err := s.Republish(ctx, now.Add(31*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(entry(na), a0) || !bytes.Equal(entry(nb), b0) {
		t.Fatal("after half of a's lifetime: a should be renewed, b not")
	}
	if err := s.Republish(ctx, now.Add(4*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(entry(nb), b0) {
		t.Fatal("b was not renewed after RepublishEvery")
	}

	if _, err := s.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	a1 := entry(na)
	if err := s.Republish(ctx, now.Add(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(entry(na), a1) {
		t.Fatal("a name whose key was removed was renewed")
	}
	if err := s.Republish(ctx, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if entry(na) != nil {
		t.Fatal("an expired name without a key was kept")
	}
}

// Publishing with self is refused with the reason: the peer's identity
// dies with the peer.
func TestPublishWithSelfIsRefused(t *testing.T) {
	s := newService(t, newMem(), secret)
	if _, err := s.Publish(context.Background(), Self, v1, PublishOptions{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cluster key") {
		t.Fatalf("publish with self: %v", err)
	}
}

func mustCid(s string) cid.Cid {
	c, err := cid.Decode(s)
	if err != nil {
		panic(err)
	}
	return c
}
