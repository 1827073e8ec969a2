package kuborpc

import (
	"log/slog"
	"net/http"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// Deps are what the RPC handlers serve from.
type Deps struct {
	Node     *ipfs.Node   // non-nil
	RepoPath string       // reported by repo/stat
	Config   func() any   // effective settings for config/show (secrets redacted)
	Logger   *slog.Logger // non-nil
}

// NewHandler returns the handler for /api/v0/.
func NewHandler(d Deps) http.Handler {
	mux := http.NewServeMux()
	// TODO(helper): routes
	return mux
}
