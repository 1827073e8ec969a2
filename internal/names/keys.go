// Package names keeps IPNS keys and the names they sign in the cluster's
// replicated state, so that any peer can publish a name and the leader
// keeps every name alive for as long as one peer lives.
//
// Two kinds of records hold them:
//
//	ipnskey/<key name>          a private key, sealed (see sealer)
//	ipns/<name>/<seq, 20 digits> a published name: its signed IPNS record
//	                             and what renewing it takes
//
// A publish writes the entry of its sequence number, then drops the older
// ones. Readers take the highest entry. So a republish, which rewrites the
// entry of the sequence it renewed, can never hide a newer publish made at
// the same time through another peer: that one has its own key.
package names

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

var (
	// ErrInvalid marks a request that can never succeed as given.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound marks a key or name that is not there.
	ErrNotFound = errors.New("not found")
	// ErrExists marks a key name already taken.
	ErrExists = errors.New("already exists")
)

// failf returns an error of kind whose message is only the text given: the
// message Kubo's clients print, word for word.
func failf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Self is the name of the peer's own identity, which every key list shows
// first, as Kubo's does. It is not a cluster key: it dies with its peer.
const Self = "self"

const keyPrefix = "ipnskey/"

// Key is a named key pair; ID is the peer ID of its public half, which is
// also the IPNS name it signs.
type Key struct {
	Name string
	ID   peer.ID
}

// storedKey is the record of a key. The ID is kept in clear so that
// listing keys needs no decryption; the private key is sealed.
type storedKey struct {
	ID     string `json:"id"`
	Sealed []byte `json:"sealed"`
}

// sealer encrypts private keys with AES-256-GCM under a key derived from
// the cluster secret, so that they are never in clear on disk, in the raft
// log or in snapshots, and only holders of the secret (the peers) can use
// them. The record's key is the associated data: a sealed key copied under
// another name does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(clusterSecret []byte) (sealer, error) {
	if len(clusterSecret) < 16 {
		return sealer{}, fmt.Errorf("names: the cluster secret is missing or short")
	}
	k, err := hkdf.Key(sha256.New, clusterSecret, []byte("flotilla ipns keys"), "aes-256-gcm v1", 32)
	if err != nil {
		return sealer{}, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return sealer{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, err
	}
	return sealer{aead}, nil
}

func (s sealer) seal(recordKey string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(recordKey))
}

func (s sealer) open(recordKey string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], []byte(recordKey))
}

// checkKeyName accepts what Kubo's keystore accepts (no '/', no leading
// dot, not empty), and refuses what would make a listing ambiguous or
// unprintable.
func checkKeyName(name string) error {
	switch {
	case name == "":
		return failf(ErrInvalid, "key name must not be empty")
	case len(name) > 255:
		return failf(ErrInvalid, "key name over 255 bytes")
	case strings.Contains(name, "/"):
		return failf(ErrInvalid, "key names may not contain slashes")
	case strings.HasPrefix(name, "."):
		return failf(ErrInvalid, "key names may not begin with a period")
	case !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		return failf(ErrInvalid, "key names may not contain spaces or control characters")
	}
	return nil
}

// Generate creates a key pair named name: typ is ed25519 (the default),
// rsa (size bits, 2048 by default) or secp256k1, as in Kubo.
func (s *Service) Generate(ctx context.Context, name, typ string, size int) (Key, error) {
	if name == Self {
		return Key{}, failf(ErrInvalid, "cannot create key with name 'self'")
	}
	var t int
	switch typ {
	case "", "ed25519":
		t, size = crypto.Ed25519, -1
	case "rsa":
		t = crypto.RSA
		if size <= 0 {
			size = 2048
		}
	case "secp256k1":
		t, size = crypto.Secp256k1, -1
	default:
		return Key{}, failf(ErrInvalid, "unrecognized key type: %s", typ)
	}
	sk, _, err := crypto.GenerateKeyPair(t, size)
	if err != nil {
		return Key{}, failf(ErrInvalid, "%v", err)
	}
	return s.store(ctx, name, sk, false)
}

// Import stores sk under name. Only the key types Kubo generates are
// accepted.
func (s *Service) Import(ctx context.Context, name string, sk crypto.PrivKey) (Key, error) {
	if name == Self {
		return Key{}, failf(ErrInvalid, "cannot import key with name 'self'")
	}
	switch sk.Type() {
	case crypto.Ed25519, crypto.RSA, crypto.Secp256k1:
	default:
		return Key{}, failf(ErrInvalid, "key type %s is not allowed to be imported, only RSA, Ed25519, or Secp256k1", sk.Type())
	}
	return s.store(ctx, name, sk, false)
}

// store seals sk under name; overwrite allows replacing another key.
func (s *Service) store(ctx context.Context, name string, sk crypto.PrivKey, overwrite bool) (Key, error) {
	if err := checkKeyName(name); err != nil {
		return Key{}, err
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return Key{}, failf(ErrInvalid, "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !overwrite {
		if _, ok, err := s.storedKey(ctx, name); err != nil {
			return Key{}, err
		} else if ok {
			return Key{}, failf(ErrExists, "key with name '%s' already exists", name)
		}
	}
	raw, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return Key{}, err
	}
	val, err := json.Marshal(storedKey{ID: id.String(), Sealed: s.sealer.seal(keyPrefix+name, raw)})
	if err != nil {
		return Key{}, err
	}
	if err := s.cfg.Records.PutRecord(ctx, keyPrefix+name, val); err != nil {
		return Key{}, err
	}
	return Key{Name: name, ID: id}, nil
}

// storedKey reads the record of the key name, as of every acknowledged
// write.
func (s *Service) storedKey(ctx context.Context, name string) (storedKey, bool, error) {
	var k storedKey
	v, ok, err := s.cfg.Records.Record(ctx, keyPrefix+name)
	if err != nil || !ok {
		return k, ok, err
	}
	return k, true, json.Unmarshal(v, &k)
}

// List returns self, then the cluster's keys in name order, as Kubo does.
func (s *Service) List(ctx context.Context) ([]Key, error) {
	self, err := peer.IDFromPrivateKey(s.cfg.Self)
	if err != nil {
		return nil, err
	}
	keys := []Key{{Name: Self, ID: self}}
	err = s.cfg.Records.Records(ctx, keyPrefix, "", func(key string, v []byte) error {
		var k storedKey
		if err := json.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("key record %s: %w", key, err)
		}
		id, err := peer.Decode(k.ID)
		if err != nil {
			return fmt.Errorf("key record %s: %w", key, err)
		}
		keys = append(keys, Key{Name: strings.TrimPrefix(key, keyPrefix), ID: id})
		return nil
	})
	return keys, err
}

// Export returns the private key name. Self is not exported: it is the
// peer's identity, not the cluster's.
func (s *Service) Export(ctx context.Context, name string) (crypto.PrivKey, error) {
	if name == Self {
		return nil, failf(ErrInvalid, "cannot export key with name 'self'")
	}
	return s.privateKey(ctx, name)
}

func (s *Service) privateKey(ctx context.Context, name string) (crypto.PrivKey, error) {
	k, ok, err := s.storedKey(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, failf(ErrNotFound, "key with name '%s' doesn't exist", name)
	}
	return s.unseal(name, k)
}

func (s *Service) unseal(name string, k storedKey) (crypto.PrivKey, error) {
	raw, err := s.sealer.open(keyPrefix+name, k.Sealed)
	if err != nil {
		// Another cluster secret sealed it, or the record was tampered
		// with: either way nothing here can sign with it.
		return nil, fmt.Errorf("key %q cannot be opened with this cluster's secret: %w", name, err)
	}
	sk, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	return sk, nil
}

// Remove deletes the key name. Its names stay resolvable until their
// records expire, and are no longer renewed.
func (s *Service) Remove(ctx context.Context, name string) (Key, error) {
	if name == Self {
		return Key{}, failf(ErrInvalid, "cannot remove key with name 'self'")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok, err := s.storedKey(ctx, name)
	if err != nil {
		return Key{}, err
	}
	if !ok {
		return Key{}, failf(ErrNotFound, "no key named %s was found", name)
	}
	id, err := peer.Decode(k.ID)
	if err != nil {
		return Key{}, err
	}
	if err := s.cfg.Records.DeleteRecord(ctx, keyPrefix+name); err != nil {
		return Key{}, err
	}
	return Key{Name: name, ID: id}, nil
}

// Rename moves the key oldName to newName; force allows replacing a key
// already named newName. It reports whether one was replaced.
func (s *Service) Rename(ctx context.Context, oldName, newName string, force bool) (Key, bool, error) {
	switch {
	case oldName == Self:
		return Key{}, false, failf(ErrInvalid, "cannot rename key with name 'self'")
	case newName == Self:
		return Key{}, false, failf(ErrInvalid, "cannot overwrite key with name 'self'")
	}
	sk, err := s.privateKey(ctx, oldName)
	if errors.Is(err, ErrNotFound) {
		return Key{}, false, failf(ErrNotFound, "no key named %s was found", oldName)
	} else if err != nil {
		return Key{}, false, err
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return Key{}, false, err
	}
	if oldName == newName {
		return Key{Name: newName, ID: id}, false, nil
	}
	_, exists, err := s.storedKey(ctx, newName)
	if err != nil {
		return Key{}, false, err
	}
	if exists && !force {
		return Key{}, false, failf(ErrExists, "key by that name already exists, refusing to overwrite")
	}
	// Written under the new name before the old one goes: a failure in
	// between leaves the key twice, never nowhere.
	if _, err := s.store(ctx, newName, sk, true); err != nil {
		return Key{}, false, err
	}
	if err := s.cfg.Records.DeleteRecord(ctx, keyPrefix+oldName); err != nil {
		return Key{}, false, err
	}
	return Key{Name: newName, ID: id}, exists, nil
}

// signer finds the private key of ref: a key name, or the peer ID (in any
// encoding key list shows) of one of the cluster's keys.
func (s *Service) signer(ctx context.Context, ref string) (string, crypto.PrivKey, error) {
	if ref == Self {
		return "", nil, failf(ErrInvalid, "key 'self' is this peer's own identity, which would stop being republished with the peer: publish with a cluster key (flotilla key gen NAME)")
	}
	if sk, err := s.privateKey(ctx, ref); err == nil || !errors.Is(err, ErrNotFound) {
		return ref, sk, err
	}
	id, err := peer.Decode(ref)
	if err != nil {
		return "", nil, failf(ErrNotFound, "no key named %s was found", ref)
	}
	keys, err := s.List(ctx)
	if err != nil {
		return "", nil, err
	}
	i := slices.IndexFunc(keys[1:], func(k Key) bool { return k.ID == id })
	if i < 0 {
		return "", nil, failf(ErrNotFound, "no key with ID %s was found", ref)
	}
	sk, err := s.privateKey(ctx, keys[i+1].Name)
	return keys[i+1].Name, sk, err
}
