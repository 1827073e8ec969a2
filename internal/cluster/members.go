package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/raft"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/consensus"
	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// Errors of RemoveMember; wrapped with the peer's ID.
var (
	// ErrNotMember means the cluster has no such peer.
	ErrNotMember = errors.New("not a member of the cluster")
	// ErrRemoveRefused means the removal would leave the cluster without
	// a peer or without a voter.
	ErrRemoveRefused = errors.New("peer cannot be removed")
)

type memberReq struct {
	ID string `json:"id"`
}

// RemoveMember takes a peer out of the cluster on an operator's request
// (a peer that stays down is removed by the leader after DeadNodeTimeout,
// see removeDead): the pins allocated to it are allocated to other peers
// at once, then it leaves the members and the raft configuration. Unlike
// IPFS Cluster, a removed peer that still runs is not shut down: it stops
// receiving the pinset and comes back only when restarted with --join.
//
// The leader does the work; removing the leader itself first hands
// leadership to another voter, which then removes it.
func (p *Peer) RemoveMember(ctx context.Context, id string) error {
	_, err := call(ctx, p, removeMemberCall, memberReq{ID: id})
	if errors.Is(err, consensus.ErrNotLeader) {
		// This peer led, and handed leadership over to remove itself.
		_, err = toLeader(ctx, p, removeMemberCall, memberReq{ID: id})
	}
	return err
}

func (p *Peer) leaderRemoveMember(ctx context.Context, r memberReq) (struct{}, error) {
	if r.ID == "" {
		return struct{}{}, fmt.Errorf("%w: malformed member removal", pin.ErrInvalid)
	}
	return struct{}{}, p.removeMember(ctx, r.ID)
}

func (p *Peer) removeMember(ctx context.Context, id string) error {
	ms, err := p.st.Members()
	if err != nil {
		return err
	}
	servers, err := p.raft.Servers()
	if err != nil {
		return err
	}
	isMember := slices.ContainsFunc(ms, func(m member.Member) bool { return m.ID == id })
	inRaft := slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id })
	if !isMember && !inRaft {
		if done, err := p.alreadyApplied(ctx); err != nil || done {
			return err
		}
		return fmt.Errorf("peer %s: %w", id, ErrNotMember)
	}
	others := slices.ContainsFunc(ms, func(m member.Member) bool { return m.ID != id }) ||
		slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) != id })
	if !others {
		return fmt.Errorf("%w: %s is the cluster's only peer", ErrRemoveRefused, id)
	}
	if id == p.deps.ID {
		// A leader that removes itself would stop leading half-way:
		// another voter takes over and does the removal.
		if !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) != id && s.Suffrage == raft.Voter }) {
			return fmt.Errorf("%w: %s is the only voter; another peer must become a voter first", ErrRemoveRefused, id)
		}
		if err := p.raft.LeadershipTransfer(); err != nil {
			return fmt.Errorf("handing leadership over before removing %s: %w", id, err)
		}
		return fmt.Errorf("%w: leadership handed over to remove %s", consensus.ErrNotLeader, id)
	}
	if isMember {
		moved, err := p.vacate(ctx, id)
		if err != nil {
			return fmt.Errorf("reallocating the pins of %s: %w", id, err)
		}
		p.log.Info("reallocated the pins of a removed peer", "peer", id, "pins", moved)
	}
	if inRaft {
		if err := p.raft.RemoveServer(id); err != nil {
			return err
		}
	}
	p.live.forget(id)
	p.log.Warn("removed peer on request", "peer", id)
	return nil
}

// vacate moves every pin allocated to id onto the other live peers and
// deletes id from the members, with the last batch of pins. A second pass
// after the deletion catches pins placed on id meanwhile (placement never
// picks a non-member afterwards).
func (p *Peer) vacate(ctx context.Context, id string) (int, error) {
	all, err := p.candidates()
	if err != nil {
		return 0, err
	}
	candidates := slices.DeleteFunc(all, func(m member.Member) bool { return m.ID == id })
	moved, err := p.moveAllocations(ctx, id, candidates, []state.Op{{Kind: state.OpDeleteMember, ID: id}})
	if err != nil {
		return moved, err
	}
	more, err := p.moveAllocations(ctx, id, candidates, nil)
	return moved + more, err
}

// moveAllocations reallocates the pins allocated to id, committing them in
// batches; last is appended to the final batch.
func (p *Peer) moveAllocations(ctx context.Context, id string, candidates []member.Member, last []state.Op) (int, error) {
	var ops []state.Op
	moved := 0
	err := p.st.ListAllocated(ctx, id, cid.Undef, func(c cid.Cid) error {
		pn, ok, err := p.st.Get(c)
		if err != nil || !ok {
			return err
		}
		pn.Allocations = reallocate(pn, id, candidates)
		ops = append(ops, moveOp(pn))
		moved++
		if len(ops) == 1024 {
			err, ops = p.apply(ctx, ops), nil
			return err
		}
		return nil
	})
	if err != nil {
		return moved, err
	}
	if ops = append(ops, last...); len(ops) > 0 {
		err = p.apply(ctx, ops)
	}
	return moved, err
}

// reallocate returns the allocations of pn without gone, completed from
// the candidates up to the pin's maximum. It is best effort: with too few
// candidates, the pin keeps what it has rather than fail (the minimum
// counts for new pins, not for a peer leaving).
func reallocate(pn pin.Pin, gone string, candidates []member.Member) []string {
	keep := slices.DeleteFunc(slices.Clone(pn.Allocations), func(a string) bool { return a == gone })
	target := pn
	if target.ReplicationMax != pin.Everywhere {
		target.ReplicationMin = 1
	}
	next, err := placement.Allocate(target, keep, candidates)
	if err != nil {
		return keep
	}
	return next
}

// forget drops what the leader knows of a removed peer.
func (l *liveness) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.members, id)
	delete(l.leaving, id)
	delete(l.downLog, id)
	delete(l.repaired, id)
}
