package kuborpc

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
)

// readCommands only look; pinCommands change what the node stores. Every
// other command (GC, swarm and routing changes, configuration, anything
// added later) needs the admin scope: a new command is never open by
// accident.
var (
	readCommands = setOf("cat", "get", "ls", "refs", "refs/local", "resolve", "name/resolve",
		"block/get", "block/stat", "dag/get", "dag/stat", "dag/export", "pin/ls", "pin/verify",
		"routing/get", "routing/findprovs", "repo/stat", "id", "version",
		"swarm/peers", "swarm/addrs", "swarm/addrs/local", "swarm/addrs/listen", "key/list", "key/ls")
	// Publishing a name and making a key for it are what deploying a site
	// takes; removing, renaming, importing and exporting keys stay admin.
	pinCommands = setOf("add", "block/put", "block/rm", "dag/put", "dag/import", "pin/add", "pin/rm", "pin/update",
		"key/gen", "name/publish")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Scope is the scope a request to the RPC API needs.
func Scope(r *http.Request) auth.Scope {
	cmd := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v0/"), "/")
	switch {
	case readCommands[cmd]:
		return auth.ScopeRead
	case pinCommands[cmd]:
		return auth.ScopePin
	}
	return auth.ScopeAdmin
}

// WriteError answers an authentication failure as Kubo answers errors,
// which Kubo's client prints as it prints any error.
func WriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Error{Message: msg, Code: 0, Type: "error"})
}
