package stats

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Summary
	}{
		{nil, Summary{}},
		{[]float64{math.NaN()}, Summary{}},
		{[]float64{3}, Summary{N: 1, Median: 3, Min: 3, Max: 3}},
		{[]float64{5, 1, 3}, Summary{N: 3, Median: 3, Min: 1, Max: 5}},
		{[]float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
		{[]float64{2, math.NaN(), 4}, Summary{N: 2, Median: 3, Min: 2, Max: 4}},
	} {
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestSummarizeLeavesInputAlone(t *testing.T) {
	in := []float64{3, 1, 2}
	Summarize(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("Summarize sorted its input: %v", in)
	}
}

func TestMedianEmpty(t *testing.T) {
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		s    Summary
		want float64
	}{
		{Summary{N: 1, Median: 10, Min: 10, Max: 10}, 0},
		{Summary{N: 3, Median: 10, Min: 8, Max: 13}, 0.5},
		{Summary{N: 3, Median: 0, Min: -1, Max: 1}, 0},
	} {
		if got := tc.s.Spread(); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%+v.Spread() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	a := Summary{N: 3, Median: 6}
	b := Summary{N: 3, Median: 3}
	if got := Ratio(a, b); got != 2 {
		t.Errorf("Ratio(6, 3) = %v, want 2", got)
	}
	for _, tc := range []struct{ a, b Summary }{{Summary{}, b}, {a, Summary{}}, {a, Summary{N: 1}}} {
		if got := Ratio(tc.a, tc.b); !math.IsNaN(got) {
			t.Errorf("Ratio(%+v, %+v) = %v, want NaN", tc.a, tc.b, got)
		}
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[99-i] = float64(i + 1) // 100 … 1: unsorted input
	}
	for _, tc := range []struct {
		in   []float64
		p    float64
		want float64
	}{
		{hundred, 50, 50}, {hundred, 99, 99}, {hundred, 100, 100}, {hundred, 1, 1}, {hundred, 0.5, 1},
		{[]float64{7}, 99, 7},
		{[]float64{4, 1, 3, 2}, 50, 2},
		{[]float64{4, 1, 3, 2}, 99, 4},
		{[]float64{1, math.NaN(), 3}, 50, 1},
	} {
		if got := Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%v…, %v) = %v, want %v", tc.in[:min(4, len(tc.in))], tc.p, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in []float64
		p  float64
	}{{nil, 50}, {[]float64{math.NaN()}, 50}, {hundred, 0}, {hundred, 101}} {
		if got := Percentile(tc.in, tc.p); !math.IsNaN(got) {
			t.Errorf("Percentile(%d samples, %v) = %v, want NaN", len(tc.in), tc.p, got)
		}
	}
	if hundred[0] != 100 {
		t.Error("Percentile sorted its input")
	}
}
