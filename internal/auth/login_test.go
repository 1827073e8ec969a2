package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// Logins from a form are held to the same rules as Basic credentials:
// the same check, the same limit of failed attempts per client; a token
// checked for a session is refused once revoked or once its user is gone.
func TestLoginAndVerifyToken(t *testing.T) {
	tokens := NewTokens([]byte(strings.Repeat("k", 32)), &memRecords{m: map[string][]byte{}})
	g, err := NewGuard(Config{Tokens: tokens, Users: []User{
		{Name: "zoe", PasswordHash: quickHash(t, "pw-z"), Scope: ScopeRead},
		{Name: "ada", PasswordHash: quickHash(t, "pw-a"), Scope: ScopeAdmin},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/ui/login", nil)
	r.RemoteAddr = "192.0.2.7:1234"
	if p, err := g.Login(r, "ada", "pw-a"); err != nil || p.User != "ada" || p.Scope != ScopeAdmin {
		t.Fatalf("Login(ada) = %+v, %v; want ada with scope admin", p, err)
	}
	for range failBurst {
		if _, err := g.Login(r, "ada", "wrong"); err == nil || errors.Is(err, ErrRateLimited) {
			t.Fatalf("Login with a wrong password = %v, want a refusal, not yet a limit", err)
		}
	}
	if _, err := g.Login(r, "ada", "pw-a"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("Login after %d failures = %v, want ErrRateLimited even with the right password", failBurst, err)
	}
	other := httptest.NewRequest("POST", "/ui/login", nil)
	other.RemoteAddr = "192.0.2.8:1234"
	if _, err := g.Login(other, "ada", "pw-a"); err != nil {
		t.Errorf("Login from another client = %v, want it let in", err)
	}

	ctx := context.Background()
	info, tok, err := tokens.Issue(ctx, "ada", ScopeAdmin, 0, "console session")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := g.VerifyToken(ctx, tok); err != nil || p.TokenID != info.ID {
		t.Errorf("VerifyToken = %+v, %v; want the token's principal", p, err)
	}
	if _, err := g.VerifyToken(ctx, "not-a-token"); err == nil {
		t.Error("VerifyToken accepted garbage")
	}
	tokens.Revoke(ctx, info.ID)
	if _, err := g.VerifyToken(ctx, tok); err == nil {
		t.Error("VerifyToken accepted a revoked token")
	}
	users := g.Users()
	if len(users) != 2 || users[0].Name != "ada" || users[1].Name != "zoe" || users[1].Scope != ScopeRead {
		t.Errorf("Users() = %+v, want ada (admin), zoe (read) by name", users)
	}
}
