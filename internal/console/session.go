package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
)

// Cookies. The session cookie holds a token of the API (a JWT), the
// browser cookie a random value the CSRF tokens are bound to. Both are
// HttpOnly (no script reads them), SameSite=Strict (no other site's page
// sends them) and Secure under TLS, and scoped to the console's path.
const (
	sessionCookie = "flotilla_session"
	browserCookie = "flotilla_browser"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
	sessionName   = "console session"
)

// viewer is who looks at a page, and what the page needs to post back.
type viewer struct {
	Principal auth.Principal
	Open      bool   // authentication is off: everyone may do everything
	CSRF      string // the token mutating requests must carry
	Nav       string // the page, for the navigation's current item
	Version   string
}

// CanPin and CanAdmin say which actions a page offers.
func (v *viewer) CanPin() bool   { return v.Open || v.Principal.Scope >= auth.ScopePin }
func (v *viewer) CanAdmin() bool { return v.Open || v.Principal.Scope >= auth.ScopeAdmin }

// User is the name shown in the header.
func (v *viewer) User() string { return v.Principal.User }

// session authenticates a page's request from its cookie, checks the
// scope it needs and, for a mutating request, its CSRF token.
func (s *server) session(p page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		browser := s.browser(w, r)
		v := &viewer{Open: !s.Auth.Enabled(), Version: s.Version}
		sessionID := ""
		if !v.Open {
			c, err := r.Cookie(sessionCookie)
			if err == nil {
				v.Principal, err = s.Auth.VerifyToken(r.Context(), c.Value)
			}
			if err != nil {
				if c != nil {
					s.clearCookie(w, r, sessionCookie)
				}
				s.toLogin(w, r)
				return
			}
			sessionID = v.Principal.TokenID
		}
		v.CSRF = s.csrfToken(browser, sessionID)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Uploads carry it in the header: their body is not a form
			// to parse.
			got := r.Header.Get(csrfHeader)
			if got == "" && !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
				got = r.PostFormValue(csrfField)
			}
			if !hmac.Equal([]byte(got), []byte(v.CSRF)) {
				s.fail(w, r, v, errorf(http.StatusForbidden, "forbidden: missing or stale CSRF token; reload the page and try again"))
				return
			}
		}
		if !v.Open && v.Principal.Scope < p.scope {
			s.fail(w, r, v, errorf(http.StatusForbidden, "forbidden: this needs scope %s, %s has %s", p.scope, v.Principal.User, v.Principal.Scope))
			return
		}
		rec := &auth.Recorder{ResponseWriter: w}
		if err := p.fn(rec, r, v); err != nil {
			s.fail(rec, r, v, err)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !v.Open {
			s.Auth.Audit("console", v.Principal, r, rec.Status(), s.now().Sub(start))
		}
	})
}

// toLogin sends a page to the login form, and a fragment or script
// request a 401 (its script then goes to the login page).
func (s *server) toLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Query().Get("part") != "" || strings.HasPrefix(r.URL.Path, "/ui/api/") {
		http.Error(w, "unauthorized: log in again", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// browser returns the browser's random value, setting the cookie when it
// has none.
func (s *server) browser(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 22 {
		return c.Value
	}
	b := make([]byte, 16)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, r, browserCookie, v, 0)
	return v
}

// csrfToken binds a token to the browser and the session: a page of one
// session cannot post in another's name, and a token leaked from one
// browser is useless in another.
func (s *server) csrfToken(browser, session string) string {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("flotilla console csrf\x00"))
	m.Write([]byte(browser))
	m.Write([]byte{0})
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

func (s *server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

type loginData struct {
	Next  string
	User  string
	Error string
}

// loginPage shows the form; an open console has none.
func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	if !s.Auth.Enabled() {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	v := &viewer{CSRF: s.csrfToken(s.browser(w, r), ""), Version: s.Version, Nav: "login"}
	s.render(w, http.StatusOK, "login", v, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

// login exchanges a password for a session: a token of the user's scope
// that expires with the session, recorded (and revocable) cluster-wide.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	if !s.Auth.Enabled() {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	browser := s.browser(w, r)
	v := &viewer{CSRF: s.csrfToken(browser, ""), Version: s.Version, Nav: "login"}
	data := loginData{Next: safeNext(r.PostFormValue("next")), User: r.PostFormValue("user")}
	if !hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(v.CSRF)) {
		data.Error = "The form was stale; try again."
		s.render(w, http.StatusForbidden, "login", v, data)
		return
	}
	p, err := s.Auth.Login(r, data.User, r.PostFormValue("password"))
	if err != nil {
		code := http.StatusUnauthorized
		data.Error = "Wrong user or password."
		if errors.Is(err, auth.ErrRateLimited) {
			code, data.Error = http.StatusTooManyRequests, "Too many failed attempts; wait a few seconds."
		}
		s.render(w, code, "login", v, data)
		return
	}
	_, token, err := s.Tokens.Issue(r.Context(), p.User, p.Scope, s.cfg.SessionTTL, sessionName)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	s.setCookie(w, r, sessionCookie, token, s.cfg.SessionTTL)
	s.Auth.Audit("console", p, r, http.StatusSeeOther, 0)
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

// logout revokes the session's token, so that a copy of the cookie is
// worth nothing either.
func (s *server) logout(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if v.Principal.TokenID != "" {
		if _, err := s.Tokens.Revoke(r.Context(), v.Principal.TokenID); err != nil {
			return err
		}
	}
	s.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}
