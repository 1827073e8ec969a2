package arch

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/flotilla-ipfs/flotilla/"

// rules: a package, the imports it must never reach (directly or not), and
// why.
var rules = []struct {
	pkg    string
	banned []string
	why    string
}{
	{"internal/config", []string{"github.com/ipfs/", "github.com/libp2p/", mod + "internal/"},
		"settings are plain data: loading them must not pull in a network or storage stack"},
	{"internal/importer", []string{mod + "internal/ipfs", mod + "internal/daemon", "github.com/libp2p/go-libp2p", "github.com/ipfs/boxo/bitswap"},
		"import is pure DAG building; where blocks go is the caller's business"},
	{"internal/storage", []string{mod + "internal/ipfs", "github.com/libp2p/go-libp2p"},
		"datastores know nothing of the node built on them"},
	{"internal/s3store", []string{mod + "internal/ipfs", mod + "internal/cluster", "github.com/libp2p/go-libp2p"},
		"the S3 block store knows nothing of the node built on it, nor of the cluster that tells it of other peers' packs (AddPack, OnPack)"},
	{"internal/ipfs", []string{mod + "internal/daemon", mod + "internal/kuborpc", mod + "internal/gateway", mod + "cmd/"},
		"the node knows nothing of the APIs that expose it"},
	{"internal/block", []string{mod + "internal/", "github.com/libp2p/", "github.com/ipfs/boxo/bitswap"},
		"what a valid block is needs nothing above it: the node, the block stream and the APIs all check with it"},
	{"internal/blockstream", []string{mod + "internal/cluster", mod + "internal/clusternet", mod + "internal/consensus", mod + "internal/state",
		mod + "internal/adder", mod + "internal/daemon", mod + "internal/restapi", mod + "internal/kuborpc", mod + "internal/pinsvc", mod + "internal/gateway"},
		"the block stream carries blocks over the Send it is given into the Store it is given; the cluster names its destinations and carries its calls (members, the transport, the error table), and the add and the APIs are above it"},
	{"internal/adder", []string{mod + "internal/cluster", mod + "internal/clusternet", mod + "internal/consensus", mod + "internal/state",
		mod + "internal/daemon", mod + "internal/kuborpc", mod + "internal/pinsvc", mod + "internal/gateway"},
		"the add composes the importer, the block stream and the small Cluster interface it defines (allocate, stream, pin), which the cluster peer satisfies (guarded in the daemon); raft, the transport and the process are not its business"},
	{"internal/kuborpc", []string{mod + "internal/daemon", mod + "internal/repo"},
		"an API talks to the node it is given, not to the process that composes it"},
	{"internal/gateway", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/kuborpc", mod + "internal/cluster"},
		"the gateway serves the node it is given; it knows nothing of the process, the RPC API or the cluster"},
	{"internal/restapi", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/cluster", mod + "internal/ipfs", mod + "internal/state", mod + "internal/consensus"},
		"the REST API talks to the small Cluster interface it defines, in the pin package's types; the cluster peer satisfies it as it is (guarded in the daemon)"},
	{"internal/pinsvc", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/cluster", mod + "internal/ipfs", mod + "internal/state", mod + "internal/consensus"},
		"the Pinning Service API talks to the small Cluster interface it defines, in the pin package's types; the cluster peer satisfies it as it is (guarded in the daemon)"},
	{"internal/registry", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/cluster", mod + "internal/ipfs", mod + "internal/state",
		mod + "internal/consensus", mod + "internal/restapi", mod + "internal/kuborpc", mod + "internal/pinsvc", mod + "internal/gateway", "github.com/libp2p/go-libp2p", "github.com/ipfs/boxo/bitswap"},
		"the registry talks to the small Cluster and Node interfaces it defines (records, pins; the pin lock and marks) and to the DAG services it is given; the cluster peer and the node satisfy them as they are (guarded in the daemon), and how blocks travel is not its business"},
	{"internal/console", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/cluster", mod + "internal/ipfs", mod + "internal/state",
		mod + "internal/consensus", mod + "internal/restapi", "github.com/libp2p/go-libp2p"},
		"the web console talks to the small Cluster, Auth and Tokens interfaces it defines and hands uploads to the REST API's handler it is given; the cluster peer, the guard and the token service satisfy them as they are (guarded in the daemon)"},
	{"internal/names", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/cluster", mod + "internal/ipfs", mod + "internal/state",
		mod + "internal/consensus", mod + "internal/kuborpc", mod + "internal/gateway", "github.com/ipfs/boxo/namesys", "github.com/libp2p/go-libp2p-kad-dht"},
		"keys and names live in the Records they are given; the node reads them through the function it is handed, and the DHT is reached through Announce: neither raft nor the network is its business"},
	{"internal/repo", []string{mod + "internal/ipfs", "github.com/ipfs/boxo"},
		"the data directory's lock and identity are below the node"},
	{"internal/apiclient", []string{mod + "internal/", "github.com/libp2p/"},
		"the CLI's REST client knows the API's wire format only, not the server's code or a network stack"},
}

// Families of imports the domain packages keep away from.
var (
	network = []string{"github.com/libp2p/go-libp2p/core", "github.com/libp2p/go-libp2p/p2p", "github.com/libp2p/go-libp2p-kad-dht",
		"github.com/multiformats/go-multiaddr", "github.com/ipfs/boxo"}
	storage = []string{"github.com/cockroachdb/pebble", "github.com/ipfs/go-datastore", "github.com/ipfs/go-ds-"}
	raft    = []string{"github.com/hashicorp/raft", "github.com/hashicorp/go-hclog"}
)

// layers: the cluster's domain packages from the bottom up, each with the
// only flotilla packages it may reach (directly or not), the imports it
// must never reach, and why.
var layers = []struct {
	pkg      string
	internal []string
	banned   []string
	why      string
}{
	{"internal/member", nil, []string{"github.com/", "golang.org/", "net"},
		"a member is plain data, what a peer knows of another: no library, no network (its cluster address is a string others dial)"},
	{"internal/pin", nil, slices.Concat([]string{"net", "log"}, network, storage, raft),
		"a pin is a domain value, a CID with its options and statuses: nothing of where it is stored, how it travels or who logs it"},
	{"internal/placement", []string{"internal/pin", "internal/member"}, slices.Concat([]string{"net", "log"}, network, storage, raft),
		"placement decides from the pin and the members it is given only: a pure function, with no state, raft or network to consult"},
	{"internal/state", []string{"internal/pin", "internal/member"}, slices.Concat(network, raft),
		"the state stores pins and members in pebble; it knows nothing of raft (consensus applies entries to it), the network or the cluster"},
	{"internal/consensus", []string{"internal/state", "internal/pin", "internal/member", "internal/batch", "internal/logbridge"}, network,
		"consensus knows raft and the state it applies to (and the generic group commit, batch); its transport is the raft.StreamLayer it is given, and the cluster, the daemon and the APIs are above it"},
	{"internal/logbridge", nil, slices.Concat(network, storage, []string{"github.com/hashicorp/raft"}),
		"the log bridges adapt logging libraries only, cheap to import from any layer (consensus uses one)"},
}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestDependencyRules(t *testing.T) {
	for _, r := range rules {
		for _, dep := range deps(t, r.pkg) {
			for _, b := range r.banned {
				if strings.HasPrefix(dep, b) && dep != mod+r.pkg {
					t.Errorf("%s depends on %s, which it must not: %s", r.pkg, dep, r.why)
				}
			}
		}
	}
}

func TestLayers(t *testing.T) {
	for _, l := range layers {
		for _, dep := range deps(t, l.pkg) {
			if dep == mod+l.pkg {
				continue
			}
			if own, ok := strings.CutPrefix(dep, mod); ok && !slices.Contains(l.internal, own) {
				t.Errorf("%s depends on %s; it may reach %v only: %s", l.pkg, dep, l.internal, l.why)
				continue
			}
			for _, b := range l.banned {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s depends on %s, which it must not: %s", l.pkg, dep, l.why)
				}
			}
		}
	}
}
