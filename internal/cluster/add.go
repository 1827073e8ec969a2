package cluster

import (
	"context"
	"fmt"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// A cluster-wide add (the REST API's /add, owned by internal/adder) runs in
// three steps, as IPFS Cluster's: Allocate asks the leader where the
// content will go, without committing anything; the importer's blocks go
// to those peers on a block stream (StreamBlocks, blocks.go) while the
// upload is read; once every peer has acknowledged them, Pin commits the
// root with Allocations set to the same peers, which the leader keeps
// while they are alive (see place). The allocated peers' trackers then
// find every block on disk. This file is the cluster's part of the first
// step.

// probeCid stands for the content when validating the options of a pin
// whose CID is not known yet (an add's, before the import): the empty
// UnixFS directory.
var probeCid = cid.MustParse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")

type allocateReq struct {
	Cid             string   `json:"cid,omitempty"` // empty: not known yet
	ReplicationMin  int      `json:"replication_min"`
	ReplicationMax  int      `json:"replication_max"`
	UserAllocations []string `json:"user_allocations,omitempty"`
}

type allocateResp struct {
	Allocations []string `json:"allocations"`
}

// Allocate returns the peers a pin with pn's options would be allocated
// to now, as the leader places pins (zones, free space, the user's
// choices; an existing pin of pn.Cid keeps its live allocations). Nothing
// is committed. pn.Cid may be undefined.
func (p *Peer) Allocate(ctx context.Context, pn pin.Pin) ([]string, error) {
	req := allocateReq{ReplicationMin: pn.ReplicationMin, ReplicationMax: pn.ReplicationMax, UserAllocations: pn.UserAllocations}
	if pn.Cid.Defined() {
		req.Cid = pn.Cid.String()
	}
	resp, err := call(ctx, p, allocateCall, req)
	return resp.Allocations, err
}

func (p *Peer) leaderAllocate(_ context.Context, req allocateReq) (allocateResp, error) {
	pn := pin.Pin{ReplicationMin: req.ReplicationMin, ReplicationMax: req.ReplicationMax, UserAllocations: req.UserAllocations}
	if req.Cid != "" {
		c, err := cid.Decode(req.Cid)
		if err != nil {
			return allocateResp{}, fmt.Errorf("%w: cid %q: %v", pin.ErrInvalid, req.Cid, err)
		}
		pn.Cid = c
	}
	allocs, err := p.allocate(pn)
	return allocateResp{Allocations: allocs}, err
}

func (p *Peer) allocate(pn pin.Pin) ([]string, error) {
	probe := pn
	probe.Mode = pin.Recursive
	if !probe.Cid.Defined() {
		probe.Cid = probeCid
	}
	if err := probe.Validate(time.Now()); err != nil {
		return nil, err
	}
	candidates, err := p.candidates()
	if err != nil {
		return nil, err
	}
	members, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	pn.Allocations = nil // placed afresh, not kept
	placed, err := p.place(pn.WithDefaults(p.cfg.ReplicationMin, p.cfg.ReplicationMax, len(members)), candidates)
	if err != nil {
		return nil, err
	}
	return placed.Allocations, nil
}
