package kuborpc

// The JSON shapes of Kubo's RPC responses. Field names and omitempty rules
// follow Kubo 0.43 exactly: its CLI and client libraries decode these.

// AddEvent is one line of add's NDJSON stream: a finished entry (Hash set)
// or progress (Bytes set).
type AddEvent struct {
	Name  string
	Hash  string `json:",omitempty"`
	Bytes int64  `json:",omitempty"`
	Size  string `json:",omitempty"`
}

// LsLink is one directory entry.
type LsLink struct {
	Name, Hash string
	Size       uint64
	Type       int
	Target     string
}

// LsObject lists one argument of ls.
type LsObject struct {
	Hash  string
	Links []LsLink
}

// LsOutput is ls's response.
type LsOutput struct {
	Objects []LsObject
}

// BlockStat answers block/stat and block/put.
type BlockStat struct {
	Key  string
	Size int
}

// RemovedBlock is one line of block/rm.
type RemovedBlock struct {
	Hash  string `json:",omitempty"`
	Error string `json:",omitempty"`
}

// CidLink is IPLD's JSON form of a CID.
type CidLink struct {
	Cid string `json:"/"`
}

// DagImportRoot is a root line of dag/import.
type DagImportRoot struct {
	Root struct {
		Cid         CidLink
		PinErrorMsg string
	}
}

// DagImportStats is the stats line of dag/import (with stats=true).
type DagImportStats struct {
	Stats struct {
		BlockCount      uint64
		BlockBytesCount uint64
	}
}

// PinOutput answers pin/add, pin/rm and pin/update.
type PinOutput struct {
	Pins     []string `json:",omitempty"`
	Progress int      `json:",omitempty"`
}

// PinLsObject is one line of a streamed pin/ls.
type PinLsObject struct {
	Cid  string `json:",omitempty"`
	Name string `json:",omitempty"`
	Type string `json:",omitempty"`
}

// PinLsType is a value of a non-streamed pin/ls.
type PinLsType struct {
	Type string
	Name string
}

// PinLsList is a non-streamed pin/ls.
type PinLsList struct {
	Keys map[string]PinLsType `json:",omitempty"`
}

// PinVerifyRes is one line of pin/verify.
type PinVerifyRes struct {
	Cid      string    `json:",omitempty"`
	Err      string    `json:",omitempty"`
	Ok       bool      `json:",omitempty"`
	BadNodes []BadNode `json:",omitempty"`
}

// BadNode is a broken block under a pin.
type BadNode struct {
	Cid string
	Err string
}

// GcResult is one line of repo/gc.
type GcResult struct {
	Key   *CidLink `json:",omitempty"`
	Error string   `json:",omitempty"`
}

// RepoStat answers repo/stat. S3 is flotilla's own, present when the
// blocks are in S3 (--blockstore s3).
type RepoStat struct {
	RepoSize   uint64
	StorageMax uint64
	NumObjects uint64
	RepoPath   string
	Version    string
	S3         *S3Stat `json:",omitempty"`
}

// S3Stat are the S3 block store's figures in repo/stat. The counts of
// requests, bytes and cache reads are since the daemon started.
type S3Stat struct {
	Bucket        string
	Prefix        string
	Shared        bool
	Packs         int64 // in the index, including those waiting for deletion
	PacksDeleting int64
	PackBytes     int64 // the packs' objects in S3
	LiveBlocks    int64
	LiveBytes     int64
	LiveFraction  float64 // LiveBytes over PackBytes: what a compaction keeps
	CacheBytes    int64   // in the local disk cache
	CacheHits     int64
	CacheMisses   int64
	CacheHitRatio float64
	// Requests counts the S3 requests by operation (GetObject,
	// PutObject, ...), each attempt: what S3 bills.
	Requests       map[string]int64
	FailedRequests int64
	SentBytes      int64
	ReceivedBytes  int64
}

// VerifyProgress is one line of repo/verify.
type VerifyProgress struct {
	Msg      string
	Progress int
}

// IDOutput answers id.
type IDOutput struct {
	ID           string
	PublicKey    string
	Addresses    []string
	AgentVersion string
	Protocols    []string
}

// VersionOutput answers version. Version is KuboAPIVersion; Flotilla is
// the build's own version.
type VersionOutput struct {
	Version  string
	Commit   string
	Repo     string
	System   string
	Golang   string
	Flotilla string
}

// KuboAPIVersion is the Kubo release whose RPC API flotilla serves.
const KuboAPIVersion = "0.43.0"

// SwarmPeer is one connection of swarm/peers.
type SwarmPeer struct {
	Addr      string
	Peer      string
	Direction int `json:",omitempty"`
}

// SwarmPeers answers swarm/peers.
type SwarmPeers struct {
	Peers []SwarmPeer
}

// Strings answers swarm/connect and swarm/disconnect.
type Strings struct {
	Strings []string
}

// Error is Kubo's error body, also sent as the last line of a stream that
// fails midway.
type Error struct {
	Message string
	Code    int
	Type    string
}

// Kubo's error codes (go-ipfs-cmds ErrorType).
const (
	codeNormal = 0
	codeClient = 1
)

// RefWrapper is one line of refs and refs/local.
type RefWrapper struct {
	Ref string
	Err string
}

// ResolvedPath answers resolve and name/resolve.
type ResolvedPath struct {
	Path string
}

// QueryEvent is one event of the routing/* commands, in go-libp2p's JSON
// form (routing.QueryEvent.MarshalJSON): Type 4 is a provider, 5 a value.
type QueryEvent struct {
	ID        string
	Type      int
	Responses []AddrInfo
	Extra     string
}

// AddrInfo is a peer and its addresses.
type AddrInfo struct {
	ID    string
	Addrs []string
}

// Kubo's routing event types (go-libp2p routing.QueryEventType).
const (
	eventProvider = 4
	eventValue    = 5
)

// DagPutOutput is one line of dag/put.
type DagPutOutput struct {
	Cid CidLink
}

// DagStat is the statistics of one root of dag/stat.
type DagStat struct {
	Cid       string `json:"Cid"`
	Size      uint64 `json:",omitempty"`
	NumBlocks int64  `json:",omitempty"`
}

// DagStatSummary is one line of dag/stat: progress while walking (Ratio
// 0), then the summary.
type DagStatSummary struct {
	UniqueBlocks int        `json:",omitempty"`
	TotalSize    uint64     `json:",omitempty"`
	SharedSize   uint64     `json:",omitempty"`
	Ratio        float32    `json:",omitempty"`
	DagStats     []*DagStat `json:"DagStats,omitempty"`
}

// SwarmAddrs answers swarm/addrs: known addresses by peer.
type SwarmAddrs struct {
	Addrs map[string][]string
}
