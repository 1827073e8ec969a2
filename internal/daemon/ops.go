package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// ops serves the endpoints an orchestrator and a monitoring system use:
// /health (the process is alive and serving), /ready (the stores answer,
// every service is listening and the peer knows its cluster's leader) and
// /metrics. Load balancers route to ready peers only, and a rolling restart
// waits for /ready before it stops the next peer, so that the cluster keeps
// its quorum.
type ops struct {
	reg     *prometheus.Registry
	serving atomic.Bool // set once every listener is bound, after cluster is set
	stores  *Stores
	cluster func() (bool, string) // the cluster peer's readiness; set before serving
}

// newMetrics returns the process's metrics registry, with Go's and the
// process's own series. The stores register theirs as they open.
func newMetrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newOps(st *Stores, reg *prometheus.Registry) *ops {
	return &ops{reg: reg, stores: st}
}

func (o *ops) handler(profiler bool) http.Handler {
	mux := http.NewServeMux()
	if profiler {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		checks, ready := o.readiness(r.Context())
		status := http.StatusOK
		if !ready {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, checks)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{Registry: o.reg}))
	return mux
}

// readiness probes each dependency with a read that must reach the disk
// layer, bounded so a hung disk reports unready instead of hanging the probe,
// asks an S3 block store whether its bucket answers (a peer that cannot
// read or write its blocks must not take traffic), and asks the cluster
// peer whether it takes traffic.
func (o *ops) readiness(ctx context.Context) (checks map[string]string, ready bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ready = true
	probe := func(d ds.Datastore) string {
		if _, err := d.Has(ctx, ds.NewKey("/readiness-probe")); err != nil {
			ready = false
			return err.Error()
		}
		return "ok"
	}
	checks = map[string]string{"blocks": probe(o.stores.Blocks), "meta": probe(o.stores.Meta), "services": "starting", "cluster": "starting"}
	if o.stores.S3 != nil {
		checks["s3"] = "ok"
		if err := o.stores.S3.Reachable(ctx); err != nil {
			checks["s3"], ready = err.Error(), false
		}
	}
	if !o.serving.Load() {
		return checks, false
	}
	checks["services"] = "ok"
	clusterReady, state := o.cluster()
	checks["cluster"] = state
	return checks, ready && clusterReady
}

// registerStateMetrics exports the pin operations this peer's state machine
// applied, by op (pin, unpin, move). Every peer applies every log entry, so
// any peer's rate is the cluster's: the console's pins/s chart reads it, and
// a monitoring system may scrape any one peer.
func registerStateMetrics(reg prometheus.Registerer, counts func() state.Counts) {
	for op, get := range map[string]func(state.Counts) uint64{
		"pin":   func(c state.Counts) uint64 { return c.Pinned },
		"unpin": func(c state.Counts) uint64 { return c.Unpinned },
		"move":  func(c state.Counts) uint64 { return c.Moved },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "flotilla_state_ops_total",
			Help:        "Pin operations applied by this peer's state machine (every peer applies the cluster's), by op.",
			ConstLabels: prometheus.Labels{"op": op},
		}, func() float64 { return float64(get(counts())) }))
	}
}

// instrument counts and times the requests of one service.
func instrument(reg prometheus.Registerer, service string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"service": service}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_http_requests_total", Help: "HTTP requests by service and status code.", ConstLabels: labels,
	}, []string{"code", "method"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "flotilla_http_request_duration_seconds", Help: "HTTP request latency by service.", ConstLabels: labels,
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	}, []string{"code", "method"})
	// Its sum is the bytes served (the console's gateway bytes/s chart).
	size := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "flotilla_http_response_size_bytes", Help: "HTTP response body sizes by service.", ConstLabels: labels,
		Buckets: prometheus.ExponentialBuckets(256, 8, 8),
	}, []string{"code", "method"})
	reg.MustRegister(requests, duration, size)
	return promhttp.InstrumentHandlerCounter(requests, promhttp.InstrumentHandlerDuration(duration,
		promhttp.InstrumentHandlerResponseSize(size, h)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
