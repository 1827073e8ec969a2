package pinsvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	cid "github.com/ipfs/go-cid"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// maxDelegates is the spec's limit.
const maxDelegates = 20

// deriveStatus is a request's status from the cluster's view of its CID
// (nil: the CID is not in the pinset), with details for a human:
//
//   - pinned: at least replication-min allocated peers hold it (every
//     allocated peer for a pin replicated everywhere): what the cluster
//     promises for a pin is met; further replicas follow;
//   - pinning: an allocated peer is fetching it, or some hold it but not
//     enough yet;
//   - failed: an allocated peer failed to pin it and none is fetching it,
//     or the CID left the pinset (unpinned outside this API);
//   - queued: otherwise, e.g. waiting in the peers' queues, or on a peer
//     that cannot be reached now (the cluster re-allocates the pins of a
//     peer that stays down).
func deriveStatus(info *pin.Info) (status, details string) {
	if info == nil {
		return statusFailed, "the CID is not in the cluster's pinset: it was unpinned outside the Pinning Service API"
	}
	allocs := info.Pin.Allocations
	if len(allocs) == 0 {
		return statusQueued, "not allocated to any peer yet"
	}
	need := info.Pin.ReplicationMin
	if need < 1 || need > len(allocs) {
		need = len(allocs) // everywhere, or fewer peers than the minimum
	}
	var pinned, pinning int
	var failures []string
	for _, ps := range info.Peers {
		if !slices.Contains(allocs, ps.Peer) {
			continue
		}
		switch ps.Status {
		case pin.StatusPinned:
			pinned++
		case pin.StatusPinning:
			pinning++
		case pin.StatusPinError:
			failures = append(failures, fmt.Sprintf("%s: %s", ps.Peer, ps.Error))
		}
	}
	details = fmt.Sprintf("pinned on %d of %d allocated peers, %d needed", pinned, len(allocs), need)
	switch {
	case pinned >= need:
		return statusPinned, details
	case pinning > 0:
		return statusPinning, details
	case len(failures) > 0:
		return statusFailed, details + "; failed on " + strings.Join(failures, "; ")
	case pinned > 0:
		return statusPinning, details
	}
	return statusQueued, details
}

// statuses returns the cluster's view of each CID (nil: not in the
// pinset): one CID at a time for a few, else from one pass over the whole
// pinset's status.
func (s *server) statuses(ctx context.Context, cids []cid.Cid) (map[cid.Cid]*pin.Info, error) {
	out := make(map[cid.Cid]*pin.Info, len(cids))
	if len(cids) > s.statusAllAbove {
		for _, c := range cids {
			out[c] = nil
		}
		err := s.Cluster.StatusAll(ctx, func(info pin.Info) error {
			if _, ok := out[info.Pin.Cid]; ok {
				out[info.Pin.Cid] = &info
			}
			return nil
		})
		return out, err
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, c := range cids {
		g.Go(func() error {
			info, err := s.Cluster.Status(gctx, c)
			var ip *pin.Info
			switch {
			case err == nil:
				ip = &info
			case !errors.Is(err, pin.ErrNotFound):
				return err
			}
			mu.Lock()
			out[c] = ip
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// delegates are the swarm addresses of the peers allocated to hold the
// CID (of every member when it has none, or is not in the pinset), taken
// in turn from each peer so that each one is reachable, at most
// maxDelegates. Only addresses with /p2p/ qualify: kubo dials them.
func delegates(info *pin.Info, members []member.Member) []string {
	var peers [][]string
	for _, m := range members {
		if info == nil || len(info.Pin.Allocations) == 0 || info.Pin.AllocatedTo(m.ID) {
			var addrs []string
			for _, a := range m.SwarmAddrs {
				if strings.Contains(a, "/p2p/") {
					addrs = append(addrs, a)
				}
			}
			peers = append(peers, addrs)
		}
	}
	out := []string{}
	for i := 0; len(out) < maxDelegates; i++ {
		more := false
		for _, addrs := range peers {
			if i < len(addrs) && len(out) < maxDelegates {
				out = append(out, addrs[i])
				more = true
			}
		}
		if !more {
			break
		}
	}
	return out
}

// toWire describes request r with the cluster's view of its CID.
func toWire(r request, info *pin.Info, members []member.Member) wirePinStatus {
	status, details := deriveStatus(info)
	return wirePinStatus{
		RequestID: r.ID, Status: status, Created: r.Created,
		Pin:       wirePin{Cid: r.Cid.String(), Name: r.Name, Origins: r.Origins, Meta: r.Meta},
		Delegates: delegates(info, members),
		Info:      map[string]string{"status_details": details},
	}
}
