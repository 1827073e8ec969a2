package s3store

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus series. Requests are counted per
// attempt, retries included: that is what S3 bills.
type metrics struct {
	requests    *prometheus.CounterVec // by operation and outcome
	sent        *counter
	received    *counter
	cacheHits   *counter
	cacheMisses *counter
	commits     prometheus.Counter

	// byOperation and failed mirror requests for Stats, which a
	// prometheus.Counter cannot be read back from.
	mu          sync.Mutex
	byOperation map[string]int64 // guarded by mu
	failed      int64            // requests not answered 2xx; guarded by mu
}

// counter is a Prometheus counter that Stats can read back.
type counter struct {
	prometheus.Counter
	n atomic.Int64
}

func newCounter(name, help string) *counter {
	return &counter{Counter: prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})}
}

func (c *counter) add(n int64) {
	c.n.Add(n)
	c.Counter.Add(float64(n))
}

func (c *counter) value() int64 { return c.n.Load() }

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_s3_requests_total",
			Help: "S3 requests (each attempt) by operation (GetObject, PutObject, ...) and outcome (ok, 4xx, 5xx, error: no answer).",
		}, []string{"operation", "outcome"}),
		byOperation: map[string]int64{},
		sent:        newCounter("flotilla_s3_sent_bytes_total", "Bytes of request bodies sent to S3."),
		received:    newCounter("flotilla_s3_received_bytes_total", "Bytes of response bodies received from S3."),
		cacheHits:   newCounter("flotilla_s3_cache_hits_total", "Block reads served from the local disk cache."),
		cacheMisses: newCounter("flotilla_s3_cache_misses_total", "Block reads that needed a GET from S3."),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_s3_commits_total", Help: "Writes (Puts and batch commits) queued for a pack; over the PutObject requests, how many share an upload.",
		}),
	}
}

// register adds the series, and gauges computed from the store's Stats,
// to reg.
func (m *metrics) register(reg prometheus.Registerer, s *Store) error {
	gauge := func(name, help string, fn func(Stats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(fn(s.Stats())) })
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.sent, m.received, m.cacheHits, m.cacheMisses, m.commits,
		gauge("flotilla_s3_packs", "Packs in the index, including those waiting for deletion.", func(st Stats) int64 { return st.Packs }),
		gauge("flotilla_s3_pack_bytes", "Bytes of the packs' objects in S3.", func(st Stats) int64 { return st.PackBytes }),
		gauge("flotilla_s3_live_bytes", "Bytes of the blocks the index points at (live fraction: this over flotilla_s3_pack_bytes).", func(st Stats) int64 { return st.LiveBytes }),
		gauge("flotilla_s3_cache_bytes", "Bytes in the local disk cache.", func(st Stats) int64 { return st.CacheBytes }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// count is an SDK middleware that counts each attempt of each request. It
// sits last in the deserialize step, under the retry loop, where it sees
// the raw HTTP response before the SDK turns it into an error.
func (m *metrics) count(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("flotillaCountRequests",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok && req.ContentLength > 0 {
				m.sent.add(req.ContentLength)
			}
			out, md, err := next.HandleDeserialize(ctx, in)
			outcome := "error"
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil {
				switch code := resp.StatusCode; {
				case code < 300:
					outcome = "ok"
				case code < 500:
					outcome = strconv.Itoa(code/100) + "xx"
				default:
					outcome = "5xx"
				}
				if resp.ContentLength > 0 {
					m.received.add(resp.ContentLength)
				}
			}
			op := middleware.GetOperationName(ctx)
			m.requests.WithLabelValues(op, outcome).Inc()
			m.mu.Lock()
			m.byOperation[op]++
			if outcome != "ok" {
				m.failed++
			}
			m.mu.Unlock()
			return out, md, err
		}), middleware.After)
}

// requestCounts returns the requests made so far by operation, and how
// many of them were not answered 2xx.
func (m *metrics) requestCounts() (map[string]int64, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.byOperation))
	for op, n := range m.byOperation {
		out[op] = n
	}
	return out, m.failed
}
