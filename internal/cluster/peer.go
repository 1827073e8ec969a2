package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	cid "github.com/ipfs/go-cid"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/flotilla-ipfs/flotilla/internal/batch"
	"github.com/flotilla-ipfs/flotilla/internal/clusternet"
	"github.com/flotilla-ipfs/flotilla/internal/consensus"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/state"
	"github.com/flotilla-ipfs/flotilla/internal/version"
)

// DefaultPort is the cluster port, as IPFS Cluster's.
const DefaultPort = "9096"

// Deps are what a peer is built on.
type Deps struct {
	Dir  string     // where the cluster keeps raft and state
	ID   string     // this peer's ID (libp2p peer ID of the node)
	Node *ipfs.Node // the local IPFS node, online
	// SwarmAddrs lists the node's swarm addresses, for other peers'
	// bitswap to dial.
	SwarmAddrs func() []string
	// FreeSpace reports the free bytes of the block store's disk.
	FreeSpace func() uint64
	Logger    *slog.Logger
	// Faults cuts links in tests; nil in production.
	Faults clusternet.Faults
	// Listener, if set, is the bound cluster port to use instead of
	// binding Config.Listen (tests that must know addresses beforehand).
	Listener net.Listener
	// Packs is set when every peer's blocks are in one shared S3 bucket
	// (--s3-shared): the packs this peer writes are recorded and the
	// others' followed (s3packs.go), adds write each block once (blocks.go)
	// and garbage collection is the whole cluster's (sharedgc.go).
	Packs *SharedPacks
}

// Peer is a running cluster peer.
type Peer struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	st      *state.Store
	net     *clusternet.Net
	raft    *consensus.Node
	rpc     *rpcClient
	srv     *http.Server
	fwd     *batch.Batcher[forwardReq] // pins on their way to the leader
	tracker *tracker

	live *liveness // leader's view of the members; reset on leadership

	version string // this binary's, sent with every heartbeat

	gc gcState // shared-bucket garbage collection (sharedgc.go)

	// forming is set while a bootstrap-expect peer without state has
	// found no cluster and too few peers to form one.
	forming atomic.Bool
	joinMu  sync.Mutex // serialises joins (see join)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start opens the state, starts raft and the RPC server, and joins or forms
// the cluster in the background.
func Start(ctx context.Context, cfg Config, d Deps) (*Peer, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("cluster secret must be at least 16 bytes")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := state.Open(filepath.Join(d.Dir, "state"))
	if err != nil {
		return nil, err
	}
	var n *clusternet.Net
	if d.Listener != nil {
		n, err = clusternet.Serve(d.Listener, cfg.Announce, cfg.Secret, d.Faults)
	} else {
		n, err = clusternet.Listen(cfg.Listen, cfg.Announce, cfg.Secret, d.Faults)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("cluster listen on %s: %w", cfg.Listen, err)
	}
	rcfg := consensus.DefaultConfig()
	rcfg.Dir, rcfg.ID, rcfg.Addr = filepath.Join(d.Dir, "raft"), d.ID, n.Addr()
	rcfg.TrailingLogs = cfg.TrailingLogs
	rn, err := consensus.New(rcfg, st, &streamLayer{n}, d.Logger)
	if err != nil {
		n.Close()
		st.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Peer{cfg: cfg, deps: d, log: d.Logger, st: st, net: n, raft: rn,
		rpc: newRPCClient(n), cancel: cancel, live: newLiveness(), version: version.Get().Version}
	p.fwd = p.newForwarder(ctx)
	p.srv = &http.Server{Handler: p.rpcHandler(), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(n.Listener(clusternet.ProtoRPC))
	held, err := openHeldIndex(filepath.Join(d.Dir, "held"))
	if err != nil {
		rn.Shutdown()
		n.Close()
		st.Close()
		return nil, err
	}
	p.tracker = newTracker(trackerDeps{
		self: d.ID, node: d.Node, state: st, index: held,
		workers: cfg.PinConcurrency, timeout: cfg.PinTimeout,
		swarmAddrs: func(m member.Member) []string { return p.live.fill(m).SwarmAddrs },
		fetch:      p.fetchOverCluster,
		log:        d.Logger,
	})

	p.goLoop(ctx, p.membership)
	p.goLoop(ctx, p.heartbeatLoop)
	p.goLoop(ctx, p.leaderLoop)
	p.goLoop(ctx, p.tracker.run)
	p.goLoop(ctx, p.swarmLinkLoop)
	return p, nil
}

func (p *Peer) goLoop(ctx context.Context, f func(context.Context)) {
	p.wg.Add(1)
	go func() { defer p.wg.Done(); f(ctx) }()
}

// ID is this peer's ID.
func (p *Peer) ID() string { return p.deps.ID }

// Counts are the pin operations this peer's state machine applied since it
// started: every peer applies every entry, so their rates are the
// cluster's (the daemon exports them as flotilla_state_ops_total).
func (p *Peer) Counts() state.Counts { return p.st.Counts() }

// RecentMoves is how many pins were given new allocations (repair of a
// down peer's pins, release of the surplus after it, a removed member's
// pins) in the last state.MoveWindow, and when the last move was applied
// here. It is read from this peer's state machine: no scan, no leader
// asked.
func (p *Peer) RecentMoves() (n int, last time.Time) { return p.st.RecentMoves(time.Now()) }

// Addr is this peer's cluster address.
func (p *Peer) Addr() string { return p.net.Addr() }

// Readiness reports whether this peer should take traffic, and why in a
// few words. It is ready when it knows a leader, so that pins forwarded
// through it are committed and its reads can be synced, and its state holds
// its own member record; a peer joining, cut off from the others or removed
// is not (raft forgets the leader after a heartbeat timeout). A peer forming a new cluster with --bootstrap-expect
// counts as ready while it waits for the others: an orchestrator that starts
// peers one after the other once each is healthy (ECS services created in
// turn) must be able to start them all, and a new cluster has nothing to
// serve yet.
func (p *Peer) Readiness() (ready bool, state string) {
	switch {
	case p.raft.Err() != nil:
		return false, p.raft.Err().Error()
	case p.Leader() != "":
		if !p.admitted() {
			// Raft has it, the pinset's members do not yet: its own
			// record is what /id and peers ls show of it.
			return false, "joining: not yet a member of the pinset"
		}
		return true, "ok"
	case p.forming.Load():
		return true, fmt.Sprintf("forming: waiting for %d peers to answer at the join addresses", p.cfg.BootstrapExpect)
	}
	return false, "no cluster leader known: joining, or cut off from the other peers"
}

// admitted reports whether this peer's member record is in its state.
func (p *Peer) admitted() bool {
	ms, err := p.st.Members()
	return err == nil && slices.ContainsFunc(ms, func(m member.Member) bool { return m.ID == p.deps.ID })
}

// Stopped is closed when this peer stopped applying the replicated log
// because it cannot (see Err): it serves no more reads, and the process
// must restart for raft to replay the log.
func (p *Peer) Stopped() <-chan struct{} { return p.raft.Stopped() }

// Err says why the peer stopped applying the log; nil while it applies.
func (p *Peer) Err() error { return p.raft.Err() }

// IsLeader reports whether this peer leads.
func (p *Peer) IsLeader() bool { return p.raft.IsLeader() }

// Leader returns the leader's ID, empty when there is none.
func (p *Peer) Leader() string { id, _ := p.raft.Leader(); return id }

// Stop leaves gracefully: a leader hands leadership to another voter, the
// leader is told this peer is leaving (so it counts as down at once, without
// waiting for missed heartbeats), and everything stops.
func (p *Peer) Stop() error {
	// Bounded: a transfer to a follower that cannot catch up must not
	// keep a stopping process alive.
	transferred := make(chan error, 1)
	go func() {
		if servers, err := p.raft.Servers(); err != nil || len(servers) < 2 {
			transferred <- nil // nobody to hand over to
			return
		}
		transferred <- p.raft.LeadershipTransfer()
	}()
	select {
	case err := <-transferred:
		if err != nil {
			p.log.Warn("leadership transfer failed", "err", err)
		}
	case <-time.After(5 * time.Second):
		p.log.Warn("leadership transfer timed out")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if id, _ := p.raft.Leader(); id != "" {
		call(ctx, p, heartbeatCall, p.heartbeat(true))
	}
	cancel()
	p.cancel()
	p.wg.Wait()
	p.fwd.Stop()
	p.srv.Close()
	err := p.raft.Shutdown()
	return errors.Join(err, p.net.Close(), p.st.Close(), p.tracker.index.Close())
}

// self describes this peer as a member.
func (p *Peer) self() member.Member {
	return member.Member{ID: p.deps.ID, Name: p.cfg.PeerName, Zone: p.cfg.Zone, ClusterAddr: p.net.Addr(), SwarmAddrs: p.deps.SwarmAddrs()}
}

// membership gets this peer into a cluster: it forms a one-peer cluster,
// forms one with the other bootstrap-expect peers, or joins through the
// join addresses; a restarted peer with raft state simply resumes and, given
// join addresses, asks to be (re)admitted in case it was removed meanwhile.
func (p *Peer) membership(ctx context.Context) {
	switch {
	case p.raft.HasState() && len(p.cfg.Join) == 0:
	case p.raft.HasState():
		p.joinLoop(ctx)
	case p.cfg.BootstrapExpect > 0:
		p.bootstrapExpect(ctx)
	case len(p.cfg.Join) > 0:
		p.joinLoop(ctx)
	default:
		err := p.raft.Bootstrap([]raft.Server{{ID: raft.ServerID(p.deps.ID), Address: raft.ServerAddress(p.net.Addr())}})
		if err != nil {
			p.log.Error("bootstrap failed", "err", err)
		}
	}
}

// joinLoop asks the peers at the join addresses to admit this one until one
// of them (or the leader they forward to) says yes.
func (p *Peer) joinLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	var warned time.Time // a failing join is worth a warning, not one per attempt
	for {
		for _, addr := range resolve(ctx, p.cfg.Join) {
			if addr == p.net.Addr() {
				continue
			}
			_, err := callPeer(ctx, p, addr, joinCall, memberToWire(p.self()))
			var re *remoteError
			if errors.As(err, &re) && re.Kind == kindNotLeader && re.Leader != "" {
				_, err = callPeer(ctx, p, re.Leader, joinCall, memberToWire(p.self()))
			}
			if err == nil {
				p.log.Info("joined the cluster", "via", addr)
				return
			}
			if time.Since(warned) >= 30*time.Second {
				warned = time.Now()
				p.log.Warn("cannot join the cluster yet, retrying: check that every peer has the same cluster secret (--cluster-secret-file) and that the --join addresses reach a member's cluster port", "via", addr, "err", err)
			} else {
				p.log.Debug("join attempt failed", "via", addr, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// bootstrapExpect waits until BootstrapExpect peers (this one included)
// answer at the join addresses, then every one of them bootstraps the same
// configuration: the expected number of peers with the smallest IDs. A
// peer that finds an existing cluster joins it instead.
func (p *Peer) bootstrapExpect(ctx context.Context) {
	defer p.forming.Store(false)
	for {
		found := map[string]string{p.deps.ID: p.net.Addr()}
		existing := ""
		for _, addr := range resolve(ctx, p.cfg.Join) {
			if addr == p.net.Addr() {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			h, err := callPeer(cctx, p, addr, helloCall, struct{}{})
			cancel()
			if err != nil {
				continue
			}
			found[h.ID] = h.Addr
			if h.HasCluster {
				existing = h.Addr
			}
		}
		if existing != "" {
			p.forming.Store(false)
			p.joinLoop(ctx)
			return
		}
		if len(found) >= p.cfg.BootstrapExpect {
			ids := make([]string, 0, len(found))
			for id := range found {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			var servers []raft.Server
			for _, id := range ids[:p.cfg.BootstrapExpect] {
				servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(found[id])})
			}
			if !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == p.deps.ID }) {
				p.forming.Store(false)
				p.joinLoop(ctx) // more peers than expected: the others form it
				return
			}
			if err := p.raft.Bootstrap(servers); err != nil {
				p.log.Error("bootstrap failed", "err", err)
				return
			}
			p.forming.Store(false)
			p.log.Info("formed the cluster", "peers", len(servers))
			// Raft knows the peers now, the pinset's members do not:
			// each one registers itself with whoever leads.
			if _, err := call(ctx, p, joinCall, memberToWire(p.self())); err != nil {
				p.log.Error("registering with the leader failed", "err", err)
			}
			return
		}
		p.forming.Store(true) // a whole pass found no cluster and too few peers
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// resolve turns join addresses into host:port strings. DNS names may stand
// for several peers and are looked up again on every call, as service
// discovery (Cloud Map, Kubernetes headless services) updates them.
func resolve(ctx context.Context, addrs []string) []string {
	var out []string
	for _, a := range addrs {
		host, port := a, DefaultPort
		if strings.HasPrefix(a, "/") {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				continue
			}
			for _, proto := range []int{ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6} {
				if v, err := m.ValueForProtocol(proto); err == nil {
					host = v
				}
			}
			if v, err := m.ValueForProtocol(ma.P_TCP); err == nil {
				port = v
			}
		} else if h, pt, err := net.SplitHostPort(a); err == nil {
			host, port = h, pt
		}
		if net.ParseIP(host) != nil {
			out = append(out, net.JoinHostPort(host, port))
			continue
		}
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip, port))
		}
	}
	return out
}

func (p *Peer) serveHello(context.Context, struct{}) (helloResp, error) {
	return helloResp{ID: p.deps.ID, Addr: p.net.Addr(), HasCluster: p.Leader() != ""}, nil
}

// leaderJoin admits a peer: records it as a member and adds it to raft, as
// a voter while there are fewer than MaxVoters (zones spread, see
// balanceVoters), otherwise as a non-voter.
func (p *Peer) leaderJoin(ctx context.Context, wm wireMember) (struct{}, error) {
	return struct{}{}, p.join(ctx, wm.member())
}

func (p *Peer) join(ctx context.Context, m member.Member) error {
	if m.ID == "" || m.ClusterAddr == "" {
		return fmt.Errorf("%w: malformed join request", pin.ErrInvalid)
	}
	// One join at a time: each decides voter or not from the voters the
	// configuration has, which two joins side by side would both count
	// short of, making more voters than MaxVoters.
	p.joinMu.Lock()
	defer p.joinMu.Unlock()
	if err := p.apply(ctx, []state.Op{{Kind: state.OpPutMember, Member: m}}); err != nil {
		return err
	}
	servers, err := p.raft.Servers()
	if err != nil {
		return err
	}
	voters := 0
	for _, s := range servers {
		if string(s.Address) == m.ClusterAddr && string(s.ID) != m.ID {
			// The address now belongs to the joining peer: the one
			// recorded there was replaced (a fresh container under the
			// same name, a task given a reused IP). Raft does not check
			// whom it reaches at an address, so left in, the old server's
			// traffic would land on the new peer and its vote would be
			// counted twice. Out of raft now; as a member it stays, down,
			// so its pins are repaired after RepairAfter and it is
			// forgotten after DeadNodeTimeout.
			if err := p.raft.RemoveServer(string(s.ID)); err != nil {
				return err
			}
			p.log.Warn("peer replaced: removed the server at its address from raft", "old", s.ID, "new", m.ID, "addr", m.ClusterAddr)
			continue
		}
		if string(s.ID) == m.ID {
			p.live.seen(m.ID, time.Now())
			if string(s.Address) != m.ClusterAddr {
				// A restarted peer on a new address: raft updates the
				// address of an existing server in place.
				if err := p.raft.AddServer(m.ID, m.ClusterAddr, s.Suffrage == raft.Voter); err != nil {
					return err
				}
			}
			return nil
		}
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if err := p.raft.AddServer(m.ID, m.ClusterAddr, voters < p.cfg.MaxVoters); err != nil {
		return err
	}
	p.live.seen(m.ID, time.Now())
	p.log.Info("peer joined", "peer", m.ID, "name", m.Name, "zone", m.Zone, "voter", voters < p.cfg.MaxVoters)
	return nil
}

// streamLayer adapts clusternet's raft protocol to raft's transport.
type streamLayer struct{ n *clusternet.Net }

func (s *streamLayer) Accept() (net.Conn, error) { return s.n.Listener(clusternet.ProtoRaft).Accept() }
func (s *streamLayer) Close() error              { return s.n.Listener(clusternet.ProtoRaft).Close() }
func (s *streamLayer) Addr() net.Addr            { return s.n.Listener(clusternet.ProtoRaft).Addr() }
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.n.Dial(ctx, string(addr), clusternet.ProtoRaft)
}

// Cut closes this peer's cluster connections to addr (fault injection).
func (p *Peer) Cut(addr string) { p.net.Cut(addr) }

// sync waits until this peer has applied every write acknowledged anywhere
// before the call: the read-index protocol, so that reads through any peer
// see the writes a load balancer sent elsewhere.
func (p *Peer) sync(ctx context.Context) error {
	req := indexReq{Applied: p.raft.Applied()}
	if p.raft.IsLeader() {
		req.Applied = math.MaxUint64 // the leader applies what commits by itself
	}
	r, err := call(ctx, p, readIndexCall, req)
	if err != nil {
		return err
	}
	return p.raft.WaitApplied(ctx, r.Index)
}

// leaderReadIndex answers a read index. A follower that has not applied
// it yet learns that it may only from the leader's next AppendEntries,
// which an idle leader sends every raft CommitTimeout; the leader then
// commits an empty command first, whose AppendEntries tells the follower
// at once. Concurrent readers share it (group commit), and a write under
// way carries it anyway.
func (p *Peer) leaderReadIndex(ctx context.Context, req indexReq) (indexResp, error) {
	idx, err := p.raft.ReadIndex(ctx)
	if err == nil && req.Applied < idx {
		err = p.raft.Apply(ctx, nil)
	}
	return indexResp{Index: idx}, err
}

// Get returns the pin for c, as of every acknowledged write.
func (p *Peer) Get(ctx context.Context, c cid.Cid) (pin.Pin, error) {
	if err := p.sync(ctx); err != nil {
		return pin.Pin{}, err
	}
	pn, ok, err := p.st.Get(c)
	if err != nil {
		return pin.Pin{}, err
	}
	if !ok {
		return pin.Pin{}, fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	return pn, nil
}

// List streams every pin in CID-byte order, as of every acknowledged write,
// without holding the pinset in memory.
func (p *Peer) List(ctx context.Context, fn func(pin.Pin) error) error {
	return p.ListFrom(ctx, cid.Undef, fn)
}

// ListFrom is List starting after the pin after (cid.Undef: from the
// start), for listings read a page at a time.
func (p *Peer) ListFrom(ctx context.Context, after cid.Cid, fn func(pin.Pin) error) error {
	if err := p.sync(ctx); err != nil {
		return err
	}
	return p.st.List(ctx, after, fn)
}

// Voters returns the IDs of the raft voters in this peer's configuration.
func (p *Peer) Voters() ([]string, error) {
	servers, err := p.raft.Servers()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			ids = append(ids, string(s.ID))
		}
	}
	return ids, nil
}

// Members returns the cluster's members with the leader's liveness view.
func (p *Peer) Members(ctx context.Context) ([]member.Member, error) {
	ms, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	out := make([]member.Member, len(ms))
	for i, m := range ms {
		out[i] = p.live.fill(m)
	}
	return out, nil
}

// Pin adds a pin, or changes one, and returns it as committed. pn is a
// request: what it leaves zero the leader decides, with the allocations,
// before the pin enters the log, and with PinUpdate set it is an update of
// that pin (see resolve). It is validated there, once, whichever peer took
// it: a follower forwards it as it is. This call returns once the pin is
// committed.
func (p *Peer) Pin(ctx context.Context, pn pin.Pin) (pin.Pin, error) {
	if p.raft.IsLeader() {
		return p.leaderPin(ctx, pn)
	}
	return p.forward(ctx, pn)
}

// PinMany adds or updates many pins in one go: on the leader, one
// placement pass and one log entry; through a follower, one call to the
// leader. errs[i] says why pins[i] was refused (the others are committed);
// an error return means none was. For bulk imports: per pin, it costs a
// small fraction of Pin.
func (p *Peer) PinMany(ctx context.Context, pins []pin.Pin) (placed []pin.Pin, errs []error, err error) {
	errs = make([]error, len(pins))
	if p.raft.IsLeader() {
		placed, err = p.leaderPinMany(ctx, slices.Clone(pins), errs)
		return placed, errs, err
	}
	req := pinsReq{Pins: make([]wirePin, len(pins))}
	for i, pn := range pins {
		req.Pins[i] = toWire(pn)
	}
	resp, err := toLeader(ctx, p, pinsCall, req)
	if err != nil {
		return nil, nil, err
	}
	if len(resp.Results) != len(pins) {
		return nil, nil, fmt.Errorf("leader answered %d results for %d pins", len(resp.Results), len(pins))
	}
	placed = make([]pin.Pin, len(pins))
	for i, res := range resp.Results {
		placed[i], errs[i] = res.pin()
	}
	return placed, errs, nil
}

// leaderPin places and commits one pin.
func (p *Peer) leaderPin(ctx context.Context, pn pin.Pin) (pin.Pin, error) {
	errs := []error{nil}
	placed, err := p.leaderPinMany(ctx, []pin.Pin{pn}, errs)
	if err != nil {
		return pin.Pin{}, err
	}
	return placed[0], errs[0]
}

// Unpin removes a pin from the pinset.
func (p *Peer) Unpin(ctx context.Context, c cid.Cid) error {
	_, err := call(ctx, p, unpinCall, cidReq{Cid: c.String()})
	return err
}

func (p *Peer) leaderUnpin(ctx context.Context, r cidReq) (struct{}, error) {
	c, err := r.cid()
	if err != nil {
		return struct{}{}, err
	}
	return struct{}{}, p.unpin(ctx, c)
}

func (p *Peer) unpin(ctx context.Context, c cid.Cid) error {
	if _, ok, err := p.st.Get(c); err != nil {
		return err
	} else if !ok {
		if done, err := p.alreadyApplied(ctx); err != nil || done {
			return err
		}
		return fmt.Errorf("%w: %s", pin.ErrNotFound, c)
	}
	return p.apply(ctx, []state.Op{{Kind: state.OpDeletePin, Cid: c}})
}
