package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/flotilla-ipfs/flotilla/bench/internal/stats"
)

// Kinds of figure: what the charts group them by.
const (
	kindThroughput = "throughput" // higher is better
	kindLatency    = "latency"    // a time: lower is better
	kindResources  = "resources"  // RSS, CPU seconds: lower is better
)

// series is one side's samples of one figure, one per run.
type series struct {
	Samples []float64 `json:"samples"`
	// Capped marks the samples that are lower bounds: the wait they
	// time hit its cap first.
	Capped  []bool        `json:"capped,omitempty"`
	Summary stats.Summary `json:"summary"`
	// Note says why a side has no figure ("n/a: HTTP 501 …") or what
	// to know about it.
	Note string `json:"note,omitempty"`
}

// figure is one line of the table.
type figure struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Kind      string  `json:"kind"`
	Flotilla  series  `json:"flotilla"`
	Incumbent series  `json:"incumbent"`
	Ratio     float64 `json:"ratio"` // flotilla / incumbent, medians; NaN: none
}

func (f *figure) side(side string) *series {
	if side == sideFlotilla {
		return &f.Flotilla
	}
	return &f.Incumbent
}

// lowerIsBetter reports whether smaller values of the figure are better.
func (f *figure) lowerIsBetter() bool { return f.Kind != kindThroughput }

// figures collects the figures of a run, in the order they were first
// recorded.
type figures struct {
	mu   sync.Mutex
	list []*figure // guarded by mu
}

func (fs *figures) get(name, unit, kind string) *figure {
	for _, f := range fs.list {
		if f.Name == name {
			return f
		}
	}
	f := &figure{Name: name, Unit: unit, Kind: kind}
	fs.list = append(fs.list, f)
	return f
}

// declare puts a figure in the list without a sample: the table shows
// it there even if its samples come after others'.
func (fs *figures) declare(name, unit, kind string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.get(name, unit, kind)
}

// add records one sample of a figure for a side.
func (fs *figures) add(side, name, unit, kind string, v float64, capped bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.get(name, unit, kind).side(side)
	s.Samples = append(s.Samples, v)
	s.Capped = append(s.Capped, capped)
}

// note records why a side has no sample of a figure, or what to know
// about its samples; each distinct note is kept once, in order.
func (fs *figures) note(side, name, unit, kind, note string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.get(name, unit, kind).side(side)
	switch {
	case s.Note == "":
		s.Note = note
	case !slices.Contains(strings.Split(s.Note, "; "), note):
		s.Note += "; " + note
	}
}

// finish computes the summaries and ratios.
func (fs *figures) finish() []*figure {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.list {
		f.Flotilla.Summary = stats.Summarize(f.Flotilla.Samples)
		f.Incumbent.Summary = stats.Summarize(f.Incumbent.Samples)
		f.Ratio = stats.Ratio(f.Flotilla.Summary, f.Incumbent.Summary)
		if !f.Flotilla.anyCapped() {
			f.Flotilla.Capped = nil
		}
		if !f.Incumbent.anyCapped() {
			f.Incumbent.Capped = nil
		}
	}
	return slices.Clone(fs.list)
}

func (s *series) anyCapped() bool { return slices.Contains(s.Capped, true) }

// bound returns "≥" when v, a value computed from the samples, rests on
// a capped sample: the true figure is at least v.
func (s *series) bound(v float64) string {
	lowest := math.Inf(1)
	for i, c := range s.Capped {
		if c {
			lowest = min(lowest, s.Samples[i])
		}
	}
	if v >= lowest {
		return "≥"
	}
	return ""
}

// cell is how the table shows a series: the median, and the spread
// (min–max) when there are several samples; "n/a" without samples.
func (s *series) cell() string {
	sum := s.Summary
	if sum.N == 0 {
		return "n/a"
	}
	out := s.bound(sum.Median) + number(sum.Median)
	if sum.N > 1 {
		out += fmt.Sprintf(" (%s%s–%s%s)", s.bound(sum.Min), number(sum.Min), s.bound(sum.Max), number(sum.Max))
	}
	return out
}

// number prints v with three significant digits, without exponent for
// the magnitudes the figures have, and thousands as plain digits.
func number(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "n/a"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// ratioCell is how the table shows flotilla / incumbent, with the
// direction of the bound when a side's median is a lower bound.
func (f *figure) ratioCell() string {
	if math.IsNaN(f.Ratio) {
		return "n/a"
	}
	fb := f.Flotilla.bound(f.Flotilla.Summary.Median) != ""
	ib := f.Incumbent.bound(f.Incumbent.Summary.Median) != ""
	r := fmt.Sprintf("%.2f", f.Ratio)
	switch {
	case fb && ib:
		return "?" + r
	case fb:
		return "≥" + r
	case ib:
		return "≤" + r
	}
	return r
}

// label is the name with the unit and which way is better.
func (f *figure) label() string {
	dir := "↑"
	if f.lowerIsBetter() {
		dir = "↓"
	}
	return fmt.Sprintf("%s [%s %s]", f.Name, f.Unit, dir)
}

// writeTable prints one line per figure: name, flotilla, incumbent,
// ratio; the notes of the sides without figures follow.
func writeTable(w io.Writer, figs []*figure) {
	rows := [][]string{{"name", "flotilla", "incumbent", "ratio"}}
	for _, f := range figs {
		rows = append(rows, []string{f.label(), f.Flotilla.cell(), f.Incumbent.cell(), f.ratioCell()})
	}
	width := make([]int, 4)
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	fmt.Fprintln(w, "\nmedian (min–max) over runs; ratio = flotilla / incumbent (medians); ↑ higher is better, ↓ lower is better;")
	fmt.Fprintln(w, "≥: a wait hit its cap, the figure is at least this (≤, ?: the ratio is a bound, or unknown).")
	var notes []string
	for _, f := range figs {
		for _, s := range []struct {
			side string
			s    *series
		}{{sideFlotilla, &f.Flotilla}, {sideIncumbent, &f.Incumbent}} {
			if s.s.Note != "" {
				notes = append(notes, fmt.Sprintf("  %s, %s: %s", f.Name, s.side, s.s.Note))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "notes:")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
}

// results is the machine-readable output (-json).
type results struct {
	Mode      string            `json:"mode"`
	Runs      int               `json:"runs"`
	Started   string            `json:"started"`
	Seconds   float64           `json:"seconds"`
	Machine   map[string]string `json:"machine"`
	Versions  map[string]string `json:"versions"`
	Settings  map[string]any    `json:"settings"`
	Figures   []*figure         `json:"figures"`
	Notes     []string          `json:"notes,omitempty"`
	Processes []procSample      `json:"processes"`
}

// procSample is what /proc said of one process after a workload.
type procSample struct {
	Workload string  `json:"workload"`
	Side     string  `json:"side"`
	Process  string  `json:"process"`
	RSSMiB   float64 `json:"rss_mib"`
	PeakMiB  float64 `json:"peak_rss_mib"`
	CPU      float64 `json:"cpu_seconds"`
}

func writeJSON(path string, r *results) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// MarshalJSON writes a NaN ratio as null (NaN is not JSON).
func (f *figure) MarshalJSON() ([]byte, error) {
	type plain figure
	var ratio *float64
	if !math.IsNaN(f.Ratio) {
		ratio = &f.Ratio
	}
	return json.Marshal(struct {
		*plain
		Ratio *float64 `json:"ratio"`
	}{(*plain)(f), ratio})
}

// UnmarshalJSON reads a null ratio back as NaN.
func (f *figure) UnmarshalJSON(raw []byte) error {
	type plain figure
	aux := struct {
		*plain
		Ratio *float64 `json:"ratio"`
	}{plain: (*plain)(f)}
	if err := json.Unmarshal(raw, &aux); err != nil {
		return err
	}
	f.Ratio = math.NaN()
	if aux.Ratio != nil {
		f.Ratio = *aux.Ratio
	}
	return nil
}

// readJSON reads what writeJSON wrote.
func readJSON(path string) (*results, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r results
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}
