package daemon

import (
	"context"
	"errors"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
)

// restCluster adapts the cluster peer to the REST API's Cluster: the
// API knows neither the cluster's types nor its sentinels.
type restCluster struct {
	*cluster.Peer
	net *p2p.Network // nil offline
}

var _ restapi.Cluster = restCluster{}

// notFound reports a cluster.ErrNotFound as restapi.ErrNotFound, keeping
// its message.
type notFound struct{ error }

func (notFound) Is(target error) bool { return target == restapi.ErrNotFound }

func apiErr(err error) error {
	if errors.Is(err, cluster.ErrNotFound) {
		return notFound{err}
	}
	return err
}

func (c restCluster) Pin(ctx context.Context, p pin.Pin) (pin.Pin, error) {
	p, err := c.Peer.Pin(ctx, p)
	return p, apiErr(err)
}

func (c restCluster) Unpin(ctx context.Context, id cid.Cid) error {
	return apiErr(c.Peer.Unpin(ctx, id))
}

func (c restCluster) Get(ctx context.Context, id cid.Cid) (pin.Pin, error) {
	p, err := c.Peer.Get(ctx, id)
	return p, apiErr(err)
}

func (c restCluster) Status(ctx context.Context, id cid.Cid) (restapi.PinInfo, error) {
	info, err := c.Peer.Status(ctx, id)
	return restapi.PinInfo(info), apiErr(err)
}

func (c restCluster) StatusAll(ctx context.Context, fn func(restapi.PinInfo) error) error {
	return apiErr(c.Peer.StatusAll(ctx, func(info cluster.PinInfo) error { return fn(restapi.PinInfo(info)) }))
}

func (c restCluster) Recover(ctx context.Context, id cid.Cid) (restapi.PinInfo, error) {
	info, err := c.Peer.Recover(ctx, id)
	return restapi.PinInfo(info), apiErr(err)
}
