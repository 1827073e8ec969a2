package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/flotilla-ipfs/flotilla/bench/internal/procs"
)

// machine describes where the run happened.
func machine() map[string]string {
	m := map[string]string{"cpus": itoa(runtime.NumCPU()), "os": runtime.GOOS + "/" + runtime.GOARCH, "go": runtime.Version()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(raw))
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(raw), "\n")
		m["memory"] = strings.Join(strings.Fields(strings.TrimPrefix(line, "MemTotal:")), " ")
	}
	return m
}

func itoa(n int) string { return strconv.Itoa(n) }

// versions asks each binary for its version.
func (b *bench) versions(ctx context.Context) map[string]string {
	v := map[string]string{}
	for name, args := range map[string][]string{
		"flotilla":             {b.o.flotilla, "version"},
		"kubo":                 {b.o.kubo, "version"},
		"ipfs-cluster-service": {b.o.service, "--version"},
	} {
		out, err := procs.Output(ctx, os.Environ(), args[0], args[1:]...)
		if err != nil {
			v[name] = "unknown: " + err.Error()
			continue
		}
		v[name] = strings.TrimSpace(out)
	}
	// bin/flotilla is built from the working tree: name its commit.
	if out, err := procs.Output(ctx, os.Environ(), "git", "describe", "--always", "--dirty"); err == nil {
		v["flotilla_commit"] = strings.TrimSpace(out)
	}
	return v
}

// settings records the parameters of the run.
func (b *bench) settings() map[string]any {
	return map[string]any{
		"runs": b.o.runs, "add_bytes": b.o.addSize, "cluster_add_bytes": b.o.clusterAddSize,
		"gateway_large_bytes": b.o.gatewayLarge, "pin_batches": b.o.pins, "churn_pins": b.o.churnPins,
		"churn_runs": b.o.churnRuns, "clients": b.o.clients, "gateway_seconds": b.o.gatewayDuration.Seconds(),
		"cap_seconds": b.o.cap.Seconds(), "pin_cap_seconds": b.o.pinCap.Seconds(), "budget_seconds": b.o.budget.Seconds(), "replication": replicas,
		"block_bytes": blockSize,
	}
}
