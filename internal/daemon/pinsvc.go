package daemon

import (
	"context"
	"errors"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/cluster"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/pinsvc"
)

// psaCluster adapts the cluster peer to the Pinning Service API's Cluster:
// the API knows neither the cluster's types nor its sentinels. Members and
// the record methods are the peer's own.
type psaCluster struct{ *cluster.Peer }

var _ pinsvc.Cluster = psaCluster{}

// psaNotFound reports a cluster.ErrNotFound as pinsvc.ErrNotFound too,
// keeping its message.
type psaNotFound struct{ error }

func (psaNotFound) Is(target error) bool { return target == pinsvc.ErrNotFound }

func (e psaNotFound) Unwrap() error { return e.error }

func psaErr(err error) error {
	if errors.Is(err, cluster.ErrNotFound) {
		return psaNotFound{err}
	}
	return err
}

func (c psaCluster) Get(ctx context.Context, id cid.Cid) (pin.Pin, error) {
	p, err := c.Peer.Get(ctx, id)
	return p, psaErr(err)
}

func (c psaCluster) Pin(ctx context.Context, p pin.Pin) (pin.Pin, error) {
	p, err := c.Peer.Pin(ctx, p)
	return p, psaErr(err)
}

func (c psaCluster) Unpin(ctx context.Context, id cid.Cid) error {
	return psaErr(c.Peer.Unpin(ctx, id))
}

func (c psaCluster) Status(ctx context.Context, id cid.Cid) (pinsvc.PinInfo, error) {
	info, err := c.Peer.Status(ctx, id)
	return pinsvc.PinInfo(info), psaErr(err)
}

func (c psaCluster) StatusAll(ctx context.Context, fn func(pinsvc.PinInfo) error) error {
	return psaErr(c.Peer.StatusAll(ctx, func(info cluster.PinInfo) error { return fn(pinsvc.PinInfo(info)) }))
}
