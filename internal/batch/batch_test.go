package batch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type item struct {
	n    int
	done chan error
}

// Items that queue while the only flush is busy ride together in the next
// group, within MaxWeight.
func TestItemsQueuedDuringAFlushShareTheNextGroup(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	var groups [][]int
	var mu sync.Mutex
	b := New(Config[item]{
		MaxWeight: 10, InFlight: 1, Queue: 100,
		Flush: func(g []item) {
			if g[0].n == 0 {
				close(started)
				<-release
			}
			mu.Lock()
			var ns []int
			for _, it := range g {
				ns = append(ns, it.n)
			}
			groups = append(groups, ns)
			mu.Unlock()
			for _, it := range g {
				it.done <- nil
			}
		},
		Drop: func(it item) { it.done <- ErrStopped },
	})
	defer b.Stop()
	ctx := context.Background()
	items := make([]item, 16)
	for i := range items {
		items[i] = item{n: i, done: make(chan error, 1)}
	}
	if err := b.Submit(ctx, items[0]); err != nil {
		t.Fatal(err)
	}
	<-started // the first group is in flight: the rest queue behind it
	for _, it := range items[1:] {
		if err := b.Submit(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	for _, it := range items {
		if err := <-it.done; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(groups) < 2 || len(groups[0]) != 1 {
		t.Fatalf("groups = %v, want the first alone", groups)
	}
	total := 0
	for _, g := range groups[1:] {
		if len(g) > 10 {
			t.Fatalf("group %v is over MaxWeight 10", g)
		}
		total += len(g)
	}
	if total != 15 || len(groups) > 3 {
		t.Fatalf("groups = %v, want the 15 queued items in at most 2 groups", groups)
	}
}

// Stop waits for the flushes in flight and answers the queued items; a
// Submit after Stop fails.
func TestStopJoinsFlushesAndDropsTheQueue(t *testing.T) {
	var running atomic.Int32
	release := make(chan struct{})
	flushed := make(chan struct{})
	b := New(Config[item]{
		MaxWeight: 1, InFlight: 1, Queue: 10,
		Flush: func(g []item) {
			running.Add(1)
			close(flushed)
			<-release
			running.Add(-1)
			g[0].done <- nil
		},
		Drop: func(it item) { it.done <- ErrStopped },
	})
	ctx := context.Background()
	first := item{done: make(chan error, 1)}
	queued := item{done: make(chan error, 1)}
	b.Submit(ctx, first)
	<-flushed
	b.Submit(ctx, queued)
	stopped := make(chan struct{})
	go func() { b.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a flush was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	if running.Load() != 0 {
		t.Fatal("a flush still runs after Stop")
	}
	if err := <-first.done; err != nil {
		t.Fatal(err)
	}
	if err := <-queued.done; !errors.Is(err, ErrStopped) {
		t.Fatalf("queued item answered %v, want ErrStopped", err)
	}
	if err := b.Submit(ctx, item{done: make(chan error, 1)}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Submit after Stop = %v, want ErrStopped", err)
	}
}
