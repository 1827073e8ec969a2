package arch

import (
	"os/exec"
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
	{"internal/ipfs", []string{mod + "internal/daemon", mod + "internal/kuborpc", mod + "internal/gateway", mod + "cmd/"},
		"the node knows nothing of the APIs that expose it"},
	{"internal/kuborpc", []string{mod + "internal/daemon", mod + "internal/repo"},
		"an API talks to the node it is given, not to the process that composes it"},
	{"internal/gateway", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/kuborpc", mod + "internal/cluster"},
		"the gateway serves the node it is given; it knows nothing of the process, the RPC API or the cluster"},
	{"internal/restapi", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/cluster", mod + "internal/ipfs", mod + "internal/state", mod + "internal/consensus"},
		"the REST API talks to the small Cluster interface it defines; the daemon adapts the peer to it"},
	{"internal/pinsvc", []string{mod + "internal/daemon", mod + "internal/repo", mod + "internal/cluster", mod + "internal/ipfs", mod + "internal/state", mod + "internal/consensus"},
		"the Pinning Service API talks to the small Cluster interface it defines; the daemon adapts the peer to it"},
	{"internal/repo", []string{mod + "internal/ipfs", "github.com/ipfs/boxo"},
		"the data directory's lock and identity are below the node"},
	{"internal/apiclient", []string{mod + "internal/", "github.com/libp2p/"},
		"the CLI's REST client knows the API's wire format only, not the server's code or a network stack"},
}

func TestDependencyRules(t *testing.T) {
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", mod+r.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", r.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range r.banned {
				if strings.HasPrefix(dep, b) && dep != mod+r.pkg {
					t.Errorf("%s depends on %s, which it must not: %s", r.pkg, dep, r.why)
				}
			}
		}
	}
}
