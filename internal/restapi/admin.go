package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The cluster's administration routes: peers joining and leaving, garbage
// collection, the connectivity graph and bandwidth. Each is served from an
// optional interface of the Cluster, checked at run time; without it the
// route answers 501.

// Errors a Membership returns (wrapped).
var (
	// ErrPeerNotFound: the peer is not a member (404).
	ErrPeerNotFound = errors.New("peer not found")
	// ErrRefused: the change would break the cluster, e.g. removing its
	// only peer (409).
	ErrRefused = errors.New("refused")
)

// Membership removes peers.
type Membership interface {
	// RemoveMember takes the peer out of the cluster: the pins allocated
	// to it go to other peers, it leaves the members and the consensus.
	RemoveMember(ctx context.Context, id string) error
}

// GarbageCollector runs the nodes' garbage collection.
type GarbageCollector interface {
	// RepoGC collects garbage on every member's node (local: on this
	// peer's only) and returns one result per node. A node that fails
	// has its error in its result.
	RepoGC(ctx context.Context, local bool) ([]GCResult, error)
}

// GCResult is one node's garbage collection.
type GCResult struct {
	Peer    string
	Removed []cid.Cid
	Err     string
}

// Connectivity reports how the members are connected.
type Connectivity interface {
	// Links asks every member for its connections.
	Links(ctx context.Context) ([]PeerLinks, error)
}

// PeerLinks is one member's connections.
type PeerLinks struct {
	Peer string
	Err  string // set when the member could not be asked
	// ClusterPeers are the other members it reaches.
	ClusterPeers []string
	// SwarmPeers are the libp2p peers its IPFS node is connected to.
	SwarmPeers []string
}

// Bandwidth reports this peer's libp2p traffic.
type Bandwidth interface {
	// BandwidthByProtocol is the traffic so far and its current rate,
	// by libp2p protocol.
	BandwidthByProtocol() map[string]BandwidthStats
}

// BandwidthStats are bytes so far and bytes per second.
type BandwidthStats struct {
	TotalIn, TotalOut int64
	RateIn, RateOut   float64
}

// optional returns the Cluster as T, or a 501 naming the route.
func optional[T any](s *server, r *http.Request) (T, error) {
	v, ok := s.Cluster.(T)
	if !ok {
		return v, errorf(http.StatusNotImplemented, "%s %s is not available on this cluster", r.Method, r.URL.Path)
	}
	return v, nil
}

// POST /peers {"peer_id"}: IPFS Cluster adds the peer to the consensus
// by its ID. A flotilla peer joins by itself (--join and the cluster
// secret), so a peer that is a member already is answered with its ID, as
// IPFS Cluster does, and any other is refused with how to join.
func (s *server) peerAdd(w http.ResponseWriter, r *http.Request) error {
	var body wirePeerAdd
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		return errorf(http.StatusBadRequest, "error decoding request body")
	}
	id, err := peer.Decode(body.PeerID)
	if err != nil {
		return errorf(http.StatusBadRequest, "error decoding peer_id")
	}
	ms, by, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	m, ok := by[id.String()]
	if !ok {
		join := "this peer's cluster address"
		if a := by[s.Cluster.ID()].ClusterAddr; a != "" {
			join = a
		}
		return errorf(http.StatusBadRequest, "peer %s is not a member, and flotilla peers cannot be added by ID: "+
			"start it with --join %s and this cluster's secret, and it joins by itself", id, join)
	}
	return reply(w, memberToWire(m, ms, s.Version, s.Commit))
}

// DELETE /peers/{peer}: answers 204 once the peer is out.
func (s *server) peerRemove(w http.ResponseWriter, r *http.Request) error {
	id, err := peer.Decode(r.PathValue("peer"))
	if err != nil {
		return errorf(http.StatusBadRequest, "error decoding Peer ID: %v", err)
	}
	m, err := optional[Membership](s, r)
	if err != nil {
		return err
	}
	if err := m.RemoveMember(r.Context(), id.String()); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /ipfs/gc?local=: every node's garbage collection, by peer.
func (s *server) repoGC(w http.ResponseWriter, r *http.Request) error {
	gc, err := optional[GarbageCollector](s, r)
	if err != nil {
		return err
	}
	results, err := gc.RepoGC(r.Context(), r.URL.Query().Get("local") == "true")
	if err != nil {
		return err
	}
	_, by, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	out := wireGlobalRepoGC{PeerMap: map[string]wireRepoGC{}}
	for _, res := range results {
		g := wireRepoGC{Peer: res.Peer, Peername: by[res.Peer].Name, Keys: []wireIPFSRepoGC{}, Error: res.Err}
		for _, c := range res.Removed {
			g.Keys = append(g.Keys, wireIPFSRepoGC{Key: c.String()})
		}
		out.PeerMap[res.Peer] = g
	}
	return reply(w, out)
}

// GET /health/graph: who reaches whom. Every member is a trusted peer (it
// holds the cluster secret), and its cluster and IPFS identities are one
// peer ID. A member that could not be asked has no links and no IPFS
// node, which ipfs-cluster-ctl draws as an errored one.
func (s *server) graph(w http.ResponseWriter, r *http.Request) error {
	c, err := optional[Connectivity](s, r)
	if err != nil {
		return err
	}
	links, err := c.Links(r.Context())
	if err != nil {
		return err
	}
	_, by, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	g := wireConnectGraph{
		ClusterID: s.Cluster.ID(), IDtoPeername: map[string]string{}, IPFSLinks: map[string][]string{},
		ClusterLinks: map[string][]string{}, ClusterTrustLinks: map[string]bool{}, ClustertoIPFS: map[string]string{},
	}
	for _, l := range links {
		g.IDtoPeername[l.Peer] = by[l.Peer].Name
		g.ClusterTrustLinks[l.Peer] = true
		g.ClusterLinks[l.Peer] = []string{}
		if l.Err != "" {
			continue
		}
		g.ClusterLinks[l.Peer] = nonNil(l.ClusterPeers)
		g.ClustertoIPFS[l.Peer] = l.Peer
		g.IPFSLinks[l.Peer] = nonNil(l.SwarmPeers)
	}
	return reply(w, g)
}

// GET /health/bandwidth: this peer's libp2p traffic by protocol.
func (s *server) bandwidth(w http.ResponseWriter, r *http.Request) error {
	b, err := optional[Bandwidth](s, r)
	if err != nil {
		return err
	}
	out := map[string]wireBandwidth{}
	for proto, st := range b.BandwidthByProtocol() {
		out[proto] = wireBandwidth(st)
	}
	return reply(w, out)
}
