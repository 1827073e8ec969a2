// Package batch is group commit as a reusable part: callers submit items
// one by one, one loop packs whatever queued up while earlier groups were
// in flight into the next group, and a flush function handles each group
// on a goroutine the batcher owns. Under load a group carries thousands of
// items for the cost of one (one fsync, one round trip); alone, an item
// waits for nothing.
//
// The raft log (consensus) and the pins a follower forwards to its leader
// (cluster) both batch this way.
package batch

import (
	"context"
	"errors"
	"sync"
)

// ErrStopped is returned by Submit once the batcher is stopping.
var ErrStopped = errors.New("batcher stopped")

// Config shapes the groups.
type Config[T any] struct {
	// MaxWeight bounds a group's total weight (an item's weight is 1
	// without Weight); the first item of a group is taken whatever its
	// weight.
	MaxWeight int
	// Weight is an item's share of MaxWeight, if items differ.
	Weight func(T) int
	// InFlight is how many groups may be handed to Flush at once; while
	// all are busy, items queue and ride in the next group.
	InFlight int
	// Queue is how many submitted items may wait for a group.
	Queue int
	// Flush handles a group. It answers every item of it (items carry
	// their own reply channels).
	Flush func([]T)
	// Drop answers an item left queued when the batcher stops.
	Drop func(T)
}

// Batcher groups items for Flush. Start it with New; Stop it once.
type Batcher[T any] struct {
	cfg  Config[T]
	in   chan T
	stop chan struct{}
	// wg counts the loop and the flushes in flight: Stop returns only
	// once no flush runs.
	wg sync.WaitGroup
}

// New starts a batcher.
func New[T any](cfg Config[T]) *Batcher[T] {
	if cfg.Weight == nil {
		cfg.Weight = func(T) int { return 1 }
	}
	b := &Batcher[T]{cfg: cfg, in: make(chan T, cfg.Queue), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// Submit queues an item, waiting while the queue is full.
func (b *Batcher[T]) Submit(ctx context.Context, item T) error {
	select {
	case <-b.stop:
		return ErrStopped
	default:
	}
	select {
	case b.in <- item:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stop:
		return ErrStopped
	}
}

// Stop stops taking items, answers the queued ones with Drop and waits
// for every flush in flight to return.
func (b *Batcher[T]) Stop() {
	close(b.stop)
	b.wg.Wait()
	for {
		select {
		case item := <-b.in:
			b.cfg.Drop(item)
		default:
			return
		}
	}
}

func (b *Batcher[T]) loop() {
	defer b.wg.Done()
	slots := make(chan struct{}, b.cfg.InFlight)
	for {
		var group []T
		select {
		case item := <-b.in:
			group = append(group, item)
		case <-b.stop:
			return
		}
		// Wait for a free slot before packing: while every slot is
		// busy, more items queue up and ride in this group.
		select {
		case slots <- struct{}{}:
		case <-b.stop:
			b.cfg.Drop(group[0])
			return
		}
		weight := b.cfg.Weight(group[0])
	fill:
		for weight < b.cfg.MaxWeight {
			select {
			case item := <-b.in:
				group = append(group, item)
				weight += b.cfg.Weight(item)
			default:
				break fill
			}
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer func() { <-slots }()
			b.cfg.Flush(group)
		}()
	}
}
