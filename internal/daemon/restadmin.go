package daemon

import (
	"context"
	"errors"

	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
)

// restCluster is the cluster peer as the REST API is given it: the peer
// itself serves the API's Cluster (restapi.Cluster is written in the pin
// package's types and sentinels, see the guards in daemon.go), and the
// methods below add the optional administration routes (peer removal, GC,
// the connectivity graph, bandwidth), which the API finds at run time.
// Bandwidth is the libp2p host's, which the cluster peer does not own: that
// is why the network rides along. The others map the peer's results to the
// API's own types.
type restCluster struct {
	*cluster.Peer
	net *p2p.Network // nil offline
}

var (
	_ restapi.Membership       = restCluster{}
	_ restapi.GarbageCollector = restCluster{}
	_ restapi.Connectivity     = restCluster{}
	_ restapi.Bandwidth        = restCluster{}
)

// apiMemberErr maps the cluster's membership refusals to the API's
// sentinels, keeping their messages.
type apiMemberErr struct {
	error
	target error
}

func (e apiMemberErr) Is(target error) bool { return target == e.target }

func (c restCluster) RemoveMember(ctx context.Context, id string) error {
	err := c.Peer.RemoveMember(ctx, id)
	switch {
	case errors.Is(err, cluster.ErrNotMember):
		return apiMemberErr{err, restapi.ErrPeerNotFound}
	case errors.Is(err, cluster.ErrRemoveRefused):
		return apiMemberErr{err, restapi.ErrRefused}
	}
	return err
}

func (c restCluster) RepoGC(ctx context.Context, local bool) ([]restapi.GCResult, error) {
	if local {
		return []restapi.GCResult{restapi.GCResult(c.Peer.LocalGC(ctx))}, nil
	}
	rs, err := c.Peer.RepoGC(ctx)
	out := make([]restapi.GCResult, len(rs))
	for i, r := range rs {
		out[i] = restapi.GCResult(r)
	}
	return out, err
}

func (c restCluster) Links(ctx context.Context) ([]restapi.PeerLinks, error) {
	ls, err := c.Peer.Links(ctx)
	out := make([]restapi.PeerLinks, len(ls))
	for i, l := range ls {
		out[i] = restapi.PeerLinks(l)
	}
	return out, err
}

// BandwidthByProtocol is the host's traffic; an offline peer has none.
func (c restCluster) BandwidthByProtocol() map[string]restapi.BandwidthStats {
	out := map[string]restapi.BandwidthStats{}
	if c.net == nil {
		return out
	}
	for proto, s := range c.net.Bandwidth.GetBandwidthByProtocol() {
		out[string(proto)] = restapi.BandwidthStats{TotalIn: s.TotalIn, TotalOut: s.TotalOut, RateIn: s.RateIn, RateOut: s.RateOut}
	}
	return out
}
