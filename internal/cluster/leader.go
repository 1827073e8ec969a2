package cluster

import (
	"context"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

func (p *Peer) heartbeat(leaving bool) heartbeat {
	return heartbeat{ID: p.deps.ID, FreeSpace: p.deps.FreeSpace(), QueueLen: p.tracker.queueLen(),
		Held: p.tracker.index.held(), Errors: p.tracker.errors(), Version: p.version, SwarmAddrs: p.deps.SwarmAddrs(), Leaving: leaving}
}

// heartbeatLoop reports this peer's health and load to the leader.
func (p *Peer) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.raft.IsLeader() {
			p.live.report(p.heartbeat(false), time.Now())
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, p.cfg.Heartbeat)
		if _, addr := p.raft.Leader(); addr != "" {
			if _, err := callPeer(cctx, p, addr, heartbeatCall, p.heartbeat(false)); err != nil {
				p.log.Debug("heartbeat failed", "err", err)
			}
		}
		cancel()
	}
}

func (p *Peer) leaderHeartbeat(_ context.Context, h heartbeat) (struct{}, error) {
	p.live.report(h, time.Now())
	return struct{}{}, nil
}

// candidates are the members that may receive new allocations: alive and
// not leaving.
func (p *Peer) candidates() ([]member.Member, error) {
	ms, err := p.st.Members()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []member.Member
	for _, m := range ms {
		if p.live.downFor(m.ID, now, p.cfg.DownAfter) == 0 {
			out = append(out, p.live.fill(m))
		}
	}
	return out, nil
}

// leaderLoop runs the leader-only duties while this peer leads: recording
// itself as a member, watching members, repairing pins of dead peers,
// removing long-dead peers, balancing voters and expiring pins. They stop
// when leadership is lost.
func (p *Peer) leaderLoop(ctx context.Context) {
	type term struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var current *term // the running term's duties; nil when following
	stopLeading := func() {
		if current != nil {
			current.cancel()
			<-current.done
			current = nil
		}
	}
	defer stopLeading()
	check := time.NewTicker(250 * time.Millisecond)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		case <-p.raft.LeaderCh():
		}
		leading := p.raft.IsLeader()
		switch {
		case leading && current == nil:
			lctx, cancel := context.WithCancel(ctx)
			current = &term{cancel: cancel, done: make(chan struct{})}
			go func(done chan struct{}) { defer close(done); p.lead(lctx) }(current.done)
		case !leading && current != nil:
			stopLeading()
		}
	}
}

func (p *Peer) lead(ctx context.Context) {
	p.log.Info("leading the cluster")
	servers, _ := p.raft.Servers()
	var ids []string
	for _, s := range servers {
		ids = append(ids, string(s.ID))
	}
	p.live.reset(ids, time.Now())
	// The leader records itself: a peer that formed the cluster never
	// joined through anyone.
	if err := p.apply(ctx, []state.Op{{Kind: state.OpPutMember, Member: p.self()}}); err != nil {
		p.log.Warn("recording self as member failed", "err", err)
	}
	t := time.NewTicker(p.cfg.Heartbeat)
	defer t.Stop()
	lastExpiry := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		p.watchMembers(ctx, now)
		p.balanceVoters()
		if now.Sub(lastExpiry) > 10*time.Second {
			lastExpiry = now
			p.expirePins(ctx, now)
		}
	}
}

// watchMembers reports members going down, repairs the pins of those down
// beyond RepairAfter and removes those down beyond DeadNodeTimeout.
func (p *Peer) watchMembers(ctx context.Context, now time.Time) {
	ms, err := p.st.Members()
	if err != nil {
		return
	}
	for _, m := range ms {
		if m.ID == p.deps.ID {
			continue
		}
		down := p.live.downFor(m.ID, now, p.cfg.DownAfter)
		if down == 0 {
			continue
		}
		if p.live.reportDown(m.ID) {
			p.log.Warn("peer is down", "peer", m.ID, "name", m.Name, "zone", m.Zone, "silent_for", down.Round(time.Millisecond))
		}
		if down >= p.cfg.DeadNodeTimeout {
			p.removeDead(ctx, m)
			continue
		}
		if down >= p.cfg.RepairAfter {
			p.repair(ctx, m.ID)
		}
	}
	p.releaseSurplus(ctx)
}

// repair gives every pin allocated to the dead peer a new allocation on a
// healthy peer, preferring zones that lack a replica. The dead allocation
// stays until the surplus is released (see releaseSurplus), so a peer that
// comes back loses nothing before the new replicas are pinned.
func (p *Peer) repair(ctx context.Context, dead string) {
	candidates, err := p.candidates()
	if err != nil || len(candidates) == 0 {
		return
	}
	var ops []state.Op
	flush := func() {
		if len(ops) > 0 {
			if err := p.apply(ctx, ops); err != nil {
				p.log.Warn("repair failed", "peer", dead, "err", err)
			}
			ops = nil
		}
	}
	repaired := 0
	err = p.st.ListAllocated(ctx, dead, cid.Undef, func(c cid.Cid) error {
		pn, ok, err := p.st.Get(c)
		if err != nil || !ok {
			return err
		}
		var alive []string
		for _, a := range pn.Allocations {
			if slices.ContainsFunc(candidates, func(m member.Member) bool { return m.ID == a }) {
				alive = append(alive, a)
			}
		}
		need := pn.ReplicationMax
		if need == pin.Everywhere {
			need = len(candidates)
		}
		if len(alive) >= min(need, len(candidates)) {
			return nil // already has its replicas elsewhere
		}
		target := pn
		target.ReplicationMax = min(need, len(candidates))
		target.ReplicationMin = min(pn.ReplicationMin, target.ReplicationMax)
		if target.ReplicationMin == pin.Everywhere {
			target.ReplicationMin = 1
		}
		next, err := placement.Allocate(target, alive, candidates)
		if err != nil {
			return nil // nowhere to go yet; try again next round
		}
		for _, a := range next {
			if !slices.Contains(pn.Allocations, a) {
				pn.Allocations = append(pn.Allocations, a)
			}
		}
		ops = append(ops, moveOp(pn))
		repaired++
		if len(ops) == 1024 {
			flush()
		}
		return nil
	})
	flush()
	if repaired > 0 {
		p.live.markRepaired(dead, true)
		p.log.Info("repaired pins of a dead peer", "peer", dead, "pins", repaired)
	}
	if err != nil {
		p.log.Warn("repair scan failed", "peer", dead, "err", err)
	}
}

// moveOp moves pn to its allocations, if it is still pinned when the op
// commits: an unpin committed after pn was read is not undone, nor an
// update of its options.
func moveOp(pn pin.Pin) state.Op {
	return state.Op{Kind: state.OpSetAllocations, Pin: pin.Pin{Cid: pn.Cid, Allocations: pn.Allocations}}
}

// releaseSurplus trims pins that repair left with more allocations than
// their maximum, once their live allocations report them pinned. Dead
// allocations go first.
func (p *Peer) releaseSurplus(ctx context.Context) {
	// Surplus only exists after a repair, on pins still allocated to the
	// peer that was repaired away from: only those are scanned.
	suspects := p.live.repairedPeers()
	if len(suspects) == 0 {
		return
	}
	candidates, err := p.candidates()
	if err != nil {
		return
	}
	alive := func(id string) bool {
		return slices.ContainsFunc(candidates, func(m member.Member) bool { return m.ID == id })
	}
	for _, id := range suspects {
		var ops []state.Op
		remaining := 0
		err := p.st.ListAllocated(ctx, id, cid.Undef, func(c cid.Cid) error {
			pn, ok, err := p.st.Get(c)
			if err != nil || !ok || pn.ReplicationMax == pin.Everywhere || len(pn.Allocations) <= pn.ReplicationMax {
				return err
			}
			remaining++
			// Keep the healthy allocations, the new ones last, and
			// release the rest once enough of them hold the pin.
			var healthy []string
			for _, a := range pn.Allocations {
				if alive(a) {
					healthy = append(healthy, a)
				}
			}
			if len(healthy) < pn.ReplicationMax {
				return nil
			}
			pinned, err := p.countPinned(ctx, pn.Cid, healthy)
			if err != nil || pinned < pn.ReplicationMax {
				return nil
			}
			pn.Allocations = healthy[len(healthy)-pn.ReplicationMax:]
			ops = append(ops, moveOp(pn))
			remaining--
			return nil
		})
		if err != nil {
			continue
		}
		if len(ops) > 0 {
			if err := p.apply(ctx, ops); err != nil {
				continue
			}
			p.log.Info("released surplus allocations", "peer", id, "pins", len(ops))
		}
		if remaining == 0 {
			p.live.markRepaired(id, false)
		}
	}
}

// countPinned asks the given peers how many have c pinned.
func (p *Peer) countPinned(ctx context.Context, c cid.Cid, peers []string) (int, error) {
	sts, err := p.peerStatuses(ctx, c, peers)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range sts {
		if s.Status == pin.StatusPinned {
			n++
		}
	}
	return n, nil
}

// removeDead takes a peer that has been down beyond DeadNodeTimeout out of
// raft and out of the members. Its pins were repaired long before.
func (p *Peer) removeDead(ctx context.Context, m member.Member) {
	if err := p.raft.RemoveServer(m.ID); err != nil {
		p.log.Warn("removing dead peer failed", "peer", m.ID, "err", err)
		return
	}
	if err := p.apply(ctx, []state.Op{{Kind: state.OpDeleteMember, ID: m.ID}}); err != nil {
		p.log.Warn("forgetting dead peer failed", "peer", m.ID, "err", err)
		return
	}
	p.log.Warn("removed dead peer", "peer", m.ID, "name", m.Name)
}

// balanceVoters keeps up to MaxVoters voters, promoting live non-voters
// from zones that have no voter first.
func (p *Peer) balanceVoters() {
	servers, err := p.raft.Servers()
	if err != nil {
		return
	}
	ms, err := p.st.Members()
	if err != nil {
		return
	}
	zoneOf := map[string]string{}
	for _, m := range ms {
		zoneOf[m.ID] = m.Zone
	}
	voters, zones := 0, map[string]bool{}
	var nonvoters []raft.Server
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
			zones[zoneOf[string(s.ID)]] = true
		} else {
			nonvoters = append(nonvoters, s)
		}
	}
	if voters >= p.cfg.MaxVoters || len(nonvoters) == 0 {
		return
	}
	now := time.Now()
	slices.SortFunc(nonvoters, func(a, b raft.Server) int {
		az, bz := zones[zoneOf[string(a.ID)]], zones[zoneOf[string(b.ID)]]
		switch {
		case az == bz:
			return 0
		case !az:
			return -1
		}
		return 1
	})
	for _, s := range nonvoters {
		if p.live.downFor(string(s.ID), now, p.cfg.DownAfter) == 0 {
			if err := p.raft.AddServer(string(s.ID), string(s.Address), true); err == nil {
				p.log.Info("promoted to voter", "peer", s.ID)
			}
			return // one at a time
		}
	}
}

// expirePins removes pins whose expiry passed.
func (p *Peer) expirePins(ctx context.Context, now time.Time) {
	var ops []state.Op
	p.st.List(ctx, cid.Undef, func(pn pin.Pin) error {
		if pn.Expired(now) {
			ops = append(ops, state.Op{Kind: state.OpDeletePin, Cid: pn.Cid})
		}
		return nil
	})
	if len(ops) > 0 {
		if err := p.apply(ctx, ops); err == nil {
			p.log.Info("expired pins removed", "pins", len(ops))
		}
	}
}

// Liveness returns the members as the leader sees them: last heartbeat,
// free space and queue length. Only the leader hears heartbeats, so a
// follower asks it.
func (p *Peer) Liveness(ctx context.Context) ([]member.Member, error) {
	if p.raft.IsLeader() {
		return p.Members(ctx)
	}
	resp, err := toLeader(ctx, p, livenessCall, struct{}{})
	if err != nil {
		return nil, err
	}
	out := make([]member.Member, len(resp))
	for i, w := range resp {
		out[i] = w.member()
		out[i].LastSeen, out[i].FreeSpace, out[i].QueueLen, out[i].Held = w.LastSeen, w.FreeSpace, w.QueueLen, w.Held
		out[i].Errors, out[i].Version = w.Errors, w.Version
	}
	return out, nil
}

func (p *Peer) leaderLiveness(ctx context.Context, _ struct{}) ([]wireLiveMember, error) {
	ms, err := p.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wireLiveMember, len(ms))
	for i, m := range ms {
		out[i] = wireLiveMember{wireMember: memberToWire(m), LastSeen: m.LastSeen, FreeSpace: m.FreeSpace, QueueLen: m.QueueLen, Held: m.Held,
			Errors: m.Errors, Version: m.Version}
	}
	return out, nil
}
