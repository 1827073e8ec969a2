package cluster

import (
	"context"
	"fmt"
	"net"

	"github.com/flotilla-ipfs/flotilla/internal/clusternet"
)

// Some API requests need state that lives on one peer only: an upload in
// progress of the registry is a session in its memory and a file on its
// disk. Behind a load balancer such a request may reach any peer, which
// hands it to the one holding the state over the cluster port
// (clusternet.ProtoAPI): no port or address beyond the cluster's, and only
// peers holding the secret get through.

// APIListener is where requests handed over by other peers arrive. The
// daemon serves each API's hand-off handler on it; the caller that serves
// it owns it (closing it stops only this protocol).
func (p *Peer) APIListener() net.Listener { return p.net.Listener(clusternet.ProtoAPI) }

// DialAPI opens a connection to the APIListener of the member id, at the
// cluster address its member record holds. A peer that is not a member is
// ErrNotMember.
func (p *Peer) DialAPI(ctx context.Context, id string) (net.Conn, error) {
	ms, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.ID == id {
			return p.net.Dial(ctx, m.ClusterAddr, clusternet.ProtoAPI)
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotMember, id)
}
