package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// A peer without a swarm (--offline) has no bitswap to bring it the blocks
// of the pins allocated to it, but the cluster transport still links it to
// the other peers. Its tracker asks a peer holding the DAG to send it over
// a block stream, the one an add uses: same framing, verification and
// durability before the answer.

type sendReq struct {
	Cid string `json:"cid"`
	To  string `json:"to"`
}

// fetchOverCluster has the DAG of pn sent here by the other peers
// allocated to it, or failing those by any other member.
func (p *Peer) fetchOverCluster(ctx context.Context, pn pin.Pin) error {
	addrOf, err := p.memberAddrs()
	if err != nil {
		return err
	}
	var order []string
	for id := range addrOf {
		if id != p.deps.ID {
			order = append(order, id)
		}
	}
	slices.Sort(order)
	slices.SortStableFunc(order, func(a, b string) int {
		switch pa, pb := pn.AllocatedTo(a), pn.AllocatedTo(b); {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	var errs []error
	for _, id := range order {
		_, err := callPeer(ctx, p, addrOf[id], sendCall, sendReq{Cid: pn.Cid.String(), To: p.deps.ID})
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", id, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("this peer has no swarm (--offline) and no other peer could send the blocks over the cluster transport: %w", errors.Join(errs...))
}

// serveSend streams the DAG under a CID, from this peer's blockstore only,
// to the member that asked for it.
func (p *Peer) serveSend(ctx context.Context, r sendReq) (struct{}, error) {
	return struct{}{}, p.send(ctx, r)
}

func (p *Peer) send(ctx context.Context, r sendReq) error {
	c, err := cid.Decode(r.Cid)
	if err != nil || r.To == "" || r.To == p.deps.ID {
		return fmt.Errorf("%w: send needs a CID and another peer", pin.ErrInvalid)
	}
	s, err := p.StreamBlocks(ctx, []string{r.To})
	if err != nil {
		return err
	}
	err = p.deps.Node.WalkLocal(ctx, c, func(b blocks.Block) error { return s.Put(ctx, []blocks.Block{b}) })
	if err != nil {
		s.Abort()
		return fmt.Errorf("%w: %s is not whole here: %v", pin.ErrNotFound, c, err)
	}
	_, err = s.Close(ctx, c)
	return err
}
