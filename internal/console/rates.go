package console

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The rate charts are this peer's counters, sampled when a console asks
// (at most every sampleEvery) and kept for the last historyLen samples:
// no goroutine samples while nobody looks, and an open overview fills the
// history as it polls.
const (
	sampleEvery = 2 * time.Second
	historyLen  = 150 // 5 minutes at one sample every 2 s
)

// series are the charted rates: each sums the named counter's samples
// whose labels match.
var series = []struct {
	Name, Unit string
	metric     string
	match      func(labels map[string]string) bool
}{
	// Every peer's state machine applies every pin and unpin, so this
	// peer's rate is the cluster's.
	{"Pins and unpins (cluster)", "pins/s", "flotilla_state_ops_total", label("op", "pin", "unpin")},
	{"Gateway requests", "req/s", "flotilla_http_requests_total", service("gateway")},
	{"Gateway bytes", "B/s", "flotilla_http_response_size_bytes", service("gateway")},
	{"Admin API requests", "req/s", "flotilla_http_requests_total", service("api", "rpc", "pinsvc", "registry")},
	{"S3 requests", "req/s", "flotilla_s3_requests_total", func(map[string]string) bool { return true }},
}

func service(names ...string) func(map[string]string) bool { return label("service", names...) }

// label matches the samples whose label key is one of values.
func label(key string, values ...string) func(map[string]string) bool {
	return func(l map[string]string) bool { return slices.Contains(values, l[key]) }
}

type sample struct {
	at     time.Time
	values []float64 // by series; -1: the metric does not exist here
}

// rates samples the counters and turns them into rates.
type rates struct {
	g prometheus.Gatherer // nil: no charts

	mu      sync.Mutex
	samples []sample // guarded by mu; oldest first, at most historyLen+1
}

func newRates(g prometheus.Gatherer) *rates { return &rates{g: g} }

// ratesJSON is the charts' data: per series, the rate between successive
// samples. Series whose counter this peer lacks (S3 on a flatfs peer) are
// left out.
func (s *server) ratesJSON(w http.ResponseWriter, r *http.Request, _ *viewer) error {
	type wireSeries struct {
		Name   string    `json:"name"`
		Unit   string    `json:"unit"`
		Points []float64 `json:"points"`
	}
	out := struct {
		Interval float64      `json:"interval"` // seconds between points
		Times    []int64      `json:"times"`    // unix ms of each point
		Series   []wireSeries `json:"series"`
	}{Interval: sampleEvery.Seconds(), Times: []int64{}, Series: []wireSeries{}}
	samples, err := s.rates.sample(s.now())
	if err != nil {
		return err
	}
	for i, sr := range series {
		if len(samples) == 0 || samples[len(samples)-1].values[i] < 0 {
			continue
		}
		ws := wireSeries{Name: sr.Name, Unit: sr.Unit, Points: []float64{}}
		for j := 1; j < len(samples); j++ {
			dt := samples[j].at.Sub(samples[j-1].at).Seconds()
			dv := samples[j].values[i] - samples[j-1].values[i]
			if dv < 0 || samples[j-1].values[i] < 0 {
				dv = 0 // a counter that appeared or was reset
			}
			ws.Points = append(ws.Points, dv/dt)
		}
		out.Series = append(out.Series, ws)
	}
	for j := 1; j < len(samples); j++ {
		out.Times = append(out.Times, samples[j].at.UnixMilli())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(out)
}

// sample takes a sample if the last is older than sampleEvery, and
// returns the history.
func (r *rates) sample(now time.Time) ([]sample, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.g == nil {
		return nil, nil
	}
	if n := len(r.samples); n > 0 && now.Sub(r.samples[n-1].at) < sampleEvery {
		return append([]sample(nil), r.samples...), nil
	}
	mfs, err := r.g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil, err
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	sm := sample{at: now, values: make([]float64, len(series))}
	for i, sr := range series {
		mf, ok := byName[sr.metric]
		if !ok {
			sm.values[i] = -1
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if !sr.match(labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sm.values[i] += m.GetCounter().GetValue()
			case m.Histogram != nil:
				sm.values[i] += m.GetHistogram().GetSampleSum()
			}
		}
	}
	r.samples = append(r.samples, sm)
	if len(r.samples) > historyLen+1 {
		r.samples = append(r.samples[:0], r.samples[len(r.samples)-historyLen-1:]...)
	}
	return append([]sample(nil), r.samples...), nil
}
