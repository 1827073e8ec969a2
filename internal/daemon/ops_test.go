package daemon

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// The state machine's counts are exported as one counter by op, read when
// scraped.
func TestStateMetricsByOp(t *testing.T) {
	reg := prometheus.NewRegistry()
	counts := state.Counts{Pinned: 5, Unpinned: 2, Moved: 3}
	registerStateMetrics(reg, func() state.Counts { return counts })
	counts.Pinned = 7 // read at scrape time, not at registration
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "flotilla_state_ops_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"pin": 7, "unpin": 2, "move": 3}
	for op, v := range want {
		if got[op] != v {
			t.Errorf("flotilla_state_ops_total{op=%q} = %v, want %v (all: %v)", op, got[op], v, got)
		}
	}
}
