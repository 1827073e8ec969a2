package restapi

import (
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// The JSON shapes of IPFS Cluster 1.1.6's REST API (api/types.go), field
// for field, so that ipfs-cluster-ctl and the Go client decode them. Only
// this file knows them: the domain types carry no tags.

// rpcProtocol is the RPC protocol IPFS Cluster 1.1.6 reports in /id.
const rpcProtocol = "/ipfscluster/1.1/rpc"

// wireError is api.Error: every error body.
type wireError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// wireVersion is api.Version.
type wireVersion struct {
	Version string `json:"version"`
}

// wireIPFSID is api.IPFSID.
type wireIPFSID struct {
	ID        string   `json:"id,omitempty"`
	Addresses []string `json:"addresses"`
	Error     string   `json:"error"`
}

// wireID is api.ID: a peer of the cluster.
type wireID struct {
	ID                    string     `json:"id"`
	Addresses             []string   `json:"addresses"`
	ClusterPeers          []string   `json:"cluster_peers"`
	ClusterPeersAddresses []string   `json:"cluster_peers_addresses"`
	Version               string     `json:"version"`
	Commit                string     `json:"commit"`
	RPCProtocolVersion    string     `json:"rpc_protocol_version"`
	Error                 string     `json:"error"`
	IPFS                  wireIPFSID `json:"ipfs"`
	Peername              string     `json:"peername"`
}

// wirePin is api.Pin with its embedded api.PinOptions.
type wirePin struct {
	ReplicationFactorMin int               `json:"replication_factor_min"`
	ReplicationFactorMax int               `json:"replication_factor_max"`
	Name                 string            `json:"name"`
	Mode                 string            `json:"mode"`
	ShardSize            uint64            `json:"shard_size"`
	UserAllocations      []string          `json:"user_allocations"`
	ExpireAt             time.Time         `json:"expire_at"`
	Metadata             map[string]string `json:"metadata"`
	PinUpdate            *string           `json:"pin_update,omitempty"`
	Origins              []string          `json:"origins"`
	Cid                  string            `json:"cid"`
	Type                 string            `json:"type"`
	Allocations          []string          `json:"allocations"`
	MaxDepth             int               `json:"max_depth"`
	Reference            *string           `json:"reference"`
	Timestamp            time.Time         `json:"timestamp"`
}

// wirePinInfoShort is api.PinInfoShort: one peer's view of a pin.
type wirePinInfoShort struct {
	PeerName      string    `json:"peername"`
	IPFS          string    `json:"ipfs_peer_id,omitempty"`
	IPFSAddresses []string  `json:"ipfs_peer_addresses,omitempty"`
	Status        string    `json:"status"`
	TS            time.Time `json:"timestamp"`
	Error         string    `json:"error"`
	AttemptCount  int       `json:"attempt_count"`
	PriorityPin   bool      `json:"priority_pin"`
}

// wireGlobalPinInfo is api.GlobalPinInfo: a pin with every peer's view.
type wireGlobalPinInfo struct {
	Cid         string                      `json:"cid"`
	Name        string                      `json:"name"`
	Allocations []string                    `json:"allocations"`
	Origins     []string                    `json:"origins"`
	Created     time.Time                   `json:"created"`
	Metadata    map[string]string           `json:"metadata"`
	PeerMap     map[string]wirePinInfoShort `json:"peer_map"`
}

// wireMetric is api.Metric.
type wireMetric struct {
	Name          string `json:"name"`
	Peer          string `json:"peer"`
	Value         string `json:"value"`
	Expire        int64  `json:"expire"`
	Valid         bool   `json:"valid"`
	Weight        int64  `json:"weight"`
	Partitionable bool   `json:"partitionable"`
	ReceivedAt    int64  `json:"received_at"`
}

// wireAlert is api.Alert: a metric that expired.
type wireAlert struct {
	wireMetric
	TriggeredAt time.Time `json:"triggered_at"`
}

// metricNames are the metrics flotilla reports, as IPFS Cluster names
// its informers': liveness (ping) and free space.
var metricNames = []string{"freespace", "ping"}

// memberMetric is a member's metric as of its last heartbeat; it expires
// downAfter later, as a peer then counts as down.
func memberMetric(name string, m member.Member, now time.Time, downAfter time.Duration) wireMetric {
	w := wireMetric{Name: name, Peer: m.ID, Valid: m.Alive(now, downAfter)}
	if !m.LastSeen.IsZero() {
		w.ReceivedAt = m.LastSeen.UnixNano()
		w.Expire = m.LastSeen.Add(downAfter).UnixNano()
	}
	if name == "freespace" {
		w.Value = strconv.FormatUint(m.FreeSpace, 10)
		w.Weight = int64(min(m.FreeSpace, math.MaxInt64))
	}
	return w
}

// wireAdded is api.AddedOutput: one output of /add. A progress report
// has no CID ("cid": null), as api.Cid marshals an undefined CID.
type wireAdded struct {
	Name        string   `json:"name"`
	Cid         *string  `json:"cid"`
	Bytes       uint64   `json:"bytes,omitempty"`
	Size        uint64   `json:"size,omitempty"`
	Allocations []string `json:"allocations,omitempty"`
}

func addedToWire(a Added) wireAdded {
	w := wireAdded{Name: a.Name, Bytes: a.Bytes, Size: a.Size, Allocations: a.Allocations}
	if a.Cid.Defined() {
		s := a.Cid.String()
		w.Cid = &s
	}
	return w
}

func pinToWire(p pin.Pin) wirePin {
	w := wirePin{
		ReplicationFactorMin: p.ReplicationMin, ReplicationFactorMax: p.ReplicationMax,
		Name: p.Name, Mode: string(p.Mode), UserAllocations: p.UserAllocations, ExpireAt: p.ExpireAt,
		Metadata: p.Metadata, Origins: nonNil(p.Origins), Cid: p.Cid.String(), Type: "pin",
		Allocations: nonNil(p.Allocations), MaxDepth: -1, Timestamp: p.Timestamp,
	}
	if p.Mode == pin.Direct {
		w.MaxDepth = 0
	}
	if p.PinUpdate.Defined() {
		s := p.PinUpdate.String()
		w.PinUpdate = &s
	}
	return w
}

// infoToWire merges the peers' views with what the members say of
// themselves (names, swarm addresses).
func infoToWire(info pin.Info, members map[string]member.Member) wireGlobalPinInfo {
	p := info.Pin
	w := wireGlobalPinInfo{
		Cid: p.Cid.String(), Name: p.Name, Allocations: nonNil(p.Allocations), Origins: nonNil(p.Origins),
		Created: p.Timestamp, Metadata: p.Metadata, PeerMap: map[string]wirePinInfoShort{},
	}
	for _, s := range info.Peers {
		m := members[s.Peer]
		ts := s.Since
		if ts.IsZero() {
			ts = p.Timestamp
		}
		status := string(s.Status)
		if status == "" {
			status = "undefined"
		}
		w.PeerMap[s.Peer] = wirePinInfoShort{
			PeerName: m.Name, IPFS: s.Peer, IPFSAddresses: m.SwarmAddrs, Status: status, TS: ts, Error: s.Error,
		}
	}
	return w
}

// memberToWire describes a member as /id and /peers do, with the version
// it reports (v and commit, this peer's, when it reports none). Its cluster
// port is not libp2p, but the shape wants multiaddrs: /ip4/…/tcp/…/p2p/ID.
func memberToWire(m member.Member, all []member.Member, v, commit string) wireID {
	w := wireID{
		ID: m.ID, Addresses: []string{}, ClusterPeers: []string{}, ClusterPeersAddresses: []string{},
		Version: v, Commit: commit, RPCProtocolVersion: rpcProtocol, Peername: m.Name,
		IPFS: wireIPFSID{ID: m.ID, Addresses: nonNil(m.SwarmAddrs)},
	}
	if m.Version != "" && m.Version != v {
		// Another peer's own report; its commit is not known here.
		w.Version, w.Commit = m.Version, ""
	}
	if a := clusterMultiaddr(m); a != "" {
		w.Addresses = append(w.Addresses, a)
	}
	for _, o := range all {
		w.ClusterPeers = append(w.ClusterPeers, o.ID)
		if a := clusterMultiaddr(o); a != "" {
			w.ClusterPeersAddresses = append(w.ClusterPeersAddresses, a)
		}
	}
	return w
}

// clusterMultiaddr is the member's cluster address as a multiaddr, empty
// when it is not one a peer can dial: a wildcard (0.0.0.0, ::) or port 0,
// as a peer of an older release may have recorded (its bound address).
func clusterMultiaddr(m member.Member) string {
	host, port, err := net.SplitHostPort(m.ClusterAddr)
	if err != nil || host == "" || port == "0" {
		return ""
	}
	proto := "ip4"
	switch ip := net.ParseIP(host); {
	case ip == nil:
		proto = "dns"
	case ip.IsUnspecified():
		return ""
	case ip.To4() == nil:
		proto = "ip6"
	}
	a, err := ma.NewMultiaddr("/" + proto + "/" + host + "/tcp/" + port + "/p2p/" + m.ID)
	if err != nil {
		return ""
	}
	return a.String()
}

// statusNames are the tracker statuses a filter may name, with IPFS
// Cluster's composite ones.
var statusNames = map[string][]pin.Status{
	"cluster_error":         {pin.StatusClusterErr},
	"pin_error":             {pin.StatusPinError},
	"unpin_error":           {pin.StatusUnpinError},
	"error":                 {pin.StatusClusterErr, pin.StatusPinError, pin.StatusUnpinError},
	"pinned":                {pin.StatusPinned},
	"pinning":               {pin.StatusPinning},
	"unpinning":             {pin.StatusUnpinning},
	"unpinned":              {pin.StatusUnpinned},
	"remote":                {pin.StatusRemote},
	"pin_queued":            {pin.StatusPinQueued},
	"unpin_queued":          {pin.StatusUnpinQueued},
	"queued":                {pin.StatusPinQueued, pin.StatusUnpinQueued},
	"sharded":               nil, // flotilla does not shard
	"unexpectedly_unpinned": nil,
	"undefined":             nil,
}

// statusFilter parses a comma-separated status filter; nil matches all.
func statusFilter(s string) (map[pin.Status]bool, error) {
	if s == "" {
		return nil, nil
	}
	f := map[pin.Status]bool{}
	for _, name := range strings.Split(strings.ReplaceAll(s, " ", ""), ",") {
		sts, ok := statusNames[name]
		if !ok {
			return nil, errorf(400, "invalid filter value %q", name)
		}
		for _, st := range sts {
			f[st] = true
		}
	}
	return f, nil
}

// matches reports whether any peer's status is in the filter, as
// GlobalPinInfo.Match.
func matches(info pin.Info, f map[pin.Status]bool) bool {
	if f == nil {
		return true
	}
	for _, s := range info.Peers {
		if f[s.Status] {
			return true
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// wirePeerAdd is the body of POST /peers.
type wirePeerAdd struct {
	PeerID string `json:"peer_id"`
}

// wireIPFSRepoGC is api.IPFSRepoGC: one block a node deleted.
type wireIPFSRepoGC struct {
	Key   string `json:"key"`
	Error string `json:"error,omitempty"`
}

// wireRepoGC is api.RepoGC: one node's garbage collection.
type wireRepoGC struct {
	Peer     string           `json:"peer"`
	Peername string           `json:"peername"`
	Keys     []wireIPFSRepoGC `json:"keys"`
	Error    string           `json:"error,omitempty"`
}

// wireGlobalRepoGC is api.GlobalRepoGC: every node's, by peer ID.
type wireGlobalRepoGC struct {
	PeerMap map[string]wireRepoGC `json:"peer_map"`
}

// wireConnectGraph is api.ConnectGraph.
type wireConnectGraph struct {
	ClusterID         string              `json:"cluster_id"`
	IDtoPeername      map[string]string   `json:"id_to_peername"`
	IPFSLinks         map[string][]string `json:"ipfs_links"`
	ClusterLinks      map[string][]string `json:"cluster_links"`
	ClusterTrustLinks map[string]bool     `json:"cluster_trust_links"`
	ClustertoIPFS     map[string]string   `json:"cluster_to_ipfs"`
}

// wireBandwidth is api.Bandwidth; /health/bandwidth answers
// api.BandwidthByProtocol, a map of them by libp2p protocol.
type wireBandwidth struct {
	TotalIn  int64   `json:"total_in"`
	TotalOut int64   `json:"total_out"`
	RateIn   float64 `json:"rate_in"`
	RateOut  float64 `json:"rate_out"`
}
