package pin

import (
	"errors"
	"reflect"
	"testing"
	"time"

	cid "github.com/ipfs/go-cid"
)

var (
	cidA = cid.MustParse("QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN")
	cidB = cid.MustParse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
)

func TestWithDefaults(t *testing.T) {
	tests := []struct {
		min, max       int // the request's
		defMin, defMax int
		members        int
		wantMin        int
		wantMax        int
	}{
		// Neither bound: the defaults, capped by the cluster's size.
		{0, 0, 2, 3, 5, 2, 3},
		{0, 0, 2, 3, 2, 2, 2},
		{0, 0, 2, 3, 1, 1, 1},
		{0, 0, 2, 3, 0, 1, 1},
		{0, 0, Everywhere, Everywhere, 3, Everywhere, Everywhere},
		// One bound: the other is its default, moved to meet it (not
		// capped: the request asked for a number).
		{0, 1, 2, 3, 5, 1, 1},
		{0, 5, 2, 3, 1, 2, 5},
		{5, 0, 2, 3, 1, 5, 5},
		{1, 0, 2, 3, 1, 1, 3},
		{0, Everywhere, 2, 3, 5, Everywhere, Everywhere},
		{Everywhere, 0, 2, 3, 5, Everywhere, Everywhere},
		{0, 4, Everywhere, Everywhere, 5, 4, 4},
		{2, 0, Everywhere, Everywhere, 5, 2, 2},
		// Both bounds: as asked.
		{1, 2, 2, 3, 5, 1, 2},
		{Everywhere, Everywhere, 2, 3, 5, Everywhere, Everywhere},
	}
	for _, tt := range tests {
		got := Pin{Cid: cidA, ReplicationMin: tt.min, ReplicationMax: tt.max}.WithDefaults(tt.defMin, tt.defMax, tt.members)
		if got.ReplicationMin != tt.wantMin || got.ReplicationMax != tt.wantMax || got.Mode != Recursive {
			t.Errorf("Pin{%d..%d}.WithDefaults(%d, %d, %d) = %d..%d %q, want %d..%d recursive", tt.min, tt.max, tt.defMin, tt.defMax, tt.members,
				got.ReplicationMin, got.ReplicationMax, got.Mode, tt.wantMin, tt.wantMax)
		}
		if err := got.Validate(time.Now()); err != nil {
			t.Errorf("Pin{%d..%d}.WithDefaults(%d, %d, %d).Validate() = %v", tt.min, tt.max, tt.defMin, tt.defMax, tt.members, err)
		}
	}
	if got := (Pin{Mode: Direct}).WithDefaults(2, 3, 3); got.Mode != Direct {
		t.Errorf("WithDefaults of a direct pin: mode %q, want direct", got.Mode)
	}
}

func TestUpdate(t *testing.T) {
	expire := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := Pin{Cid: cidA, Name: "v1", Mode: Direct, ReplicationMin: 1, ReplicationMax: 2,
		Allocations: []string{"p1", "p2"}, UserAllocations: []string{"p9"}, Metadata: map[string]string{"k": "v"},
		ExpireAt: expire, Origins: []string{"/ip4/1.2.3.4/tcp/4001/p2p/x"}, Timestamp: expire.Add(-time.Hour)}
	inherited := Pin{Cid: cidB, PinUpdate: cidA, Name: "v1", Mode: Direct, ReplicationMin: 1, ReplicationMax: 2,
		UserAllocations: []string{"p1", "p2"}, Metadata: map[string]string{"k": "v"}, ExpireAt: expire,
		Origins: []string{"/ip4/1.2.3.4/tcp/4001/p2p/x"}}
	later := expire.Add(time.Hour)
	tests := []struct {
		name string
		req  Pin
		want Pin
	}{
		{"Kubo's: nothing set", Pin{Cid: cidB, PinUpdate: cidA}, inherited},
		{"REST's: name and expiry", Pin{Cid: cidB, PinUpdate: cidA, Name: "v2", ExpireAt: later}, func() Pin {
			p := inherited
			p.Name, p.ExpireAt = "v2", later
			return p
		}()},
		{"every option set", Pin{Cid: cidB, PinUpdate: cidA, Mode: Recursive, ReplicationMin: 3, ReplicationMax: 3,
			UserAllocations: []string{"p3"}, Metadata: map[string]string{}, Origins: []string{"o"}},
			Pin{Cid: cidB, PinUpdate: cidA, Name: "v1", Mode: Recursive, ReplicationMin: 3, ReplicationMax: 3,
				UserAllocations: []string{"p3"}, Metadata: map[string]string{}, ExpireAt: expire, Origins: []string{"o"}}},
	}
	for _, tt := range tests {
		if got := tt.req.Update(prev); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Update = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestIsUpdate(t *testing.T) {
	for _, tt := range []struct {
		p    Pin
		want bool
	}{
		{Pin{Cid: cidB}, false},
		{Pin{Cid: cidB, PinUpdate: cidA}, true},
		{Pin{Cid: cidA, PinUpdate: cidA}, false}, // a hint to itself, no update
	} {
		if got := tt.p.IsUpdate(); got != tt.want {
			t.Errorf("Pin{Cid: %s, PinUpdate: %s}.IsUpdate() = %v, want %v", tt.p.Cid, tt.p.PinUpdate, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		p   Pin
		bad bool
	}{
		{Pin{Cid: cidA}, false}, // mode and replication left to the cluster
		{Pin{Cid: cidA, Mode: Direct, ReplicationMin: 1, ReplicationMax: 1}, false},
		{Pin{Cid: cidA, ReplicationMin: 2}, false},
		{Pin{Cid: cidA, ReplicationMax: 2}, false},
		{Pin{Cid: cidA, ReplicationMax: Everywhere}, false},
		{Pin{Cid: cidA, ReplicationMin: Everywhere, ReplicationMax: Everywhere}, false},
		{Pin{Cid: cidA, ExpireAt: now.Add(time.Second)}, false},

		{Pin{}, true},
		{Pin{Cid: cidA, Mode: "shallow"}, true},
		{Pin{Cid: cidA, ReplicationMin: 3, ReplicationMax: 2}, true},
		{Pin{Cid: cidA, ReplicationMin: Everywhere, ReplicationMax: 3}, true},
		{Pin{Cid: cidA, ReplicationMax: -2}, true},
		{Pin{Cid: cidA, ExpireAt: now}, true},
	}
	for _, tt := range tests {
		err := tt.p.Validate(now)
		if tt.bad != (err != nil) || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want invalid: %v", tt.p, err, tt.bad)
		}
	}
}
