// Package stats summarises repeated measurements: the median and the
// spread (min–max) that the benchmark tables print.
package stats

import (
	"math"
	"slices"
)

// Summary is what a table shows of repeated samples of one figure.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize returns the median, min and max of v; a zero Summary (N 0)
// when v is empty. NaN samples are ignored.
func Summarize(v []float64) Summary {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return Summary{}
	}
	slices.Sort(s)
	return Summary{N: len(s), Median: median(s), Min: s[0], Max: s[len(s)-1]}
}

// Median returns the median of v (the mean of the two middle samples for
// an even count), or NaN when v is empty.
func Median(v []float64) float64 {
	s := Summarize(v)
	if s.N == 0 {
		return math.NaN()
	}
	return s.Median
}

// median of sorted, non-empty s.
func median(s []float64) float64 {
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Spread is (max-min)/median: how far apart the samples are relative to
// the figure; 0 for a single sample or a zero median.
func (s Summary) Spread() float64 {
	if s.N < 2 || s.Median == 0 {
		return 0
	}
	return (s.Max - s.Min) / math.Abs(s.Median)
}

// Ratio is a/b, or NaN when either is missing (N 0) or b is 0.
func Ratio(a, b Summary) float64 {
	if a.N == 0 || b.N == 0 || b.Median == 0 {
		return math.NaN()
	}
	return a.Median / b.Median
}

// Percentile returns the p-th percentile (0 < p <= 100) of v by the
// nearest-rank method: the smallest sample with at least p % of the
// samples at or below it (p 50 of an even count is the lower middle
// sample, not a mean; p 100 is the largest). NaN when v is empty; NaN
// samples are ignored.
func Percentile(v []float64, p float64) float64 {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 || !(p > 0 && p <= 100) {
		return math.NaN()
	}
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(1, rank)-1]
}
