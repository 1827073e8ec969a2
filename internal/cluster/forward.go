package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/batch"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// Forwarded pins are batched like log entries: a follower packs the pins
// its clients sent while the previous batch was in flight into one call to
// the leader, which places them all against one view of the members and
// commits them in one operation list. One round trip and one placement
// snapshot for hundreds of pins.

const maxForwardBatch = 1024

type forwardReq struct {
	ctx  context.Context // the caller's: a request given up on is not sent
	pin  pin.Pin
	done chan forwardRes
}

type forwardRes struct {
	pin pin.Pin
	err error
}

type pinsReq struct {
	Pins []wirePin `json:"pins"`
}

type pinsResp struct {
	Results []pinResult `json:"results"`
}

type pinResult struct {
	Pin   *wirePin  `json:"pin,omitempty"`
	Error *rpcError `json:"error,omitempty"`
}

// pin is the leader's answer for one pin.
func (r pinResult) pin() (pin.Pin, error) {
	switch {
	case r.Error != nil:
		return pin.Pin{}, &remoteError{*r.Error}
	case r.Pin != nil:
		return fromWire(*r.Pin)
	}
	return pin.Pin{}, fmt.Errorf("leader sent an empty result")
}

// forward hands a pin to the forwarding batcher and waits for the
// leader's answer.
func (p *Peer) forward(ctx context.Context, pn pin.Pin) (pin.Pin, error) {
	req := forwardReq{ctx: ctx, pin: pn, done: make(chan forwardRes, 1)}
	if err := p.fwd.Submit(ctx, req); err != nil {
		return pin.Pin{}, err
	}
	select {
	case res := <-req.done:
		return res.pin, res.err
	case <-ctx.Done():
		return pin.Pin{}, ctx.Err()
	}
}

// newForwarder batches forwarded pins, a few batches in flight at once.
func (p *Peer) newForwarder(ctx context.Context) *batch.Batcher[forwardReq] {
	return batch.New(batch.Config[forwardReq]{
		MaxWeight: maxForwardBatch, InFlight: 4, Queue: 4096,
		Flush: func(group []forwardReq) { p.sendBatch(ctx, group) },
		Drop:  func(r forwardReq) { r.done <- forwardRes{err: batch.ErrStopped} },
	})
}

func (p *Peer) sendBatch(ctx context.Context, batch []forwardReq) {
	// Callers that gave up while their pin waited are answered, not
	// forwarded: a write its client saw fail should not land later.
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- forwardRes{err: err}
			continue
		}
		live = append(live, r)
	}
	batch = live
	if len(batch) == 0 {
		return
	}
	req := pinsReq{Pins: make([]wirePin, len(batch))}
	for i, r := range batch {
		req.Pins[i] = toWire(r.pin)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	resp, err := toLeader(ctx, p, pinsCall, req)
	if err == nil && len(resp.Results) != len(batch) {
		err = fmt.Errorf("leader answered %d results for %d pins", len(resp.Results), len(batch))
	}
	for i, r := range batch {
		if err != nil {
			r.done <- forwardRes{err: err}
			continue
		}
		pn, err := resp.Results[i].pin()
		r.done <- forwardRes{pin: pn, err: err}
	}
}

// leaderPins answers a follower's batch (see sendBatch).
func (p *Peer) leaderPins(ctx context.Context, req pinsReq) (pinsResp, error) {
	pins := make([]pin.Pin, len(req.Pins))
	errs := make([]error, len(req.Pins))
	for i, wp := range req.Pins {
		pins[i], errs[i] = fromWire(wp) // validated by leaderPinMany
	}
	placed, err := p.leaderPinMany(ctx, pins, errs)
	if err != nil {
		return pinsResp{}, err
	}
	resp := pinsResp{Results: make([]pinResult, len(pins))}
	for i := range pins {
		if errs[i] != nil {
			kind, _ := errorKind(errs[i])
			resp.Results[i].Error = &rpcError{Error: errs[i].Error(), Kind: kind}
			continue
		}
		w := toWire(placed[i])
		resp.Results[i].Pin = &w
	}
	return resp, nil
}

// leaderPinMany decides and commits pin requests, the one place where a
// request becomes a pin: every request whose errs entry is nil is completed
// (resolve), validated and placed against one view of the state and the
// members, and they are committed together, in one operation list. Refusals
// are recorded in errs; an error return means nothing was committed.
//
// Every pin passes here, whichever peer took it (a follower forwards it
// unchecked, see Peer.Pin), so this is the cluster's one validation of a
// pin, of the pin as it will be committed.
func (p *Peer) leaderPinMany(ctx context.Context, pins []pin.Pin, errs []error) ([]pin.Pin, error) {
	candidates, err := p.candidates()
	if err != nil {
		return nil, err
	}
	members, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	synced := false
	var ops []state.Op
	for i := range pins {
		if errs[i] != nil {
			continue
		}
		pn, err := p.resolve(ctx, pins[i], len(members), &synced)
		if err == nil {
			err = pn.Validate(now)
		}
		if err == nil {
			pn, err = p.place(pn, candidates)
		}
		if pins[i], errs[i] = pn, err; err == nil {
			pins[i].Timestamp = now
			ops = append(ops, state.Op{Kind: state.OpPutPin, Pin: pins[i]})
		}
	}
	if len(ops) > 0 {
		if err := p.apply(ctx, ops); err != nil {
			return nil, err
		}
	}
	return pins, nil
}

// resolve completes a request as the leader commits it: an update (see
// pin.Update) takes the options and peers of the pin it updates, as the
// state holds it now, and what is left to the cluster gets its defaults
// (pin.WithDefaults). The APIs send requests as their clients make them and
// leave all of this to this function, so that one rule holds whichever API
// took the request, and an update reads and writes in one leader pass.
//
// The state is read without a sync: the leader has applied every write it
// acknowledged. A leader elected moments ago may still be applying its
// predecessor's last entries, so a pin to update that is missing is looked
// for again once the state has caught up (synced: done for this batch).
func (p *Peer) resolve(ctx context.Context, pn pin.Pin, members int, synced *bool) (pin.Pin, error) {
	if pn.IsUpdate() {
		prev, ok, err := p.st.Get(pn.PinUpdate)
		if err == nil && !ok && !*synced {
			*synced = true
			if err = p.sync(ctx); err == nil {
				prev, ok, err = p.st.Get(pn.PinUpdate)
			}
		}
		if err != nil {
			return pin.Pin{}, err
		}
		if !ok {
			return pin.Pin{}, fmt.Errorf("%w: %s", pin.ErrNotFound, pn.PinUpdate)
		}
		pn = pn.Update(prev)
	}
	return pn.WithDefaults(p.cfg.ReplicationMin, p.cfg.ReplicationMax, members), nil
}

// place decides a complete pin's allocations. A pin that exists keeps its
// allocations on live peers; only missing ones are placed.
func (p *Peer) place(pn pin.Pin, candidates []member.Member) (pin.Pin, error) {
	// Allocations that come with the pin are an add's (see add.go): it
	// streamed the blocks to them, so they are kept, as IPFS Cluster keeps
	// the adder's. Otherwise an existing pin keeps its own.
	from := pn.Allocations
	if len(from) == 0 {
		if old, ok, err := p.st.Get(pn.Cid); err != nil {
			return pin.Pin{}, err
		} else if ok {
			from = old.Allocations
		}
	}
	var keep []string
	for _, a := range from {
		if slices.ContainsFunc(candidates, func(m member.Member) bool { return m.ID == a }) && !slices.Contains(keep, a) {
			keep = append(keep, a)
		}
	}
	if pn.ReplicationMax != pin.Everywhere && len(keep) > pn.ReplicationMax {
		keep = keep[:pn.ReplicationMax]
	}
	var err error
	pn.Allocations, err = placement.Allocate(pn, keep, candidates)
	return pn, err
}
