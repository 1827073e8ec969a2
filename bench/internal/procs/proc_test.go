package procs

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		err      bool
	}{
		{"plain", "4242 (ipfs) S 1 4242 4242 0 -1 4194560 1510 0 0 0 250 73 0 0 20 0 12 0 1000 1 2 3",
			3230 * time.Millisecond, false},
		{"name with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 1 2",
			30 * time.Millisecond, false},
		{"no name", "7 a R 1", 0, true},
		{"short", "7 (x) R 1 2 3", 0, true},
		{"bad number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 2 0", 0, true},
	} {
		got, err := ParseStatCPU(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: ParseStatCPU(%q) = %v, %v; want %v, error %v", tc.name, tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tipfs\nVmPeak:\t 2000 kB\nVmHWM:\t  150000 kB\nVmRSS:\t  120000 kB\nThreads:\t12\n"
	rss, hwm, err := ParseStatusRSS(status)
	if err != nil || rss != 120000<<10 || hwm != 150000<<10 {
		t.Errorf("ParseStatusRSS = %d, %d, %v; want %d, %d", rss, hwm, err, 120000<<10, 150000<<10)
	}
	for _, bad := range []string{"Name:\tkthreadd\nThreads:\t1\n", "VmRSS:\t12 MB\nVmHWM:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n"} {
		if _, _, err := ParseStatusRSS(bad); err == nil {
			t.Errorf("ParseStatusRSS(%q): no error", bad)
		}
	}
}

func TestReadUsageSelf(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 || u.PeakRSS < u.RSS {
		t.Errorf("ReadUsage(self) = %+v: want 0 < RSS <= PeakRSS", u)
	}
	if _, err := ReadUsage(1 << 30); err != ErrNotFound {
		t.Errorf("ReadUsage(no such pid) error = %v, want ErrNotFound", err)
	}
}
