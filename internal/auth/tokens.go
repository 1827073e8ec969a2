package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Records is where tokens are kept: the cluster's replicated records, so
// that a token issued or revoked through one peer holds on every peer.
type Records interface {
	PutRecord(ctx context.Context, key string, value []byte) error
	// Record reads as of every acknowledged write (asks the leader).
	Record(ctx context.Context, key string) ([]byte, bool, error)
	// LocalRecord reads what this peer has applied, without a round trip.
	LocalRecord(key string) ([]byte, bool, error)
	Records(ctx context.Context, prefix, after string, fn func(key string, value []byte) error) error
}

// TokenInfo is what the cluster keeps of an issued token (never the token
// itself: it cannot be rebuilt from this).
type TokenInfo struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Scope   Scope     `json:"scope"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked,omitempty"`
}

// Token lifetimes.
const (
	DefaultTokenTTL = 30 * 24 * time.Hour
	MaxTokenTTL     = 365 * 24 * time.Hour
)

const (
	tokenPrefix = "auth/token/"
	issuer      = "flotilla"
)

// ErrTokenNotFound is returned by Revoke for an unknown token ID.
var ErrTokenNotFound = errors.New("no such token")

// TokenKey derives the token signing key from the cluster secret: every
// peer holds the secret, so every peer verifies every token, and nothing a
// user chose (a password) signs anything.
func TokenKey(clusterSecret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, clusterSecret, []byte("flotilla api tokens"), "hs256 v1", 32)
}

// Tokens issues, checks, lists and revokes bearer tokens: JWTs (HS256)
// whose ID must be known to the cluster and not revoked.
type Tokens struct {
	key     []byte
	records Records
	now     func() time.Time
}

// NewTokens returns the token service signing with key.
func NewTokens(key []byte, records Records) *Tokens {
	return &Tokens{key: key, records: records, now: time.Now}
}

type claims struct {
	jwt.RegisteredClaims
	Scope Scope `json:"scope"`
}

// Issue creates a token for user with scope, valid for ttl (0: the
// default), and records it cluster-wide before returning it.
func (t *Tokens) Issue(ctx context.Context, user string, scope Scope, ttl time.Duration, name string) (TokenInfo, string, error) {
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < 0 || ttl > MaxTokenTTL {
		return TokenInfo{}, "", fmt.Errorf("%w: token lifetime must be between 0 and %s", ErrInvalid, MaxTokenTTL)
	}
	if scope == ScopeNone {
		return TokenInfo{}, "", fmt.Errorf("%w: a token needs a scope", ErrInvalid)
	}
	id := make([]byte, 16)
	rand.Read(id)
	now := t.now().UTC().Truncate(time.Second)
	info := TokenInfo{ID: base64.RawURLEncoding.EncodeToString(id), User: user, Scope: scope, Name: name, Created: now, Expires: now.Add(ttl)}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		RegisteredClaims: jwt.RegisteredClaims{
			ID: info.ID, Issuer: issuer, Subject: user,
			IssuedAt: jwt.NewNumericDate(info.Created), ExpiresAt: jwt.NewNumericDate(info.Expires),
		},
		Scope: scope,
	}).SignedString(t.key)
	if err != nil {
		return TokenInfo{}, "", err
	}
	raw, _ := json.Marshal(info)
	if err := t.records.PutRecord(ctx, tokenPrefix+info.ID, raw); err != nil {
		return TokenInfo{}, "", fmt.Errorf("record token: %w", err)
	}
	return info, signed, nil
}

// Verify checks a token's signature, expiry and standing, and returns the
// principal it stands for.
func (t *Tokens) Verify(ctx context.Context, token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(t.now))
	if err != nil {
		return Principal{}, fmt.Errorf("invalid token: %w", err)
	}
	info, err := t.lookup(ctx, c.ID)
	if err != nil {
		return Principal{}, err
	}
	if info.Revoked {
		return Principal{}, errors.New("invalid token: revoked")
	}
	// The record, not the claims, is authoritative: both were written
	// together, and only the record can change.
	return Principal{User: info.User, Scope: info.Scope, TokenID: info.ID}, nil
}

// lookup finds a token's record: locally first (the common case costs one
// local read), then through the leader, for a token issued a moment ago
// through another peer that this one has not applied yet.
func (t *Tokens) lookup(ctx context.Context, id string) (TokenInfo, error) {
	raw, ok, err := t.records.LocalRecord(tokenPrefix + id)
	if err == nil && !ok {
		raw, ok, err = t.records.Record(ctx, tokenPrefix+id)
	}
	if err != nil {
		return TokenInfo{}, fmt.Errorf("check token: %w", err)
	}
	if !ok {
		return TokenInfo{}, errors.New("invalid token: unknown to the cluster")
	}
	var info TokenInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return TokenInfo{}, fmt.Errorf("check token: %w", err)
	}
	return info, nil
}

// List streams the recorded tokens, expired ones included until they are
// pruned, in ID order.
func (t *Tokens) List(ctx context.Context, fn func(TokenInfo) error) error {
	return t.records.Records(ctx, tokenPrefix, "", func(_ string, raw []byte) error {
		var info TokenInfo
		if err := json.Unmarshal(raw, &info); err != nil {
			return err
		}
		return fn(info)
	})
}

// Revoke marks a token revoked cluster-wide. The record stays, so that
// listings show what was revoked, until the token would have expired.
func (t *Tokens) Revoke(ctx context.Context, id string) (TokenInfo, error) {
	if id == "" || strings.Contains(id, "/") {
		return TokenInfo{}, fmt.Errorf("%w: %q", ErrTokenNotFound, id)
	}
	raw, ok, err := t.records.Record(ctx, tokenPrefix+id)
	if err != nil {
		return TokenInfo{}, err
	}
	if !ok {
		return TokenInfo{}, fmt.Errorf("%w: %q", ErrTokenNotFound, id)
	}
	var info TokenInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return TokenInfo{}, err
	}
	info.Revoked = true
	raw, _ = json.Marshal(info)
	return info, t.records.PutRecord(ctx, tokenPrefix+id, raw)
}
