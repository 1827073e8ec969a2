package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// What a front end that keeps its own sessions (the web console) needs of
// the guard: the same password check, rate limit and token rules as the
// admin ports, called with credentials that did not come in an
// Authorization header.

// ErrRateLimited is returned by Login while the client is held back after
// too many failed attempts.
var ErrRateLimited = errors.New("too many failed authentication attempts")

// Login checks a user's password as Basic credentials are checked, under
// the same per-client limit of failed attempts (the client as the guard
// sees it: r's address, or the last untrusted X-Forwarded-For hop).
func (g *Guard) Login(r *http.Request, user, password string) (Principal, error) {
	client := g.clientAddr(r)
	if g.failures.wait(client, g.now()) > 0 {
		return Principal{}, ErrRateLimited
	}
	u, err := g.checkPassword(user, password)
	if err != nil {
		g.failures.fail(client, g.now())
		return Principal{}, err
	}
	return Principal{User: u.Name, Scope: u.Scope}, nil
}

// VerifyToken checks a token as a bearer token is checked: known to the
// cluster, not revoked, not expired, its user still there, its scope no
// more than the user's.
func (g *Guard) VerifyToken(ctx context.Context, token string) (Principal, error) {
	if g.cfg.Tokens == nil {
		return Principal{}, errors.New("tokens are not accepted here")
	}
	if !looksLikeToken(token) {
		return Principal{}, errors.New("invalid token")
	}
	return g.token(ctx, token)
}

// UserInfo is what may be shown of a user: never the hash.
type UserInfo struct {
	Name  string
	Scope Scope
}

// Users lists the users of the users file, by name.
func (g *Guard) Users() []UserInfo {
	out := make([]UserInfo, 0, len(g.users))
	for _, u := range g.users {
		out = append(out, UserInfo{Name: u.Name, Scope: u.Scope})
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Audit logs one request in the audit log, for a front end that
// authenticates its requests itself (the guard logged them as anonymous).
func (g *Guard) Audit(api string, p Principal, r *http.Request, status int, took time.Duration) {
	who := p.User
	if p.TokenID != "" {
		who += " (token " + p.TokenID + ")"
	}
	g.audit(api, who, r, g.clientAddr(r), status, took)
}
