package apiclient

import "time"

// The JSON shapes of IPFS Cluster 1.1.6's REST API (api/types.go) that the
// client reads, field for field: printed back as JSON they are what the
// API answered.

// IPFSID is api.IPFSID: a peer's IPFS node.
type IPFSID struct {
	ID        string   `json:"id,omitempty"`
	Addresses []string `json:"addresses"`
	Error     string   `json:"error"`
}

// ID is api.ID: a peer of the cluster.
type ID struct {
	ID                    string   `json:"id"`
	Addresses             []string `json:"addresses"`
	ClusterPeers          []string `json:"cluster_peers"`
	ClusterPeersAddresses []string `json:"cluster_peers_addresses"`
	Version               string   `json:"version"`
	Commit                string   `json:"commit"`
	RPCProtocolVersion    string   `json:"rpc_protocol_version"`
	Error                 string   `json:"error"`
	IPFS                  IPFSID   `json:"ipfs"`
	Peername              string   `json:"peername"`
}

// Pin is api.Pin: an entry of the pinset.
type Pin struct {
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

// PinInfo is api.PinInfoShort: one peer's view of a pin.
type PinInfo struct {
	PeerName      string    `json:"peername"`
	IPFS          string    `json:"ipfs_peer_id,omitempty"`
	IPFSAddresses []string  `json:"ipfs_peer_addresses,omitempty"`
	Status        string    `json:"status"`
	TS            time.Time `json:"timestamp"`
	Error         string    `json:"error"`
	AttemptCount  int       `json:"attempt_count"`
	PriorityPin   bool      `json:"priority_pin"`
}

// GlobalPinInfo is api.GlobalPinInfo: a pin with every peer's view, by
// peer ID.
type GlobalPinInfo struct {
	Cid         string             `json:"cid"`
	Name        string             `json:"name"`
	Allocations []string           `json:"allocations"`
	Origins     []string           `json:"origins"`
	Created     time.Time          `json:"created"`
	Metadata    map[string]string  `json:"metadata"`
	PeerMap     map[string]PinInfo `json:"peer_map"`
}

// Metric is api.Metric.
type Metric struct {
	Name          string `json:"name"`
	Peer          string `json:"peer"`
	Value         string `json:"value"`
	Expire        int64  `json:"expire"`
	Valid         bool   `json:"valid"`
	Weight        int64  `json:"weight"`
	Partitionable bool   `json:"partitionable"`
	ReceivedAt    int64  `json:"received_at"`
}

// Alert is api.Alert: a metric that expired.
type Alert struct {
	Metric
	TriggeredAt time.Time `json:"triggered_at"`
}

// AddedOutput is api.AddedOutput: an entry an add imported, or (with no
// CID) the bytes of a file read so far.
type AddedOutput struct {
	Name        string   `json:"name"`
	Cid         string   `json:"cid"`
	Bytes       uint64   `json:"bytes,omitempty"`
	Size        uint64   `json:"size,omitempty"`
	Allocations []string `json:"allocations,omitempty"`
}
