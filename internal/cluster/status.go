package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Status reports what every peer says about c: allocated peers are asked,
// the others are "remote". A peer that cannot be reached is reported with
// cluster_error.
func (p *Peer) Status(ctx context.Context, c cid.Cid) (pin.Info, error) {
	pn, err := p.Get(ctx, c)
	if err != nil {
		return pin.Info{}, err
	}
	ms, err := p.st.Members()
	if err != nil {
		return pin.Info{}, err
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	sts, err := p.peerStatuses(ctx, c, pn.Allocations)
	if err != nil {
		return pin.Info{}, err
	}
	info := pin.Info{Pin: pn}
	for _, id := range ids {
		if i := slices.IndexFunc(sts, func(s pin.PeerStatus) bool { return s.Peer == id }); i >= 0 {
			info.Peers = append(info.Peers, sts[i])
		} else {
			info.Peers = append(info.Peers, pin.PeerStatus{Peer: id, Status: pin.StatusRemote})
		}
	}
	return info, nil
}

// peerStatuses asks each given peer (this one locally) for its status of c.
func (p *Peer) peerStatuses(ctx context.Context, c cid.Cid, peers []string) ([]pin.PeerStatus, error) {
	pn, ok, err := p.st.Get(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	ms, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	addrOf := map[string]string{}
	for _, m := range ms {
		addrOf[m.ID] = m.ClusterAddr
	}
	out := make([]pin.PeerStatus, len(peers))
	var wg sync.WaitGroup
	for i, id := range peers {
		if id == p.deps.ID {
			out[i] = p.tracker.status(ctx, pn)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = pin.PeerStatus{Peer: id, Status: pin.StatusClusterErr, Error: "unreachable"}
			addr, ok := addrOf[id]
			if !ok {
				return
			}
			resp, err := p.rpc.post(ctx, addr, "/v1/status", statusReq{Cids: []string{c.String()}})
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			stream(resp, func(ws wireStatus) error {
				out[i] = pin.PeerStatus{Peer: ws.Peer, Status: pin.Status(ws.Status), Error: ws.Error, Since: ws.Since}
				return nil
			})
		}()
	}
	wg.Wait()
	return out, nil
}

// serveStatus streams this peer's status of the asked pins, or of every
// pin of the pinset in CID-byte order (POST /v1/status): NDJSON, of any
// length, so a handler of its own (see rpcHandler).
func (p *Peer) serveStatus(w http.ResponseWriter, r *http.Request) {
	var req statusReq
	err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&req)
	if err != nil {
		err = fmt.Errorf("%w: %v", pin.ErrInvalid, err)
	} else {
		err = p.streamStatus(r.Context(), req, w)
	}
	if err != nil {
		writeError(w, err, "")
	}
}

func (p *Peer) streamStatus(ctx context.Context, req statusReq, w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	held := p.tracker.index.has
	emit := func(pn pin.Pin) error {
		s := p.tracker.statusWith(pn, held)
		return enc.Encode(wireStatus{Cid: pn.Cid.String(), Peer: s.Peer, Status: string(s.Status), Error: s.Error, Since: s.Since})
	}
	if len(req.Cids) == 0 {
		after := cid.Undef
		if req.After != "" {
			c, err := cid.Decode(req.After)
			if err != nil {
				return fmt.Errorf("%w: after: %v", pin.ErrInvalid, err)
			}
			after = c
		}
		cur, err := p.tracker.index.cursor()
		if err != nil {
			return err
		}
		defer cur.Close()
		held = cur.has
		return p.st.List(ctx, after, emit)
	}
	for _, s := range req.Cids {
		c, err := cid.Decode(s)
		if err != nil {
			return fmt.Errorf("%w: %v", pin.ErrInvalid, err)
		}
		pn, ok, err := p.st.Get(c)
		if err != nil {
			return err
		}
		if !ok {
			pn = pin.Pin{Cid: c}
		}
		if err := emit(pn); err != nil {
			return err
		}
	}
	return nil
}

// Recover re-queues failed operations on c on every allocated peer.
func (p *Peer) Recover(ctx context.Context, c cid.Cid) (pin.Info, error) {
	pn, err := p.Get(ctx, c)
	if err != nil {
		return pin.Info{}, err
	}
	ms, err := p.st.Members()
	if err != nil {
		return pin.Info{}, err
	}
	for _, m := range ms {
		if !pn.AllocatedTo(m.ID) {
			continue
		}
		if m.ID == p.deps.ID {
			p.tracker.recover(ctx, c)
			continue
		}
		callPeer(ctx, p, m.ClusterAddr, recoverCall, cidReq{Cid: c.String()})
	}
	return p.Status(ctx, c)
}

func (p *Peer) serveRecover(ctx context.Context, r cidReq) (struct{}, error) {
	c, err := r.cid()
	if err == nil {
		p.tracker.recover(ctx, c)
	}
	return struct{}{}, err
}

// StatusAll streams every pin with every peer's status, in CID order. Each
// peer streams its statuses of the whole pinset in the same order (every
// peer holds the same state), and the streams are merged pin by pin: memory
// stays flat whatever the pinset's size.
func (p *Peer) StatusAll(ctx context.Context, fn func(pin.Info) error) error {
	return p.StatusFrom(ctx, cid.Undef, fn)
}

// StatusFrom is StatusAll starting after the pin after (cid.Undef: from the
// start): a page of a listing costs the page, whatever the pinset's size,
// once fn returns an error to stop it.
func (p *Peer) StatusFrom(ctx context.Context, after cid.Cid, fn func(pin.Info) error) error {
	if err := p.sync(ctx); err != nil {
		return err
	}
	ms, err := p.st.Members()
	if err != nil {
		return err
	}
	type feed struct {
		id string
		ch chan wireStatus
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var feeds []feed
	for _, m := range ms {
		if m.ID == p.deps.ID {
			continue
		}
		f := feed{id: m.ID, ch: make(chan wireStatus, 256)}
		feeds = append(feeds, f)
		go func() {
			defer close(f.ch)
			req := statusReq{}
			if after.Defined() {
				req.After = after.String()
			}
			resp, err := p.rpc.post(ctx, m.ClusterAddr, "/v1/status", req)
			if err != nil {
				return
			}
			stream(resp, func(ws wireStatus) error {
				select {
				case f.ch <- ws:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}()
	}
	heads := make([]*wireStatus, len(feeds))
	cur, err := p.tracker.index.cursor()
	if err != nil {
		return err
	}
	defer cur.Close()
	return p.st.List(ctx, after, func(pn pin.Pin) error {
		info := pin.Info{Pin: pn, Peers: []pin.PeerStatus{p.tracker.statusWith(pn, cur.has)}}
		key := pn.Cid.String()
		for i, f := range feeds {
			st := pin.PeerStatus{Peer: f.id, Status: pin.StatusClusterErr, Error: "unreachable"}
			if !pn.AllocatedTo(f.id) {
				st = pin.PeerStatus{Peer: f.id, Status: pin.StatusRemote}
			}
			// Advance this peer's stream up to the current pin; a
			// peer whose state lags may skip or add pins.
			for {
				if heads[i] == nil {
					ws, ok := <-f.ch
					if !ok {
						break
					}
					heads[i] = &ws
				}
				h := heads[i]
				if h.Cid == key {
					st = pin.PeerStatus{Peer: h.Peer, Status: pin.Status(h.Status), Error: h.Error, Since: h.Since}
					heads[i] = nil
					break
				}
				hc, err := cid.Decode(h.Cid)
				if err != nil || string(hc.Bytes()) < string(pn.Cid.Bytes()) {
					heads[i] = nil // behind: a pin this peer has and we do not
					continue
				}
				break // ahead: this peer does not have the pin yet
			}
			info.Peers = append(info.Peers, st)
		}
		return fn(info)
	})
}

// PinnedOn counts the peers that report c pinned.
func (p *Peer) PinnedOn(ctx context.Context, c cid.Cid) (int, error) {
	info, err := p.Status(ctx, c)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range info.Peers {
		if s.Status == pin.StatusPinned {
			n++
		}
	}
	return n, nil
}
