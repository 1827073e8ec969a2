package cluster

import (
	"fmt"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// The JSON shapes of peer-to-peer calls. They are internal to the cluster
// (all peers run the same major version), kept apart from the domain types
// so either can change without the other.

type wirePin struct {
	Cid             string            `json:"cid"`
	Name            string            `json:"name,omitempty"`
	Mode            string            `json:"mode"`
	ReplicationMin  int               `json:"replication_min"`
	ReplicationMax  int               `json:"replication_max"`
	Allocations     []string          `json:"allocations,omitempty"`
	UserAllocations []string          `json:"user_allocations,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	ExpireAt        time.Time         `json:"expire_at,omitzero"`
	Origins         []string          `json:"origins,omitempty"`
	PinUpdate       string            `json:"pin_update,omitempty"`
	Timestamp       time.Time         `json:"timestamp,omitzero"`
}

func toWire(p pin.Pin) wirePin {
	w := wirePin{
		Cid: p.Cid.String(), Name: p.Name, Mode: string(p.Mode), ReplicationMin: p.ReplicationMin,
		ReplicationMax: p.ReplicationMax, Allocations: p.Allocations, UserAllocations: p.UserAllocations,
		Metadata: p.Metadata, ExpireAt: p.ExpireAt, Origins: p.Origins, Timestamp: p.Timestamp,
	}
	if p.PinUpdate.Defined() {
		w.PinUpdate = p.PinUpdate.String()
	}
	return w
}

func fromWire(w wirePin) (pin.Pin, error) {
	c, err := cid.Decode(w.Cid)
	if err != nil {
		return pin.Pin{}, fmt.Errorf("%w: cid %q: %v", pin.ErrInvalid, w.Cid, err)
	}
	p := pin.Pin{
		Cid: c, Name: w.Name, Mode: pin.Mode(w.Mode), ReplicationMin: w.ReplicationMin,
		ReplicationMax: w.ReplicationMax, Allocations: w.Allocations, UserAllocations: w.UserAllocations,
		Metadata: w.Metadata, ExpireAt: w.ExpireAt, Origins: w.Origins, Timestamp: w.Timestamp,
	}
	if w.PinUpdate != "" {
		if p.PinUpdate, err = cid.Decode(w.PinUpdate); err != nil {
			return pin.Pin{}, fmt.Errorf("%w: pin-update %q: %v", pin.ErrInvalid, w.PinUpdate, err)
		}
	}
	return p, nil
}

type wireMember struct {
	ID          string   `json:"id"`
	Name        string   `json:"name,omitempty"`
	Zone        string   `json:"zone,omitempty"`
	ClusterAddr string   `json:"cluster_addr"`
	SwarmAddrs  []string `json:"swarm_addrs,omitempty"`
}

func memberToWire(m member.Member) wireMember {
	return wireMember{ID: m.ID, Name: m.Name, Zone: m.Zone, ClusterAddr: m.ClusterAddr, SwarmAddrs: m.SwarmAddrs}
}

func (w wireMember) member() member.Member {
	return member.Member{ID: w.ID, Name: w.Name, Zone: w.Zone, ClusterAddr: w.ClusterAddr, SwarmAddrs: w.SwarmAddrs}
}

// wireLiveMember is a member with the leader's live view of it.
type wireLiveMember struct {
	wireMember
	LastSeen  time.Time `json:"last_seen,omitzero"`
	FreeSpace uint64    `json:"free_space"`
	QueueLen  int       `json:"queue_len"`
	Held      int       `json:"held,omitempty"`
	Errors    int       `json:"errors,omitempty"`
	Version   string    `json:"version,omitempty"`
}

type helloResp struct {
	ID         string `json:"id"`
	Addr       string `json:"addr"`
	HasCluster bool   `json:"has_cluster"`
}

type heartbeat struct {
	ID         string   `json:"id"`
	FreeSpace  uint64   `json:"free_space"`
	QueueLen   int      `json:"queue_len"`
	Held       int      `json:"held,omitempty"`    // pins its node holds
	Errors     int      `json:"errors,omitempty"`  // its pin operations in error
	Version    string   `json:"version,omitempty"` // its flotilla version
	SwarmAddrs []string `json:"swarm_addrs,omitempty"`
	Leaving    bool     `json:"leaving,omitempty"`
}

type cidReq struct {
	Cid string `json:"cid"`
}

func (r cidReq) cid() (cid.Cid, error) {
	c, err := cid.Decode(r.Cid)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %v", pin.ErrInvalid, err)
	}
	return c, nil
}

// indexReq asks the leader for a read index; Applied is the asking
// peer's applied index.
type indexReq struct {
	Applied uint64 `json:"applied"`
}

type indexResp struct {
	Index uint64 `json:"index"`
}

type statusReq struct {
	Cids []string `json:"cids,omitempty"` // empty: every pin of the pinset
	// After, with no Cids, starts the pinset after this CID (a page of a
	// listing); a peer that ignores it streams from the start, which the
	// merge in StatusFrom skips.
	After string `json:"after,omitempty"`
}

type wireStatus struct {
	Cid    string    `json:"cid"`
	Peer   string    `json:"peer"`
	Status string    `json:"status"`
	Error  string    `json:"error,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// rpcError is the body of a failed call. Leader is set when the callee is
// not the leader and knows who is.
type rpcError struct {
	Error  string `json:"error"`
	Kind   string `json:"kind,omitempty"` // see errorKinds
	Leader string `json:"leader,omitempty"`
}
