package ipfs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// record signs an IPNS record for key pointing at value.
func record(t *testing.T, key crypto.PrivKey, value string, seq uint64, eol time.Time) []byte {
	t.Helper()
	p, err := path.NewPath(value)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ipns.NewRecord(key, p, seq, eol, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ipns.MarshalRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestIPNSRecords(t *testing.T) {
	ctx := context.Background()
	n := newMemNode(t)
	key, _, _ := crypto.GenerateEd25519Key(nil)
	other, _, _ := crypto.GenerateEd25519Key(nil)
	name := ipns.NameFromPeer(mustPeer(t, key)).String()
	later := time.Now().Add(time.Hour)
	const v1, v2 = "/ipfs/bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am", "/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"

	if _, err := n.PutRecord(ctx, name, record(t, key, v1, 1, later), false); !errors.Is(err, ipfs.ErrNeedsAllowOffline) {
		t.Fatalf("PutRecord on an offline node without allowOffline = %v, want ErrNeedsAllowOffline", err)
	}
	for _, c := range []struct {
		what string
		rec  []byte
		name string
		ok   bool
	}{
		{"valid, sequence 2", record(t, key, v2, 2, later), name, true},
		{"older than the stored one", record(t, key, v1, 1, later), name, false},
		{"same record again", record(t, key, v2, 2, later), name, true},
		{"signed by another key", record(t, other, v1, 3, later), name, false},
		{"expired", record(t, key, v1, 4, time.Now().Add(-time.Minute)), name, false},
		{"garbage", []byte("not a record"), name, false},
		{"bad name", record(t, key, v1, 5, later), "not-a-name", false},
		{"/ipns/ prefix", record(t, key, v2, 6, later), "/ipns/" + name, true},
	} {
		_, err := n.PutRecord(ctx, c.name, c.rec, true)
		if (err == nil) != c.ok {
			t.Errorf("PutRecord(%s) = %v, want ok=%v", c.what, err, c.ok)
		}
	}
	got, err := n.GetRecord(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := ipns.UnmarshalRecord(got)
	if seq, _ := rec.Sequence(); seq != 6 {
		t.Fatalf("GetRecord sequence = %d, want the best stored (6)", seq)
	}
	res, err := n.ResolveName(ctx, ipns.NameFromPeer(mustPeer(t, key)).AsPath(), ipfs.ResolveOptions{Recursive: true})
	if err != nil || res.Path.String() != v2 {
		t.Fatalf("ResolveName = %v, %v; want %s", res.Path, err, v2)
	}
	otherName := ipns.NameFromPeer(mustPeer(t, other))
	if _, err := n.ResolveName(ctx, otherName.AsPath(), ipfs.ResolveOptions{Recursive: true}); !errors.Is(err, ipfs.ErrNotFound) {
		t.Fatalf("ResolveName of a name without a record = %v, want ErrNotFound", err)
	}
	if _, err := n.GetRecord(ctx, otherName.String()); !errors.Is(err, ipfs.ErrNotFound) {
		t.Fatalf("GetRecord of a name without a record = %v, want ErrNotFound", err)
	}
}

func mustPeer(t *testing.T, key crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Names the cluster keeps resolve from its record at once, at any depth
// (behind a DNSLink domain too), whatever the cache holds.
func TestSharedRecordsResolveFirst(t *testing.T) {
	ctx := context.Background()
	key, _, _ := crypto.GenerateEd25519Key(nil)
	name := ipns.NameFromPeer(mustPeer(t, key))
	t.Setenv("IPFS_NS_MAP", "site.example:/ipns/"+name.String())
	n := newMemNode(t)
	const v1, v2 = "/ipfs/bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am", "/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
	later := time.Now().Add(time.Hour)
	shared := record(t, key, v1, 1, later)
	n.ShareRecords(func(_ context.Context, k string) []byte {
		if k == string(name.RoutingKey()) {
			return shared
		}
		return nil
	})
	resolve := func(p string) string {
		t.Helper()
		res, err := n.ResolveName(ctx, mustPath(t, p), ipfs.ResolveOptions{Recursive: true})
		if err != nil {
			t.Fatalf("resolve %s: %v", p, err)
		}
		return res.Path.String()
	}
	for _, p := range []string{"/ipns/" + name.String(), "/ipns/site.example"} {
		if got := resolve(p); got != v1 {
			t.Fatalf("%s -> %s, want %s", p, got, v1)
		}
	}
	// The record store answers with it too (routing get, and any
	// resolver that reads the store).
	if rec, err := n.GetRecord(ctx, name.String()); err != nil || string(rec) != string(shared) {
		t.Fatalf("GetRecord = %d bytes, %v", len(rec), err)
	}
	shared = record(t, key, v2, 2, later) // a publish through another peer
	for _, p := range []string{"/ipns/" + name.String(), "/ipns/site.example"} {
		if got := resolve(p); got != v2 {
			t.Fatalf("after a new record, %s -> %s, want %s at once", p, got, v2)
		}
	}
	shared = record(t, key, v1, 3, time.Now().Add(-time.Minute)) // expired
	if res, err := n.ResolveName(ctx, mustPath(t, "/ipns/"+name.String()), ipfs.ResolveOptions{Recursive: true}); !errors.Is(err, ipfs.ErrNotFound) {
		t.Fatalf("an expired shared record: %v %v, want not found", res.Path, err)
	}
}

func mustPath(t *testing.T, s string) path.Path {
	t.Helper()
	p, err := path.NewPath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
