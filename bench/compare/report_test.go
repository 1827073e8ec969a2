package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {0.01234, "0.0123"}, {1.234, "1.23"}, {12.34, "12.3"}, {123.4, "123"}, {25703.2, "25703"},
		{math.NaN(), "n/a"},
	} {
		if got := number(tc.in); got != tc.want {
			t.Errorf("number(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func figuresOf(t *testing.T) []*figure {
	t.Helper()
	var fs figures
	for _, v := range []float64{300, 320, 280} {
		fs.add(sideFlotilla, "add", "MiB/s", kindThroughput, v, false)
	}
	for _, v := range []float64{150, 160, 140} {
		fs.add(sideIncumbent, "add", "MiB/s", kindThroughput, v, false)
	}
	// A wait that hit its 60 s cap on the incumbent in two runs of three.
	for _, v := range []float64{10, 12, 11} {
		fs.add(sideFlotilla, "replicated", "s", kindLatency, v, false)
	}
	fs.add(sideIncumbent, "replicated", "s", kindLatency, 60, true)
	fs.add(sideIncumbent, "replicated", "s", kindLatency, 45, false)
	fs.add(sideIncumbent, "replicated", "s", kindLatency, 60, true)
	// Not served by flotilla yet.
	fs.note(sideFlotilla, "cluster add", "s", kindLatency, "n/a: HTTP 501: not implemented")
	fs.add(sideIncumbent, "cluster add", "s", kindLatency, 2.5, false)
	return fs.finish()
}

func TestFiguresFinish(t *testing.T) {
	figs := figuresOf(t)
	if len(figs) != 3 || figs[0].Name != "add" || figs[1].Name != "replicated" || figs[2].Name != "cluster add" {
		t.Fatalf("figures = %v, want add, replicated, cluster add in order", figs)
	}
	if got := figs[0].Ratio; got != 2 {
		t.Errorf("add ratio = %v, want 300/150 = 2", got)
	}
	if figs[0].Flotilla.Capped != nil {
		t.Errorf("add: Capped = %v, want nil without capped samples", figs[0].Flotilla.Capped)
	}
	if !math.IsNaN(figs[2].Ratio) {
		t.Errorf("cluster add ratio = %v, want NaN (flotilla has no sample)", figs[2].Ratio)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	writeTable(&buf, figuresOf(t))
	lines := strings.Split(buf.String(), "\n")
	want := []struct{ name, flotilla, incumbent, ratio string }{
		{"add [MiB/s ↑]", "300 (280–320)", "150 (140–160)", "2.00"},
		// The incumbent's median is a capped sample: at least 60 s, so the
		// ratio is at most 11/60.
		{"replicated [s ↓]", "11.0 (10.0–12.0)", "≥60.0 (45.0–≥60.0)", "≤0.18"},
		{"cluster add [s ↓]", "n/a", "2.50", "n/a"},
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "name flotilla incumbent ratio" {
		t.Errorf("header = %q", lines[0])
	}
	for i, w := range want {
		line := lines[i+1]
		if !strings.HasPrefix(line, w.name) {
			t.Errorf("line %d = %q, want it to start with %q", i+1, line, w.name)
			continue
		}
		cols := splitColumns(strings.TrimPrefix(line, w.name))
		if len(cols) != 3 || cols[0] != w.flotilla || cols[1] != w.incumbent || cols[2] != w.ratio {
			t.Errorf("line %d = %q: columns %q, want [%q %q %q]", i+1, line, cols, w.flotilla, w.incumbent, w.ratio)
		}
	}
	// Every row has the same width: the columns line up.
	width := len([]rune(lines[0]))
	for _, l := range lines[1:4] {
		if len([]rune(l)) != width {
			t.Errorf("row %q is %d wide, header %d", l, len([]rune(l)), width)
		}
	}
	if !strings.Contains(buf.String(), "cluster add, flotilla: n/a: HTTP 501: not implemented") {
		t.Errorf("the note of a missing figure is not printed:\n%s", buf.String())
	}
}

// splitColumns splits on runs of two or more spaces.
func splitColumns(s string) []string {
	var out []string
	for _, f := range strings.Split(strings.TrimSpace(s), "  ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func TestCellMarksCappedExtremes(t *testing.T) {
	var fs figures
	fs.add(sideIncumbent, "repair", "s", kindLatency, 101, true)
	fs.add(sideIncumbent, "repair", "s", kindLatency, 103, true)
	if got := fs.finish()[0].Incumbent.cell(); got != "≥102 (≥101–≥103)" {
		t.Errorf("cell = %q, want every capped figure marked", got)
	}
}

func TestRatioCellBounds(t *testing.T) {
	f := &figure{Kind: kindLatency, Ratio: 0.5,
		Flotilla:  series{Samples: []float64{30}, Capped: []bool{true}},
		Incumbent: series{Samples: []float64{60}, Capped: []bool{true}}}
	f.Flotilla.Summary.Median, f.Incumbent.Summary.Median = 30, 60
	if got := f.ratioCell(); got != "?0.50" {
		t.Errorf("both capped: ratioCell = %q, want ?0.50", got)
	}
	f.Incumbent.Capped = []bool{false}
	if got := f.ratioCell(); got != "≥0.50" {
		t.Errorf("flotilla capped: ratioCell = %q, want ≥0.50", got)
	}
}

func TestFigureJSONWritesNaNAsNull(t *testing.T) {
	raw, err := json.Marshal(figuresOf(t)[2])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"ratio":null`) || !strings.Contains(string(raw), `"name":"cluster add"`) {
		t.Errorf("json = %s, want a null ratio and the fields", raw)
	}
}

func TestFigureJSONRoundTrip(t *testing.T) {
	figs := figuresOf(t)
	path := filepath.Join(t.TempDir(), "r.json")
	if err := writeJSON(path, &results{Mode: "quick", Figures: figs}); err != nil {
		t.Fatal(err)
	}
	r, err := readJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Figures) != len(figs) {
		t.Fatalf("read %d figures, wrote %d", len(r.Figures), len(figs))
	}
	var a, b bytes.Buffer
	writeTable(&a, figs)
	writeTable(&b, r.Figures)
	if a.String() != b.String() {
		t.Errorf("the table of the figures read back differs:\n%s\nwant:\n%s", b.String(), a.String())
	}
}
