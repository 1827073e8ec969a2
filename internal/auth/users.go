// Package auth guards every admin port (the IPFS Cluster REST API, the
// Pinning Service API, the Kubo RPC API) with the same rules: Basic
// credentials checked against stored password hashes, and bearer tokens
// signed with a key derived from the cluster secret, scoped, expiring and
// revocable cluster-wide. Failed attempts are rate limited per client
// address; every request is logged with who made it and how it ended.
//
// Unlike IPFS Cluster, no password is ever stored or configured in clear,
// and a token is not a credential derived from a password: revoking one
// token, or changing a password, leaves everything else intact.
package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"golang.org/x/crypto/bcrypt"

	"github.com/flotilla-ipfs/flotilla/internal/atomicfile"
)

// Scope is what a credential may do. Each scope includes the ones below it.
type Scope int

// Scopes, weakest first.
const (
	ScopeNone  Scope = iota
	ScopeRead        // look: lists, status, content
	ScopePin         // change the pinset: pin, unpin, add
	ScopeAdmin       // run the cluster: peers, GC, tokens, configuration
)

var scopeNames = []string{"", "read", "pin", "admin"}

func (s Scope) String() string {
	if s < 0 || int(s) >= len(scopeNames) {
		return fmt.Sprintf("scope(%d)", int(s))
	}
	return scopeNames[s]
}

// ParseScope reads "read", "pin" or "admin".
func ParseScope(s string) (Scope, error) {
	if i := slices.Index(scopeNames, s); i > 0 {
		return Scope(i), nil
	}
	return ScopeNone, fmt.Errorf("unknown scope %q (want read, pin or admin)", s)
}

// MarshalText writes the scope's name.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a scope's name.
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := ParseScope(string(b))
	*s = v
	return err
}

// User is one entry of a users file.
type User struct {
	Name string `json:"name"`
	// PasswordHash is a bcrypt hash (`flotilla auth hash` makes one).
	PasswordHash string `json:"password_hash"`
	Scope        Scope  `json:"scope"`
}

// UsersFile is the format of --api-auth-file.
type UsersFile struct {
	Users []User `json:"users"`
}

// HashCost is the bcrypt cost of the hashes flotilla makes: about a
// quarter of a second here, which the verification cache pays once per
// credential instead of once per request.
const HashCost = 12

// HashPassword returns the bcrypt hash to store for password.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), HashCost)
	return string(h), err
}

// LoadUsers reads and checks a users file.
func LoadUsers(path string) ([]User, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f UsersFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		switch {
		case u.Name == "":
			return nil, fmt.Errorf("%s: user %d has no name", path, i)
		case seen[u.Name]:
			return nil, fmt.Errorf("%s: user %q appears twice", path, u.Name)
		case u.Scope == ScopeNone:
			return nil, fmt.Errorf("%s: user %q has no scope", path, u.Name)
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return nil, fmt.Errorf("%s: user %q: password_hash is not a bcrypt hash (make one with `flotilla auth hash`): %w", path, u.Name, err)
		}
		seen[u.Name] = true
	}
	return f.Users, nil
}

// Bootstrap makes sure an admin credential exists at path: when the file is
// missing, it creates one with an "admin" user and a random password, and
// returns that password, which is stored nowhere (only its hash is). With
// the file present it returns "".
func Bootstrap(path string) (password string, err error) {
	if _, err := os.Stat(path); err == nil {
		return "", nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	secret := make([]byte, 24)
	rand.Read(secret)
	password = base64.RawURLEncoding.EncodeToString(secret)
	hash, err := HashPassword(password)
	if err != nil {
		return "", err
	}
	raw, err := json.MarshalIndent(UsersFile{Users: []User{{Name: "admin", PasswordHash: hash, Scope: ScopeAdmin}}}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
		return "", err
	}
	return password, nil
}
