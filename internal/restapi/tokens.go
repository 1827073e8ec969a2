package restapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
)

// Tokens is the token service (*auth.Tokens).
type Tokens interface {
	Issue(ctx context.Context, user string, scope auth.Scope, ttl time.Duration, name string) (auth.TokenInfo, string, error)
	List(ctx context.Context, fn func(auth.TokenInfo) error) error
	Revoke(ctx context.Context, id string) (auth.TokenInfo, error)
}

// wireToken is IPFS Cluster's {"token"} answer, with what flotilla adds:
// the token's ID (to revoke it), scope and expiry.
type wireToken struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Scope   string    `json:"scope"`
	Expires time.Time `json:"expires"`
}

// caller is the request's principal, or 401 when the port runs without
// authentication (tokens would be checked by no one).
func (s *server) caller(r *http.Request) (auth.Principal, error) {
	p, ok := auth.FromContext(r.Context())
	if !ok || s.Tokens == nil {
		return auth.Principal{}, errorf(http.StatusUnauthorized, "unauthorized: authentication is off on this API, tokens would not be checked")
	}
	return p, nil
}

// token issues a token for the caller: POST /token[?scope=][&expires-in=][&name=].
// The scope defaults to, and may not exceed, the caller's. Only a password
// issues tokens: a token that could mint tokens would never expire.
func (s *server) token(w http.ResponseWriter, r *http.Request) error {
	p, err := s.caller(r)
	if err != nil {
		return err
	}
	if p.TokenID != "" {
		return errorf(http.StatusForbidden, "forbidden: tokens are issued against a password, not another token")
	}
	q := r.URL.Query()
	scope := p.Scope
	if v := q.Get("scope"); v != "" {
		if scope, err = auth.ParseScope(v); err != nil {
			return errorf(http.StatusBadRequest, "%v", err)
		}
		if scope > p.Scope {
			return errorf(http.StatusForbidden, "forbidden: %s may not issue a token with scope %s (has %s)", p.User, scope, p.Scope)
		}
	}
	var ttl time.Duration
	if v := q.Get("expires-in"); v != "" {
		if ttl, err = time.ParseDuration(v); err != nil || ttl <= 0 {
			return errorf(http.StatusBadRequest, "expires-in %q: want a positive duration such as 720h", v)
		}
	}
	info, tok, err := s.Tokens.Issue(r.Context(), p.User, scope, ttl, q.Get("name"))
	if errors.Is(err, auth.ErrInvalid) {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err != nil {
		return err
	}
	return reply(w, wireToken{Token: tok, ID: info.ID, User: info.User, Scope: info.Scope.String(), Expires: info.Expires})
}

// tokens streams the tokens the caller may see: all for an admin, their
// own for anyone else.
func (s *server) tokens(w http.ResponseWriter, r *http.Request) error {
	p, err := s.caller(r)
	if err != nil {
		return err
	}
	st := newStreamer(w)
	err = s.Tokens.List(r.Context(), func(info auth.TokenInfo) error {
		if p.Scope < auth.ScopeAdmin && info.User != p.User {
			return nil
		}
		return st.send(info)
	})
	st.end(s, err)
	return nil
}

// revokeToken revokes a token cluster-wide: any of an admin, one's own
// otherwise.
func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	p, err := s.caller(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if p.Scope < auth.ScopeAdmin {
		// Look before revoking: a user may revoke only their own.
		found := false
		if err := s.Tokens.List(r.Context(), func(info auth.TokenInfo) error {
			found = found || info.ID == id && info.User == p.User
			return nil
		}); err != nil {
			return err
		}
		if !found {
			return errorf(http.StatusNotFound, "no token %q of %s", id, p.User)
		}
	}
	info, err := s.Tokens.Revoke(r.Context(), id)
	if errors.Is(err, auth.ErrTokenNotFound) {
		return errorf(http.StatusNotFound, "%v", err)
	}
	if err != nil {
		return err
	}
	return reply(w, info)
}
