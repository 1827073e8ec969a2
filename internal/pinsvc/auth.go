package pinsvc

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
)

// Scope is the scope a request to the Pinning Service API needs: reading
// needs read, anything else pin. The spec has no unauthenticated route.
func Scope(r *http.Request) auth.Scope {
	switch r.Method {
	case http.MethodOptions:
		if r.Header.Get("Access-Control-Request-Method") != "" {
			return auth.ScopeNone
		}
		return auth.ScopeRead
	case http.MethodGet, http.MethodHead:
		return auth.ScopeRead
	}
	return auth.ScopePin
}

// WriteError answers an authentication failure as the spec's Failure
// (UNAUTHORIZED, FORBIDDEN, TOO_MANY_REQUESTS).
func WriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	reason := strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	json.NewEncoder(w).Encode(wireFailure{Error: wireFailureError{Reason: reason, Details: msg}})
}

// OwnerOf is the Deps.Owner of an authenticated port: the principal's user.
func OwnerOf(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return p.User
}
