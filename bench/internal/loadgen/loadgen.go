// Package loadgen loads one HTTP URL for a fixed time and reports
// requests/s, bytes/s and latency percentiles: with wrk when it is
// installed, else with a closed-loop Go generator in this process.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is one measurement.
type Result struct {
	RPS      float64
	BPS      float64 // bytes/s
	P50, P99 time.Duration
	Errors   int // non-2xx/3xx responses and failed requests
}

// Generator produces load against one URL.
type Generator interface {
	Name() string
	// Load keeps conns connections busy with GETs of url for d.
	Load(ctx context.Context, url string, conns, threads int, d time.Duration) (Result, error)
}

// Pick returns the generator named which: "wrk", "go", or "auto" (wrk
// when installed).
func Pick(which string) (Generator, error) {
	wrk, err := exec.LookPath("wrk")
	switch which {
	case "wrk":
		if err != nil {
			return nil, errors.New("wrk not found (apt-get install wrk), or use the go load generator")
		}
		return Wrk{wrk}, nil
	case "go":
		return Go{}, nil
	case "auto":
		if err == nil {
			return Wrk{wrk}, nil
		}
		return Go{}, nil
	}
	return nil, fmt.Errorf("load generator %q: want auto, wrk or go", which)
}

// Wrk runs the wrk binary at Bin.
type Wrk struct{ Bin string }

// Name implements Generator.
func (w Wrk) Name() string { return "wrk" }

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTransfer = regexp.MustCompile(`Transfer/sec:\s+([0-9.]+)([KMGT]?B)`)
	wrkLatency  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkErrors   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
)

// Load implements Generator.
func (w Wrk) Load(ctx context.Context, url string, conns, threads int, d time.Duration) (Result, error) {
	threads = min(threads, conns)
	cmd := exec.CommandContext(ctx, w.Bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", d.String(), "--latency", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("wrk: %w: %s", err, stderr.String())
	}
	return ParseWrk(stdout.String())
}

// ParseWrk reads the output of wrk --latency.
func ParseWrk(out string) (Result, error) {
	var r Result
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkTransfer.FindStringSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[2]]
		r.BPS = v * unit
	}
	for _, m := range wrkLatency.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		lat := time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]))
		if m[1] == "50" {
			r.P50 = lat
		} else {
			r.P99 = lat
		}
	}
	if m := wrkErrors.FindStringSubmatch(out); m != nil {
		r.Errors, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

// Go is a closed-loop generator: conns goroutines, each with its own
// keep-alive connection, request after request until the time is up.
type Go struct{}

// Name implements Generator.
func (Go) Name() string { return "Go (in-process)" }

// maxSamples bounds the latencies kept per measurement.
const maxSamples = 2_000_000

// Load implements Generator.
func (Go) Load(ctx context.Context, url string, conns, _ int, d time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		bytes     int64
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			defer client.CloseIdleConnections()
			buf := make([]byte, 64<<10)
			var mine []time.Duration
			var n int64
			var bad int
			for ctx.Err() == nil && len(mine) < maxSamples/conns {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						bad++
					}
					continue
				}
				for {
					k, err := resp.Body.Read(buf)
					n += int64(k)
					if err != nil {
						break
					}
				}
				resp.Body.Close()
				if ctx.Err() != nil {
					break // cut short by the end of the run: not a sample
				}
				if resp.StatusCode != http.StatusOK {
					bad++
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			bytes += n
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if len(latencies) == 0 {
		return Result{}, fmt.Errorf("no request to %s completed (%d errors)", strings.SplitN(url, "?", 2)[0], errs)
	}
	slices.Sort(latencies)
	return Result{
		RPS:    float64(len(latencies)) / elapsed,
		BPS:    float64(bytes) / elapsed,
		P50:    latencies[len(latencies)/2],
		P99:    latencies[len(latencies)*99/100],
		Errors: errs,
	}, nil
}
