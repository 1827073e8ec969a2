package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/clusternet"
)

// Block streams (internal/blockstream) carry the blocks of a cluster-wide
// add to the allocated peers, and a DAG to a peer without a swarm
// (fetch.go). The cluster's part is the glue: destinations are members,
// named by ID; a stream to one of them is one long-lived call of
// blocksPath over the cluster transport, whose body is the stream's
// frames, answered with the peer's acknowledgement or a failure from the
// one error table (rpc.go).

// blocksPath is the endpoint that receives a block stream.
const blocksPath = "/v1/blocks"

// StreamBlocks opens a block stream to peers (IDs of members; this peer's
// own ID stands for its local node, written in process: the caller then
// holds the node's pin lock from the first Put to Close, as an add does,
// so that no garbage collection runs before the roots are marked).
func (p *Peer) StreamBlocks(ctx context.Context, peers []string) (*blockstream.Stream, error) {
	addrOf, err := p.memberAddrs()
	if err != nil {
		return nil, err
	}
	for _, id := range peers {
		if _, ok := addrOf[id]; !ok && id != p.deps.ID {
			// The leader allocated to a member this peer has not applied
			// yet (it restarted, or lags): catch up once and look again.
			if err := p.sync(ctx); err != nil {
				return nil, err
			}
			if addrOf, err = p.memberAddrs(); err != nil {
				return nil, err
			}
			break
		}
	}
	to := make([]blockstream.Dest, 0, len(peers))
	for _, id := range peers {
		if id == p.deps.ID {
			to = append(to, blockstream.Dest{ID: id})
			continue
		}
		addr, ok := addrOf[id]
		if !ok {
			return nil, fmt.Errorf("stream blocks: %s is not a member of the cluster", id)
		}
		to = append(to, blockstream.Dest{ID: id, Addr: addr})
	}
	return blockstream.Open(ctx, blockstream.Deps{Store: p.streamStore(), Send: p.blockSender(), Log: p.log}, to)
}

// memberAddrs maps the members' IDs to their cluster addresses.
func (p *Peer) memberAddrs() (map[string]string, error) {
	ms, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	addrOf := make(map[string]string, len(ms))
	for _, m := range ms {
		addrOf[m.ID] = m.ClusterAddr
	}
	return addrOf, nil
}

// blockSender carries one stream's bodies to the other peers: a POST of
// blocksPath each, over a client of the stream's own, so that a long
// stream neither holds nor waits for a connection of the pool the short
// calls share (one connection per peer, closed with its call).
func (p *Peer) blockSender() blockstream.SendFunc {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return p.net.Dial(ctx, addr, clusternet.ProtoRPC)
		},
		DisableKeepAlives: true,
		WriteBufferSize:   256 << 10,
	}}
	return func(ctx context.Context, addr string, body io.Reader) (blockstream.Ack, error) {
		var ack blockstream.Ack
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+blocksPath, body)
		if err != nil {
			return ack, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return ack, err
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			return ack, readError(addr, resp)
		}
		if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
			return ack, fmt.Errorf("reading the acknowledgement: %w", err)
		}
		return ack, nil
	}
}

// serveBlocks receives a block stream (POST blocksPath) into this peer's
// node. It reads its own body, a stream of any length, unlike the other
// calls (see rpcHandler).
func (p *Peer) serveBlocks(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// A failure is answered while the sender may still be sending, so the
	// sender reads the reason rather than a broken pipe.
	http.NewResponseController(w).EnableFullDuplex()
	ack, err := blockstream.Receive(ctx, p.streamStore(), r.Body)
	if err != nil {
		if errors.Is(err, blockstream.ErrStreamCut) || ctx.Err() != nil {
			p.log.Info("block stream abandoned by its sender", "err", err)
		} else {
			_, status := errorKind(err)
			p.log.Warn("block stream refused", "status", status, "err", err)
		}
		writeError(w, err, "")
		http.NewResponseController(w).Flush()
		io.Copy(io.Discard, r.Body) // until the sender reads the answer and hangs up
		return
	}
	writeJSON(w, http.StatusOK, ack)
}

// streamStore is the node as the end of block streams: the roots it marks
// received are remembered for shared-bucket collections (sharedgc.go).
func (p *Peer) streamStore() blockstream.Store {
	return markingStore{Store: p.deps.Node, received: &p.gc.received}
}

// SharedStorage reports whether every peer's blocks are in one shared S3
// bucket (Deps.Packs): an add then writes its blocks once, on the peer
// that takes it, rather than streaming them to each allocation
// (adder.SharedStorage).
func (p *Peer) SharedStorage() bool { return p.deps.Packs != nil }
