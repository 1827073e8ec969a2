package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/version"
)

// A listing read a page at a time from a cursor (the web console's pins
// page) sees every pin once, in CID order, with every peer's status, and
// each page stops the peers' streams once it is full.
func TestStatusFromPagesByCursor(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	var want []cid.Cid
	for i := range 7 {
		c := tc.peers[0].addContent(fmt.Sprintf("page %d", i))
		if _, err := tc.peers[0].peer.Pin(ctx, pin.Pin{Cid: c, ReplicationMin: 3, ReplicationMax: 3}); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	slices.SortFunc(want, func(a, b cid.Cid) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	full := errors.New("page full")
	eventually(t, 20*time.Second, "pages of 3 through a follower, every pin pinned on every peer", func() error {
		var got []cid.Cid
		after := cid.Undef
		for pages := 0; ; pages++ {
			if pages == 10 {
				return fmt.Errorf("10 pages of 3 for 7 pins: the cursor is not followed (%v)", got)
			}
			n := 0
			err := tc.peers[2].peer.StatusFrom(ctx, after, func(info pin.Info) error {
				if n == 3 {
					return full
				}
				n++
				if len(info.Peers) != 3 || slices.ContainsFunc(info.Peers, func(s pin.PeerStatus) bool { return s.Status != pin.StatusPinned }) {
					return fmt.Errorf("%s: statuses %v, want pinned on 3 peers", info.Pin.Cid, info.Peers)
				}
				got = append(got, info.Pin.Cid)
				after = info.Pin.Cid
				return nil
			})
			if err != nil && !errors.Is(err, full) {
				return err
			}
			if err == nil { // the stream ended: the last page
				if pages != 2 {
					return fmt.Errorf("%d pages, want 3", pages+1)
				}
				break
			}
		}
		if !slices.EqualFunc(got, want, cid.Cid.Equals) {
			return fmt.Errorf("paged %v, want %v", got, want)
		}
		return nil
	})
}

// Each peer reports how many pins its node holds in its heartbeats; the
// leader's view, asked through a follower, has them.
func TestLivenessReportsPinsHeldErrorsAndVersion(t *testing.T) {
	ctx := context.Background()
	tc := newCluster(t, 3, "z1", "z2", "z3")
	for i := range 4 {
		c := tc.peers[0].addContent(fmt.Sprintf("held %d", i))
		if _, err := tc.peers[0].peer.Pin(ctx, pin.Pin{Cid: c, ReplicationMin: 3, ReplicationMax: 3}); err != nil {
			t.Fatal(err)
		}
	}
	one := tc.peers[1].addContent("held on two")
	if _, err := tc.peers[1].peer.Pin(ctx, pin.Pin{Cid: one, ReplicationMin: 2, ReplicationMax: 2}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "every peer's held count in the leader's view", func() error {
		ms, err := tc.peers[2].peer.Liveness(ctx)
		if err != nil {
			return err
		}
		total := 0
		for _, m := range ms {
			if m.Held < 4 || m.Held > 5 {
				return fmt.Errorf("%s holds %d, want 4 or 5", m.ID, m.Held)
			}
			total += m.Held
		}
		if total != 3*4+2 {
			return fmt.Errorf("%d pins held in all, want 14", total)
		}
		return nil
	})

	// Each peer's version and count of pins in error come with its
	// heartbeats too: one operation left in error on peer 1 shows there.
	tr := tc.peers[1].peer.tracker
	tr.mu.Lock()
	tr.ops[tc.peers[1].addContent("never allocated")] = &trackedOp{status: pin.StatusPinError, err: "injected", since: time.Now()}
	tr.failed++
	tr.mu.Unlock()
	eventually(t, 20*time.Second, "every peer's version and errors in the leader's view", func() error {
		ms, err := tc.peers[2].peer.Liveness(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			want := 0
			if m.ID == tc.peers[1].peer.ID() {
				want = 1
			}
			if m.Version != version.Get().Version {
				return fmt.Errorf("%s runs version %q, want %q", m.ID, m.Version, version.Get().Version)
			}
			if m.Errors != want {
				return fmt.Errorf("%s has %d pins in error, want %d", m.ID, m.Errors, want)
			}
		}
		return nil
	})
}
