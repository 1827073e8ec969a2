package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/consensus"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// Every failure of the table crosses a call as itself: the status of its
// row, and on the caller's side the sentinel of its kind (the first row of
// the kind), with the callee's message. Any other failure is a 500 that
// wraps nothing.
func TestErrorKindsRoundTrip(t *testing.T) {
	for _, k := range errorKinds {
		want := k.err
		for _, r := range errorKinds {
			if r.kind == k.kind {
				want = r.err
				break
			}
		}
		sent := fmt.Errorf("serving: %w", k.err)
		w := httptest.NewRecorder()
		writeError(w, sent, "")
		if w.Code != k.status {
			t.Errorf("%v: status %d, want %d", k.err, w.Code, k.status)
		}
		got := readError("peer", w.Result())
		if !errors.Is(got, want) || got.Error() != sent.Error() {
			t.Errorf("%v: came back as %q, which is not %v", k.err, got, want)
		}
	}
	w := httptest.NewRecorder()
	writeError(w, errors.New("disk on fire"), "")
	if got := readError("peer", w.Result()); w.Code != http.StatusInternalServerError || errors.Unwrap(got) != nil {
		t.Errorf("an error outside the table: status %d, unwraps to %v", w.Code, errors.Unwrap(got))
	}
}

// A follower's call of a leader-only endpoint is the leader's local call:
// same answer, same failure. Asked directly, a follower names the leader;
// a body that does not decode is invalid.
func TestCallsAreServedByTheLeader(t *testing.T) {
	tc := newCluster(t, 3, "z1", "z2", "z3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lead := tc.leader()
	follower := tc.peers[slices.IndexFunc(tc.peers, func(tp *testPeer) bool { return tp != lead })]

	// Placement orders peers by what their heartbeats report (a peer not
	// heard from yet counts no free space): compare the two answers once
	// the leader has heard from every member, or a heartbeat landing
	// between the calls changes the order.
	eventually(t, 10*time.Second, "the leader hears from every member", func() error {
		cs, err := lead.peer.candidates()
		if err != nil {
			return err
		}
		if len(cs) != 3 {
			return fmt.Errorf("%d candidates", len(cs))
		}
		for _, m := range cs {
			if m.FreeSpace == 0 {
				return fmt.Errorf("no heartbeat from %s yet", m.ID)
			}
		}
		return nil
	})
	req := allocateReq{ReplicationMin: 2, ReplicationMax: 2}
	local, err := call(ctx, lead.peer, allocateCall, req)
	if err != nil {
		t.Fatal(err)
	}
	forwarded, err := call(ctx, follower.peer, allocateCall, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(forwarded.Allocations) != 2 || !slices.Equal(local.Allocations, forwarded.Allocations) {
		t.Errorf("forwarded allocation %v, the leader's own %v", forwarded.Allocations, local.Allocations)
	}

	absent := cidReq{Cid: fakeCid(1).String()}
	_, localErr := call(ctx, lead.peer, unpinCall, absent)
	_, fwdErr := call(ctx, follower.peer, unpinCall, absent)
	if !errors.Is(localErr, pin.ErrNotFound) || !errors.Is(fwdErr, pin.ErrNotFound) || localErr.Error() != fwdErr.Error() {
		t.Errorf("unpin of an absent pin: forwarded %v, the leader's own %v; want the same pin.ErrNotFound", fwdErr, localErr)
	}

	_, err = callPeer(ctx, lead.peer, follower.peer.Addr(), readIndexCall, indexReq{})
	var re *remoteError
	if !errors.As(err, &re) || !errors.Is(err, consensus.ErrNotLeader) || re.Leader != lead.peer.Addr() {
		t.Errorf("a follower asked for a leader-only call answered %v (%+v), want not_leader naming %s", err, re, lead.peer.Addr())
	}

	for _, body := range []any{"not an object", cidReq{Cid: "not a CID"}} {
		resp, err := lead.peer.rpc.post(ctx, lead.peer.Addr(), unpinCall.path, body)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, pin.ErrInvalid) {
			t.Errorf("unpin with the body %v: %v, want pin.ErrInvalid", body, err)
		}
	}
}
