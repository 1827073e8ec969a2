package kuborpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
)

// Cluster is the replicated pinset of the daemon's cluster peer
// (*cluster.Peer satisfies it as it is). With it,
// pin/add, pin/rm, pin/ls, pin/update and add's pinning become cluster
// operations with the cluster's default replication, so tools that speak
// Kubo get replicated pins without knowing it.
type Cluster interface {
	// ID is this peer's ID.
	ID() string
	// Pin adds a pin, or updates the one of p.PinUpdate, with what p
	// leaves zero decided by the cluster; pin.ErrNotFound (wrapped) if the
	// pin to update is not there.
	Pin(ctx context.Context, p pin.Pin) (pin.Pin, error)
	Unpin(ctx context.Context, c cid.Cid) error
	Get(ctx context.Context, c cid.Cid) (pin.Pin, error)
	List(ctx context.Context, fn func(pin.Pin) error) error
	// PinnedOn counts the peers that report c pinned.
	PinnedOn(ctx context.Context, c cid.Cid) (int, error)
}

// clusterPinAdd pins through the cluster and, as Kubo's pin add does,
// returns once the content is held: here, by the pin's minimum number of
// peers.
func (s *server) clusterPinAdd(ctx context.Context, cids []cid.Cid, recursive bool, name string, res *response) error {
	mode := pin.Recursive
	if !recursive {
		mode = pin.Direct
	}
	for _, c := range cids {
		p, err := s.Cluster.Pin(ctx, pin.Pin{Cid: c, Name: name, Mode: mode})
		if err != nil {
			return clusterErr(err)
		}
		want := p.ReplicationMin
		if want == pin.Everywhere || want > len(p.Allocations) {
			want = len(p.Allocations)
		}
		if err := s.waitPinned(ctx, c, want); err != nil {
			return err
		}
	}
	return res.single(PinOutput{Pins: cidStrings(cids)})
}

// waitPinned polls the cluster until c is pinned on want peers.
func (s *server) waitPinned(ctx context.Context, c cid.Cid, want int) error {
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		n, err := s.Cluster.PinnedOn(ctx, c)
		if err != nil {
			return clusterErr(err)
		}
		if n >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is pinned on %d of %d peers so far: %w", c, n, want, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// clusterPinAdded records the roots of an add as cluster pins, with this
// peer among the allocations: it already holds the blocks.
func (s *server) clusterPinAdded(ctx context.Context, roots []importer.Root, name string) error {
	for _, r := range roots {
		_, err := s.Cluster.Pin(ctx, pin.Pin{Cid: r.Node.Cid(), Name: name, Mode: pin.Recursive, UserAllocations: []string{s.Cluster.ID()}})
		if err != nil {
			return clusterErr(err)
		}
	}
	return nil
}

func (s *server) clusterPinRm(ctx context.Context, cids []cid.Cid, res *response) error {
	for _, c := range cids {
		if _, err := s.Cluster.Get(ctx, c); err != nil {
			return fmt.Errorf("%w: %s", ipfs.ErrNotPinned, c)
		}
	}
	for _, c := range cids {
		if err := s.Cluster.Unpin(ctx, c); err != nil {
			return clusterErr(err)
		}
	}
	return res.single(PinOutput{Pins: cidStrings(cids)})
}

// clusterPinLs lists the cluster's pins in the node's pin listing shape.
// Indirect pins are not tracked by the cluster and are never listed.
func (s *server) clusterPinLs(ctx context.Context, typ string, cids []cid.Cid, emit func(ipfs.Pin) error) error {
	switch typ {
	case "all", "recursive", "direct", "indirect":
	default:
		return badRequest("invalid pin type %q: want all, recursive, direct or indirect", typ)
	}
	match := func(p pin.Pin) bool { return typ == "all" || typ == string(p.Mode) }
	if len(cids) > 0 {
		for _, c := range cids {
			p, err := s.Cluster.Get(ctx, c)
			if err != nil || !match(p) {
				return fmt.Errorf("%w: path '%s' is not pinned", ipfs.ErrNotPinned, c)
			}
			if err := emit(ipfs.Pin{Cid: c, Type: string(p.Mode), Name: p.Name}); err != nil {
				return err
			}
		}
		return nil
	}
	return s.Cluster.List(ctx, func(p pin.Pin) error {
		if !match(p) {
			return nil
		}
		return emit(ipfs.Pin{Cid: p.Cid, Type: string(p.Mode), Name: p.Name})
	})
}

// clusterPinUpdate pins to as an update of from: with from's options and
// peers, which fetch only the difference (the cluster resolves the update,
// see pin.Update), then unpins from.
func (s *server) clusterPinUpdate(ctx context.Context, from, to cid.Cid, unpin bool, res *response) error {
	var err error
	if from.Equals(to) {
		// As Kubo: a pinned CID updated to itself stays as it is.
		_, err = s.Cluster.Get(ctx, from)
	} else {
		_, err = s.Cluster.Pin(ctx, pin.Pin{Cid: to, PinUpdate: from})
	}
	if errors.Is(err, pin.ErrNotFound) {
		return fmt.Errorf("%w: %s", ipfs.ErrNotPinned, from)
	}
	if err != nil {
		return clusterErr(err)
	}
	if unpin && !from.Equals(to) {
		if err := s.Cluster.Unpin(ctx, from); err != nil {
			return clusterErr(err)
		}
	}
	return res.single(PinOutput{Pins: cidStrings([]cid.Cid{from, to})})
}

// clusterErr maps cluster refusals to client errors.
func clusterErr(err error) error {
	if err == nil {
		return nil
	}
	if isClientError(err) {
		return badRequest("%v", err)
	}
	return err
}

func isClientError(err error) bool {
	return errors.Is(err, pin.ErrInvalid) || errors.Is(err, placement.ErrNotEnoughPeers)
}
