package kuborpc

import (
	"context"
	"errors"
	"net/http"
	"sort"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/p2p"
)

// network returns the node's network, or Kubo's "offline" error.
func (s *server) network() (*p2p.Network, error) {
	if s.Node.Network == nil {
		return nil, &statusError{status: http.StatusServiceUnavailable, err: ipfs.ErrOffline}
	}
	return s.Node.Network, nil
}

// swarmDisconnect closes the connections to peers given as multiaddrs
// ending in /p2p/<id> (or bare /p2p/<id>). With an address before the peer
// ID, only connections to that address are closed, as in Kubo.
func (s *server) swarmDisconnect(ctx context.Context, req *request, res *response) error {
	args, err := req.needArgs(1, "address")
	if err != nil {
		return err
	}
	nw, err := s.network()
	if err != nil {
		return err
	}
	out := Strings{Strings: []string{}}
	for _, a := range args {
		addr, err := ma.NewMultiaddr(a)
		if err != nil {
			return badRequest("invalid address %q: %v", a, err)
		}
		transport, id := peer.SplitAddr(addr)
		if id == "" {
			return badRequest("address %q has no /p2p/<peer-id>", a)
		}
		// Failures are lines of the answer, not a failed call (Kubo).
		msg := "disconnect " + id.String()
		if err := disconnect(nw, id, transport); err != nil {
			msg += " failure: " + err.Error()
		} else {
			msg += " success"
		}
		out.Strings = append(out.Strings, msg)
	}
	return res.single(out)
}

// disconnect closes the connections to id (to one address of it when
// transport is set).
func disconnect(nw *p2p.Network, id peer.ID, transport ma.Multiaddr) error {
	closed := false
	for _, c := range nw.Host.Network().ConnsToPeer(id) {
		if transport != nil && !c.RemoteMultiaddr().Equal(transport) {
			continue
		}
		if err := c.Close(); err != nil {
			return err
		}
		closed = true
	}
	if !closed {
		return errors.New("not connected")
	}
	return nil
}

// swarmAddrs lists the known addresses of every peer in the peerstore.
func (s *server) swarmAddrs(ctx context.Context, req *request, res *response) error {
	nw, err := s.network()
	if err != nil {
		return err
	}
	out := SwarmAddrs{Addrs: map[string][]string{}}
	ps := nw.Host.Peerstore()
	for _, id := range ps.Peers() {
		addrs := ps.Addrs(id)
		if len(addrs) == 0 {
			continue
		}
		list := make([]string, 0, len(addrs))
		for _, a := range addrs {
			list = append(list, a.String())
		}
		sort.Strings(list)
		out.Addrs[id.String()] = list
	}
	return res.single(out)
}

// swarmAddrsLocal lists the addresses the peer announces (with its ID
// appended when asked).
func (s *server) swarmAddrsLocal(ctx context.Context, req *request, res *response) error {
	nw, err := s.network()
	if err != nil {
		return err
	}
	withID, err := req.boolOpt("id", false)
	if err != nil {
		return err
	}
	out := Strings{Strings: []string{}}
	for _, a := range nw.Host.Addrs() {
		v := a.String()
		if withID {
			v += "/p2p/" + s.id.String()
		}
		out.Strings = append(out.Strings, v)
	}
	sort.Strings(out.Strings)
	return res.single(out)
}

// swarmAddrsListen lists the addresses the swarm is bound to.
func (s *server) swarmAddrsListen(ctx context.Context, req *request, res *response) error {
	nw, err := s.network()
	if err != nil {
		return err
	}
	out := Strings{Strings: []string{}}
	addrs, err := nw.Host.Network().InterfaceListenAddresses()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		out.Strings = append(out.Strings, a.String())
	}
	sort.Strings(out.Strings)
	return res.single(out)
}
