package names

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Records is the replicated state the keys and names live in
// (*cluster.Peer satisfies it).
type Records interface {
	PutRecord(ctx context.Context, key string, value []byte) error
	DeleteRecord(ctx context.Context, key string) error
	// Record and Records read as of every acknowledged write.
	Record(ctx context.Context, key string) ([]byte, bool, error)
	Records(ctx context.Context, prefix, after string, fn func(key string, value []byte) error) error
	// LocalRecords reads what this peer has applied, without asking the
	// leader: for resolving, which must not wait on the network.
	LocalRecords(ctx context.Context, prefix, after string, fn func(key string, value []byte) error) error
}

// Config is what a Service needs.
type Config struct {
	Records Records
	// Secret is the cluster secret the keys are sealed with.
	Secret []byte
	// Self is this peer's identity, listed as the key "self".
	Self crypto.PrivKey
	// IsLeader tells whether this peer is the one that republishes.
	IsLeader func() bool
	// Known returns the best record the node knows for an IPNS routing
	// key (its record store, filled from the network), or nil: a name
	// whose key was imported may have been published elsewhere first.
	Known func(ctx context.Context, routingKey string) []byte
	// Announce puts a record on the IPFS network (the DHT); nil offline.
	Announce func(ctx context.Context, routingKey string, record []byte) error
	// RepublishEvery bounds how long a name goes without a fresh record,
	// whatever its lifetime (default 4 h, as Kubo republishes).
	RepublishEvery time.Duration
	// Tick is how often the leader looks for names to renew (default 5 s):
	// a record whose lifetime is under four ticks may expire unrenewed.
	Tick   time.Duration
	Logger *slog.Logger
}

// Service manages the cluster's keys and names.
type Service struct {
	cfg    Config
	sealer sealer
	// mu serialises this peer's key changes and publishes, so that two
	// requests through one peer never pick the same sequence number.
	mu sync.Mutex
}

// New returns the names service of one peer.
func New(cfg Config) (*Service, error) {
	sl, err := newSealer(cfg.Secret)
	if err != nil {
		return nil, err
	}
	if cfg.RepublishEvery <= 0 {
		cfg.RepublishEvery = 4 * time.Hour
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Known == nil {
		cfg.Known = func(context.Context, string) []byte { return nil }
	}
	return &Service{cfg: cfg, sealer: sl}, nil
}

const namePrefix = "ipns/"

// entry is a published name: its current signed record and what renewing
// it takes.
type entry struct {
	Record   []byte        `json:"record"`
	Lifetime time.Duration `json:"lifetime"`
	Signed   time.Time     `json:"signed"`
	V1       bool          `json:"v1,omitempty"`
}

func entryKey(n ipns.Name, seq uint64) string {
	return fmt.Sprintf("%s%s/%020d", namePrefix, n, seq)
}

// PublishOptions are name publish's options.
type PublishOptions struct {
	Lifetime time.Duration // default ipns.DefaultRecordLifetime
	TTL      time.Duration // default min(ipns.DefaultRecordTTL, Lifetime)
	TTLSet   bool          // TTL was given (0 is a valid TTL)
	Sequence *uint64       // must be above the current one
	V1       bool          // also sign the V1 fields, as Kubo does by default
}

// Publish signs value with the key ref (a key name or a key's peer ID) and
// stores the record in the cluster: every peer resolves it at once, and
// the leader renews it until the key is removed. It is also announced to
// the DHT when online.
func (s *Service) Publish(ctx context.Context, ref string, value path.Path, o PublishOptions) (ipns.Name, error) {
	if o.Lifetime == 0 {
		o.Lifetime = ipns.DefaultRecordLifetime
	}
	if o.Lifetime < 0 {
		return ipns.Name{}, failf(ErrInvalid, "lifetime must be greater than zero, got %s", o.Lifetime)
	}
	if !o.TTLSet {
		o.TTL = min(ipns.DefaultRecordTTL, o.Lifetime)
	}
	if o.TTL < 0 {
		return ipns.Name{}, failf(ErrInvalid, "ttl must not be negative, got %s", o.TTL)
	}
	if o.TTL > o.Lifetime {
		return ipns.Name{}, failf(ErrInvalid, "ttl (%s) must not be greater than lifetime (%s)", o.TTL, o.Lifetime)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, sk, err := s.signer(ctx, ref)
	if err != nil {
		return ipns.Name{}, err
	}
	name, err := nameOf(sk)
	if err != nil {
		return ipns.Name{}, err
	}
	current, keys, err := s.current(ctx, name)
	if err != nil {
		return ipns.Name{}, err
	}
	var seq uint64
	switch {
	case o.Sequence != nil && current != nil && *o.Sequence <= mustSeq(current):
		return ipns.Name{}, failf(ErrInvalid, "sequence number must be higher than the current one (%d)", mustSeq(current))
	case o.Sequence != nil && *o.Sequence == 0:
		return ipns.Name{}, failf(ErrInvalid, "a sequence number given must be at least 1")
	case o.Sequence != nil:
		seq = *o.Sequence
	case current != nil:
		// As Kubo: the number only moves when the value does.
		seq = mustSeq(current)
		if v, err := current.Value(); err != nil || v.String() != value.String() {
			seq++
		}
	}
	e, err := s.sign(sk, value, seq, o.Lifetime, o.TTL, o.V1)
	if err != nil {
		return ipns.Name{}, err
	}
	if err := s.put(ctx, name, seq, e); err != nil {
		return ipns.Name{}, err
	}
	for _, k := range keys {
		if k != entryKey(name, seq) {
			if err := s.cfg.Records.DeleteRecord(ctx, k); err != nil {
				return ipns.Name{}, err
			}
		}
	}
	s.announce(name, e.Record)
	return name, nil
}

func nameOf(sk crypto.PrivKey) (ipns.Name, error) {
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return ipns.Name{}, err
	}
	return ipns.NameFromPeer(id), nil
}

func mustSeq(r *ipns.Record) uint64 { seq, _ := r.Sequence(); return seq }

// current returns the best record of name the cluster or the node knows,
// and the keys of the name's entries in the cluster.
func (s *Service) current(ctx context.Context, name ipns.Name) (*ipns.Record, []string, error) {
	var best []byte
	var keys []string
	err := s.cfg.Records.Records(ctx, namePrefix+name.String()+"/", "", func(k string, v []byte) error {
		var e entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("name record %s: %w", k, err)
		}
		keys = append(keys, k)
		best = e.Record // entries come in sequence order
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	rk := string(name.RoutingKey())
	if known := s.cfg.Known(ctx, rk); known != nil {
		if best == nil {
			best = known
		} else if i, err := (ipns.Validator{}).Select(rk, [][]byte{best, known}); err == nil && i == 1 {
			best = known
		}
	}
	if best == nil {
		return nil, keys, nil
	}
	r, err := ipns.UnmarshalRecord(best)
	if err != nil {
		return nil, nil, err
	}
	return r, keys, nil
}

func (s *Service) sign(sk crypto.PrivKey, value path.Path, seq uint64, lifetime, ttl time.Duration, v1 bool) (entry, error) {
	now := time.Now()
	r, err := ipns.NewRecord(sk, value, seq, now.Add(lifetime), ttl, ipns.WithV1Compatibility(v1))
	if err != nil {
		return entry{}, err
	}
	raw, err := ipns.MarshalRecord(r)
	if err != nil {
		return entry{}, err
	}
	return entry{Record: raw, Lifetime: lifetime, Signed: now, V1: v1}, nil
}

func (s *Service) put(ctx context.Context, name ipns.Name, seq uint64, e entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.cfg.Records.PutRecord(ctx, entryKey(name, seq), v)
}

// announce puts a record on the DHT in the background: the cluster already
// holds it durably, and the leader announces it again at every renewal.
func (s *Service) announce(name ipns.Name, rec []byte) {
	if s.cfg.Announce == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.cfg.Announce(ctx, string(name.RoutingKey()), rec); err != nil {
			s.cfg.Logger.Debug("ipns record not announced to the DHT", "name", name.String(), "err", err)
		}
	}()
}

// Record returns the cluster's record for an IPNS routing key as this peer
// has applied it, for the node's record store and name resolution.
func (s *Service) Record(ctx context.Context, routingKey string) []byte {
	name, err := ipns.NameFromRoutingKey([]byte(routingKey))
	if err != nil {
		return nil
	}
	var rec []byte
	s.cfg.Records.LocalRecords(ctx, namePrefix+name.String()+"/", "", func(k string, v []byte) error {
		var e entry
		if json.Unmarshal(v, &e) == nil {
			rec = e.Record
		}
		return nil
	})
	return rec
}

// Run renews names while this peer leads, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.cfg.IsLeader == nil || !s.cfg.IsLeader() {
			continue
		}
		if err := s.Republish(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("republishing IPNS names failed", "err", err)
		}
	}
}

// Republish renews every name whose record is due at now: older than half
// its lifetime, or than RepublishEvery. A name whose key is gone is left to
// expire, and dropped once expired.
func (s *Service) Republish(ctx context.Context, now time.Time) error {
	type named struct {
		key string
		e   entry
	}
	byName := map[string][]named{}
	var order []string
	err := s.cfg.Records.LocalRecords(ctx, namePrefix, "", func(k string, v []byte) error {
		var e entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("name record %s: %w", k, err)
		}
		n, _, _ := strings.Cut(strings.TrimPrefix(k, namePrefix), "/")
		if _, ok := byName[n]; !ok {
			order = append(order, n)
		}
		byName[n] = append(byName[n], named{k, e})
		return nil
	})
	if err != nil {
		return err
	}
	// Keys are only unsealed when some name is due.
	signers := sync.OnceValues(func() (map[string]crypto.PrivKey, error) { return s.signersByName(ctx) })
	var errs []error
	for _, n := range order {
		entries := byName[n]
		latest := entries[len(entries)-1]
		for _, old := range entries[:len(entries)-1] {
			errs = append(errs, s.cfg.Records.DeleteRecord(ctx, old.key))
		}
		if err := s.renew(ctx, n, latest.key, latest.e, signers, now); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) renew(ctx context.Context, n, key string, e entry, signers func() (map[string]crypto.PrivKey, error), now time.Time) error {
	if now.Sub(e.Signed) < min(e.Lifetime/2, s.cfg.RepublishEvery) {
		return nil
	}
	r, err := ipns.UnmarshalRecord(e.Record)
	if err != nil {
		return err
	}
	keys, err := signers()
	if err != nil {
		return err
	}
	sk, ok := keys[n]
	if !ok {
		if eol, err := r.Validity(); err == nil && now.After(eol) {
			return s.cfg.Records.DeleteRecord(ctx, key)
		}
		return nil // the key was removed: the name lives out its record
	}
	value, err := r.Value()
	if err != nil {
		return err
	}
	ttl, err := r.TTL()
	if err != nil {
		return err
	}
	seq := mustSeq(r)
	fresh, err := s.sign(sk, value, seq, e.Lifetime, ttl, e.V1)
	if err != nil {
		return err
	}
	name, err := ipns.NameFromString(n)
	if err != nil {
		return err
	}
	// Written over the entry of the same sequence number: a newer
	// publish made meanwhile has its own entry and still wins.
	if err := s.put(ctx, name, seq, fresh); err != nil {
		return err
	}
	s.cfg.Logger.Debug("republished IPNS name", "name", n, "seq", seq)
	s.announce(name, fresh.Record)
	return nil
}

// signersByName maps each IPNS name the cluster's keys sign to its key.
func (s *Service) signersByName(ctx context.Context) (map[string]crypto.PrivKey, error) {
	out := map[string]crypto.PrivKey{}
	err := s.cfg.Records.LocalRecords(ctx, keyPrefix, "", func(k string, v []byte) error {
		var sk storedKey
		if err := json.Unmarshal(v, &sk); err != nil {
			return err
		}
		priv, err := s.unseal(strings.TrimPrefix(k, keyPrefix), sk)
		if err != nil {
			s.cfg.Logger.Warn("IPNS key not usable", "key", strings.TrimPrefix(k, keyPrefix), "err", err)
			return nil
		}
		name, err := nameOf(priv)
		if err != nil {
			return err
		}
		out[name.String()] = priv
		return nil
	})
	return out, err
}
