package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chart is one PNG: the figures of some kinds as flotilla ÷ incumbent.
type chart struct {
	file  string
	title string
	kinds []string
	xname string
}

var charts = []chart{
	{"compare-throughput.png", "Throughput: flotilla ÷ IPFS Cluster + kubo (right of 1: flotilla does more)",
		[]string{kindThroughput}, "flotilla ÷ incumbent, medians, log scale; whiskers: the extremes of the runs"},
	{"compare-latency.png", "Latency and time to a state: flotilla ÷ IPFS Cluster + kubo (left of 1: flotilla is faster)",
		[]string{kindLatency}, "flotilla ÷ incumbent, medians, log scale; whiskers: the extremes of the runs"},
	{"compare-resources.png", "Memory and CPU: flotilla ÷ IPFS Cluster + kubo (left of 1: flotilla uses less)",
		[]string{kindResources}, "flotilla ÷ incumbent, medians, log scale; whiskers: the extremes of the runs"},
}

// writeCharts draws the charts into dir and returns the files written.
// A chart shows a dot per figure with both sides measured: the ratio of
// the medians, with whiskers from the smallest to the largest ratio the
// runs' extremes allow; a line marks parity.
func writeCharts(dir string, figs []*figure, res *results) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, ch := range charts {
		var rows []ratioRow
		for _, f := range figs {
			if !contains(ch.kinds, f.Kind) || math.IsNaN(f.Ratio) || f.Ratio <= 0 {
				continue
			}
			fl, in := f.Flotilla.Summary, f.Incumbent.Summary
			r := ratioRow{label: f.Name + " [" + f.Unit + "]", ratio: f.Ratio, lo: f.Ratio, hi: f.Ratio}
			if fl.Min > 0 && in.Max > 0 && in.Min > 0 {
				r.lo, r.hi = fl.Min/in.Max, fl.Max/in.Min
			}
			if b := f.ratioCell(); strings.HasPrefix(b, "≥") || strings.HasPrefix(b, "≤") || strings.HasPrefix(b, "?") {
				r.label += " (bound: a wait hit its cap)"
			}
			rows = append(rows, r)
		}
		if len(rows) == 0 {
			continue
		}
		p, err := ratioPlot(ch, rows, res)
		if err != nil {
			return written, err
		}
		path := filepath.Join(dir, ch.file)
		h := vg.Length(1.8+0.28*float64(len(rows))) * vg.Inch
		if err := savePNG(p, rows, 12*vg.Inch, h, path); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ratioRow is one dot of a chart.
type ratioRow struct {
	label         string
	ratio, lo, hi float64
}

// ratioPoints adapts rows to plotter.XYer and plotter.XErrorer, the
// first row at the top.
type ratioPoints []ratioRow

func (r ratioPoints) Len() int { return len(r) }
func (r ratioPoints) XY(i int) (float64, float64) {
	return r[i].ratio, float64(len(r) - 1 - i)
}
func (r ratioPoints) XError(i int) (float64, float64) {
	return r[i].ratio - min(r[i].lo, r[i].ratio), max(r[i].hi, r[i].ratio) - r[i].ratio
}

func ratioPlot(ch chart, rows []ratioRow, res *results) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = ch.title
	p.Title.Text += "\n" + fmt.Sprintf("%s mode, %d run(s), %s CPUs (%s)", res.Mode, res.Runs, res.Machine["cpus"], res.Machine["cpu"])
	p.X.Label.Text = ch.xname
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = ratioTicks{}
	lo, hi := 1.0, 1.0
	for _, r := range rows {
		lo, hi = min(lo, r.lo, r.ratio), max(hi, r.hi, r.ratio)
	}
	p.X.Min, p.X.Max = lo/1.6, hi*1.6
	p.Y.Min, p.Y.Max = -0.7, float64(len(rows))-0.3

	parity, err := plotter.NewLine(plotter.XYs{{X: 1, Y: p.Y.Min}, {X: 1, Y: p.Y.Max}})
	if err != nil {
		return nil, err
	}
	parity.Color = color.Gray{Y: 120}
	parity.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}

	pts := ratioPoints(rows)
	whiskers, err := plotter.NewXErrorBars(pts)
	if err != nil {
		return nil, err
	}
	whiskers.Color = color.RGBA{R: 40, G: 90, B: 170, A: 255}
	dots, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	dots.GlyphStyle = draw.GlyphStyle{Color: color.RGBA{R: 20, G: 60, B: 150, A: 255}, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}

	labels := make([]string, len(rows))
	for i, r := range rows {
		labels[len(rows)-1-i] = fmt.Sprintf("%s  %s×", r.label, number(r.ratio))
	}
	p.NominalY(labels...)
	p.Y.Min, p.Y.Max = -0.7, float64(len(rows))-0.3
	p.Add(plotter.NewGrid(), parity, whiskers, dots)
	return p, nil
}

// ratioTicks marks 1, 2 and 5 times the powers of ten in the range, so
// that a narrow log range still has labels.
type ratioTicks struct{}

func (ratioTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return ticks
}

// savePNG draws p into a PNG of w×h. gonum/plot measures the row labels
// a little narrower than its rasteriser draws them; the canvas is cropped
// on the left by that difference so that long labels are not cut.
func savePNG(p *plot.Plot, rows []ratioRow, w, h vg.Length, path string) error {
	var widest vg.Length
	for _, r := range rows {
		widest = max(widest, p.Y.Tick.Label.Width(r.label+"  00.00×"))
	}
	img := vgimg.New(w, h)
	p.Draw(draw.Crop(draw.New(img), widest*0.12, 0, 0, 0))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
