package procs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. The kernel
// always reports them in USER_HZ, which is 100 on every Linux ABI.
const userHZ = 100

// Usage is what /proc tells of one process at one moment.
type Usage struct {
	CPU     time.Duration // user + system time so far
	RSS     int64         // resident bytes now
	PeakRSS int64         // VmHWM: the largest RSS so far
}

// ReadUsage reads the usage of pid from /proc.
func ReadUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Usage{}, ErrNotFound
		}
		return Usage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Usage{}, ErrNotFound
		}
		return Usage{}, err
	}
	cpu, err := ParseStatCPU(string(stat))
	if err != nil {
		return Usage{}, err
	}
	rss, hwm, err := ParseStatusRSS(string(status))
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPU: cpu, RSS: rss, PeakRSS: hwm}, nil
}

// ParseStatCPU returns utime + stime from the text of /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so fields
// are counted from the last ')'.
func ParseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no ')' after the command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: cpu time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// ParseStatusRSS returns VmRSS and VmHWM, in bytes, from the text of
// /proc/<pid>/status.
func ParseStatusRSS(status string) (rss, hwm int64, err error) {
	found := 0
	for _, line := range strings.Split(status, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status: %s: %q", key, val)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status: %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("/proc status: no VmRSS or VmHWM (a kernel thread, or a zombie)")
	}
	return rss, hwm, nil
}
