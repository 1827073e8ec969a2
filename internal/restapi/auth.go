package restapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
)

// Scope is the scope a request to the REST API needs: reading needs read;
// changing the pinset needs pin; running the cluster (peers, GC) needs
// admin. Tokens are open to every authenticated user: the handlers limit
// what each may see and do.
func Scope(r *http.Request) auth.Scope {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "",
		r.Method == http.MethodGet && p == "/health":
		return auth.ScopeNone
	case r.Method == http.MethodGet || r.Method == http.MethodHead,
		p == "/token", p == "/tokens" || strings.HasPrefix(p, "/tokens/"):
		return auth.ScopeRead
	case p == "/add", p == "/pins" || strings.HasPrefix(p, "/pins/"):
		return auth.ScopePin
	}
	return auth.ScopeAdmin
}

// WriteError answers an authentication failure in the API's error shape.
func WriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(wireError{Code: status, Message: msg})
}
