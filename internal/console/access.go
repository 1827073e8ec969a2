package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
)

type tokenView struct {
	auth.TokenInfo
	State   string // active, expired, revoked
	Session bool   // the viewer's own session
}

type accessData struct {
	Open     bool
	Users    []auth.UserInfo
	Tokens   []tokenView
	Scopes   []string
	NewToken string // shown once, right after it is created
	NewID    string
	Error    string
	// Audit is this peer's audit log, newest first (admins only; nil
	// for the others).
	Audit     []auth.AuditRecord
	ShowAudit bool
}

// access shows the users (read-only: they live in the users file) and
// the tokens the viewer may see: all for an admin, their own otherwise.
func (s *server) access(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.accessData(r, v)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "access", v, d)
	return nil
}

func (s *server) accessData(r *http.Request, v *viewer) (accessData, error) {
	d := accessData{Open: v.Open}
	if v.CanAdmin() {
		d.ShowAudit, d.Audit = true, s.Auth.AuditLog()
	}
	if v.Open {
		return d, nil
	}
	for _, sc := range []auth.Scope{auth.ScopeRead, auth.ScopePin, auth.ScopeAdmin} {
		if sc <= v.Principal.Scope {
			d.Scopes = append(d.Scopes, sc.String())
		}
	}
	if v.CanAdmin() {
		d.Users = s.Auth.Users()
	}
	now := s.now()
	err := s.Tokens.List(r.Context(), func(info auth.TokenInfo) error {
		if !v.CanAdmin() && info.User != v.Principal.User {
			return nil
		}
		tv := tokenView{TokenInfo: info, State: "active", Session: info.ID == v.Principal.TokenID}
		switch {
		case info.Revoked:
			tv.State = "revoked"
		case !now.Before(info.Expires):
			tv.State = "expired"
		}
		d.Tokens = append(d.Tokens, tv)
		return nil
	})
	// Newest first.
	slices.SortFunc(d.Tokens, func(a, b tokenView) int { return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.ID, b.ID)) })
	return d, err
}

// tokenNew issues a token. As on the API, a token is issued against a
// password, never another token: the session is one, so the form asks for
// the password again.
func (s *server) tokenNew(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if v.Open {
		return errorf(http.StatusBadRequest, "authentication is off on this peer: tokens would not be checked")
	}
	d, err := s.accessData(r, v)
	if err != nil {
		return err
	}
	fail := func(code int, msg string) error {
		d.Error = msg
		s.render(w, code, "access", v, d)
		return nil
	}
	if _, err := s.Auth.Login(r, v.Principal.User, r.PostFormValue("password")); err != nil {
		if errors.Is(err, auth.ErrRateLimited) {
			return fail(http.StatusTooManyRequests, "Too many failed attempts; wait a few seconds.")
		}
		return fail(http.StatusUnauthorized, "Wrong password: a token is issued against your password.")
	}
	scope, err := auth.ParseScope(r.PostFormValue("scope"))
	if err != nil {
		return fail(http.StatusBadRequest, err.Error())
	}
	if scope > v.Principal.Scope {
		return fail(http.StatusForbidden, fmt.Sprintf("%s may not issue a token with scope %s.", v.Principal.User, scope))
	}
	ttl := auth.DefaultTokenTTL
	if e := strings.TrimSpace(r.PostFormValue("expires-in")); e != "" {
		if ttl, err = time.ParseDuration(e); err != nil || ttl <= 0 {
			return fail(http.StatusBadRequest, fmt.Sprintf("Expires in %q: want a positive duration such as 720h.", e))
		}
	}
	info, token, err := s.Tokens.Issue(r.Context(), v.Principal.User, scope, ttl, strings.TrimSpace(r.PostFormValue("name")))
	if errors.Is(err, auth.ErrInvalid) {
		return fail(http.StatusBadRequest, err.Error())
	}
	if err != nil {
		return err
	}
	// Shown on this answer only, never in a URL: the page says to copy
	// it now.
	if d, err = s.accessData(r, v); err != nil {
		return err
	}
	d.NewToken, d.NewID = token, info.ID
	s.render(w, http.StatusOK, "access", v, d)
	return nil
}

// tokenRevoke revokes a token after confirmation: any of an admin's, one's
// own otherwise.
func (s *server) tokenRevoke(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	d, err := s.accessData(r, v)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.Tokens, func(t tokenView) bool { return t.ID == id })
	if i < 0 {
		return errorf(http.StatusNotFound, "no token %q you may revoke", id)
	}
	t := d.Tokens[i]
	if r.PostFormValue("confirmed") != "yes" {
		q := fmt.Sprintf("Revoke the token %q of %s (scope %s, expires %s)? Every client using it is refused from now on.",
			cmp.Or(t.Name, t.ID), t.User, t.Scope, t.Expires.UTC().Format("2006-01-02 15:04 UTC"))
		if t.Session {
			q += " It is this session's: you will be logged out."
		}
		s.render(w, http.StatusOK, "confirm", v, confirmData{Title: "Revoke token", Question: q, Danger: true,
			Action: "/ui/access/tokens/" + id, Back: "/ui/access"})
		return nil
	}
	if _, err := s.Tokens.Revoke(r.Context(), id); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/access", http.StatusSeeOther)
	return nil
}
