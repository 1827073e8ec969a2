package main

import (
	"testing"
	"time"
)

func TestSideNeed(t *testing.T) {
	// 100,000 pins at 1,000 pins/s: 100 s of ingest, plus the wait and
	// the listings.
	if got, want := sideNeed(100_000, 1000, 20*time.Second, 30*time.Second), 150*time.Second; got != want {
		t.Errorf("sideNeed = %s, want %s", got, want)
	}
	if got := sideNeed(100_000, 0, time.Second, time.Second); got != 0 {
		t.Errorf("sideNeed without a rate = %s, want 0", got)
	}
}

func TestLaterNeed(t *testing.T) {
	// After the next 10,000 the pinset holds 30,000; the 100,000 batch
	// makes it 130,000, whose listings take 13 times those of 10,000
	// (2 s): 26 s; no wait (the first status listing counts).
	got := laterNeed([]int{100_000}, 30_000, 1000, 2*time.Second, 10_000)
	if want := 100*time.Second + 26*time.Second; got != want {
		t.Errorf("laterNeed = %s, want %s", got, want)
	}
	// Two later batches: the second's listings are of the pinset after both.
	got = laterNeed([]int{1000, 2000}, 1000, 1000, time.Second, 1000)
	if want := time.Second + 2*time.Second + 2*time.Second + 4*time.Second; got != want {
		t.Errorf("laterNeed of two batches = %s, want %s", got, want)
	}
}

func TestScaled(t *testing.T) {
	if got := scaled(2*time.Second, 130_000, 10_000); got != 26*time.Second {
		t.Errorf("scaled = %s, want 26s", got)
	}
	if got := scaled(2*time.Second, 130_000, 0); got != 0 {
		t.Errorf("scaled from nothing = %s, want 0", got)
	}
}

func TestPinnedRate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		acked int
		took  time.Duration
		w     waited
		want  float64
	}{
		{"all pinned", 10_000, 5 * time.Second, waited{d: 15 * time.Second, done: 10_000}, 500},
		// Capped: the 3,000 of the last check, 10 s after the first request.
		{"capped", 10_000, 4 * time.Second, waited{d: 20 * time.Second, capped: true, done: 3000, doneAt: 6 * time.Second}, 300},
		{"capped before any check", 10_000, 4 * time.Second, waited{d: 20 * time.Second, capped: true, done: -1}, -1},
	} {
		if got := pinnedRate(tc.acked, tc.took, tc.w); got != tc.want {
			t.Errorf("%s: pinnedRate = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFigureNotesKeepEachOnce(t *testing.T) {
	var fs figures
	for _, n := range []string{"a: slow", "b: slow", "a: slow"} {
		fs.note(sideIncumbent, "join", "s", kindLatency, n)
	}
	if got := fs.finish()[0].Incumbent.Note; got != "a: slow; b: slow" {
		t.Errorf("notes = %q, want both, once each", got)
	}
}

func TestDeclareKeepsTheOrder(t *testing.T) {
	var fs figures
	fs.declare("until all pinned", "s", kindLatency)
	fs.add(sideFlotilla, "status listing", "s", kindLatency, 1, false)
	fs.add(sideFlotilla, "until all pinned", "s", kindLatency, 2, false)
	figs := fs.finish()
	if len(figs) != 2 || figs[0].Name != "until all pinned" || figs[0].Flotilla.Summary.N != 1 {
		t.Errorf("figures = %v, want the declared one first, with its sample", figs)
	}
}
