package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// IssuedToken is POST /token's answer: IPFS Cluster's {"token"} and what
// flotilla adds.
type IssuedToken struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Scope   string    `json:"scope"`
	Expires time.Time `json:"expires"`
}

// TokenInfo is a recorded token, as GET /tokens lists it.
type TokenInfo struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Scope   string    `json:"scope"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked,omitempty"`
}

// IssueToken asks for a token for the authenticated user; empty scope and
// zero lifetime take the server's defaults.
func (c *Client) IssueToken(ctx context.Context, scope string, expiresIn time.Duration, name string) (IssuedToken, error) {
	q := url.Values{}
	if scope != "" {
		q.Set("scope", scope)
	}
	if expiresIn > 0 {
		q.Set("expires-in", expiresIn.String())
	}
	if name != "" {
		q.Set("name", name)
	}
	var t IssuedToken
	return t, c.single(ctx, http.MethodPost, "/token", q, &t)
}

// Tokens streams the tokens the user may see.
func (c *Client) Tokens(ctx context.Context, fn func(TokenInfo) error) error {
	return stream(ctx, c, http.MethodGet, "/tokens", nil, nil, "", fn)
}

// RevokeToken revokes a token cluster-wide.
func (c *Client) RevokeToken(ctx context.Context, id string) (TokenInfo, error) {
	var t TokenInfo
	return t, c.single(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(id), nil, &t)
}
