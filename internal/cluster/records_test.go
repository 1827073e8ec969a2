package cluster

import (
	"context"
	"testing"
	"time"
)

// A record written through a follower is committed through the leader and
// read through any other peer as of the write; listing and deleting work
// the same way.
func TestRecordsThroughAnyPeer(t *testing.T) {
	tc := newCluster(t, 3, "z1", "z2", "z3")
	tc.waitMembers(3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var followers []*testPeer
	for _, tp := range tc.peers {
		if !tp.peer.IsLeader() {
			followers = append(followers, tp)
		}
	}
	w, r := followers[0].peer, followers[1].peer
	if err := w.PutRecord(ctx, "test/a", []byte("alpha")); err != nil {
		t.Fatal(err)
	}
	if err := w.PutRecord(ctx, "test/b", []byte("beta")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := r.Record(ctx, "test/a"); err != nil || !ok || string(v) != "alpha" {
		t.Fatalf("Record through another follower = %q %v %v", v, ok, err)
	}
	var keys []string
	if err := r.Records(ctx, "test/", "", func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != "test/a" || keys[1] != "test/b" {
		t.Fatalf("Records = %v", keys)
	}
	if err := r.DeleteRecord(ctx, "test/a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := w.Record(ctx, "test/a"); ok || err != nil {
		t.Fatalf("deleted record still read: %v %v", ok, err)
	}
	if err := w.PutRecord(ctx, "", []byte("x")); err == nil {
		t.Fatal("a record with an empty key was written")
	}
}
