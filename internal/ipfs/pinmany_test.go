package ipfs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// PinMany answers every target once: the DAGs it holds are pinned (with
// their names and modes), the one it cannot get fails alone.
func TestPinManyAnswersEachTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := newNode(t)
	big := addString(t, n, strings.Repeat("many ", 100000), false) // several blocks
	small := addString(t, n, "one block", false)
	h, _ := mh.Sum([]byte("held by nobody"), mh.SHA2_256, -1)
	missing := cid.NewCidV1(cid.Raw, h)
	targets := []ipfs.PinTarget{
		{Cid: big, Recursive: true, Name: "big"},
		{Cid: small, Recursive: false, Name: "small"},
		{Cid: missing, Recursive: true},
		{Cid: small, Recursive: true, Name: "small again"}, // the same root twice
	}
	var mu sync.Mutex
	answers := map[int][]error{}
	n.PinMany(ctx, targets, func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		answers[i] = append(answers[i], err)
	})
	for i := range targets {
		if len(answers[i]) != 1 {
			t.Fatalf("target %d answered %d times, want once", i, len(answers[i]))
		}
	}
	for _, i := range []int{0, 1, 3} {
		if err := answers[i][0]; err != nil {
			t.Fatalf("target %d: %v", i, err)
		}
	}
	if err := answers[2][0]; !errors.Is(err, ipfs.ErrNotFound) {
		t.Fatalf("missing target: %v, want ErrNotFound", err)
	}
	got := pinList(t, n, "all")
	for _, want := range []string{big.String() + " recursive", small.String() + " recursive"} {
		if !contains(got, want) {
			t.Fatalf("pins = %v, want %q", got, want)
		}
	}
	if ok, _ := n.IsPinnedRecursively(ctx, missing); ok {
		t.Fatal("the missing root is pinned")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
