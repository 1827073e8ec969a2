// Package repo owns a peer's data directory: its exclusive lock, its identity
// and the record of the addresses the daemon listens on.
//
// Layout of a data directory:
//
//	repo.lock     flock held by the process using the directory
//	identity.key  ed25519 private key (libp2p protobuf encoding), mode 0600
//	blocks/       block datastore (flatfs)
//	meta/         pins and other metadata (pebble)
//	listen.json   addresses the running daemon bound, for the CLI and tests
//	config.json   optional settings file (see package config)
package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	lock "github.com/ipfs/go-fs-lock"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/flotilla-ipfs/flotilla/internal/atomicfile"
)

const (
	lockFile     = "repo.lock"
	identityFile = "identity.key"
	listenFile   = "listen.json"
)

// ErrLocked means another live process holds the data directory.
var ErrLocked = errors.New("data directory is in use by another process")

// Repo is an opened, locked data directory.
type Repo struct {
	Path     string
	Identity crypto.PrivKey // non-nil
	ID       peer.ID
	lock     io.Closer
}

// Open locks the data directory at path, creating it and a fresh identity on
// first use. The lock is an flock: the kernel drops it when its process dies,
// so a kill -9 never leaves a stale lock behind.
func Open(path string) (*Repo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	l, err := lock.Lock(abs, lockFile)
	if err != nil {
		var locked lock.LockedError
		if errors.As(err, &locked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, abs)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	key, err := loadOrCreateIdentity(filepath.Join(abs, identityFile))
	if err != nil {
		l.Close()
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		l.Close()
		return nil, err
	}
	return &Repo{Path: abs, Identity: key, ID: id, lock: l}, nil
}

// Locked reports whether a live process holds the data directory at path.
func Locked(path string) (bool, error) {
	if _, err := os.Stat(filepath.Join(path, lockFile)); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return lock.Locked(path, lockFile)
}

// Close removes the listen record and releases the lock.
func (r *Repo) Close() error {
	os.Remove(filepath.Join(r.Path, listenFile))
	return r.lock.Close()
}

// Dir returns the path of a subdirectory of the data directory.
func (r *Repo) Dir(name string) string { return filepath.Join(r.Path, name) }

func loadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		key, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("read identity %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	raw, err = crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, raw, 0o600); err != nil {
		return nil, fmt.Errorf("write identity: %w", err)
	}
	return key, nil
}

// Listen records where a running daemon can be reached. Empty fields are
// services that do not listen.
type Listen struct {
	PID     int      `json:"pid"`
	PeerID  string   `json:"peer_id"`
	Swarm   []string `json:"swarm,omitempty"`
	Gateway string   `json:"gateway,omitempty"`
	RPC     string   `json:"rpc,omitempty"`
	API     string   `json:"api,omitempty"`
	PinSvc  string   `json:"pinsvc,omitempty"`
	Ops     string   `json:"ops,omitempty"`
	// Registry is the OCI registry's address.
	Registry string `json:"registry,omitempty"`
	Cluster  string `json:"cluster,omitempty"`
	// TLS is set when the admin ports (api, pinsvc, rpc) serve HTTPS.
	TLS bool `json:"tls,omitempty"`
}

// WriteListen records the bound addresses in listen.json.
func (r *Repo) WriteListen(l Listen) error {
	raw, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(r.Path, listenFile), append(raw, '\n'), 0o644)
}

// ReadListen reads the listen record of the data directory at path.
func ReadListen(path string) (Listen, error) {
	var l Listen
	raw, err := os.ReadFile(filepath.Join(path, listenFile))
	if err != nil {
		return l, err
	}
	return l, json.Unmarshal(raw, &l)
}
