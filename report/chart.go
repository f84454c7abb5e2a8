package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart colours. FaultShade is the fill of a fault's window, opaque so a
// screenshot can find it pixel for pixel (the report's browser test does).
var (
	FaultShade = color.RGBA{R: 0xfa, G: 0xdb, B: 0xd8, A: 0xff}
	rtoColour  = color.RGBA{R: 0xc0, G: 0x39, B: 0x2b, A: 0xff}
	seriesA    = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	seriesB    = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

const chartW, chartH = 18 * vg.Centimeter, 6 * vg.Centimeter

// series is one line of a chart.
type series struct {
	name   string
	colour color.Color
	y      func(Point) float64
}

// chart is one per-second chart of the timeline.
type chart struct {
	id, title, unit string
	log             bool // latency: a fault's seconds-long p99 beside a healthy 20 ms
	lines           []series
}

// charts are the report's timeline charts.
func charts(r *Report) []chart {
	lat := []series{{"p99", seriesB, func(p Point) float64 { return p.P99MS }}}
	for _, p := range r.Timeline {
		if p.P50MS > 0 { // older reports did not record it
			lat = append([]series{{"p50", seriesA, func(p Point) float64 { return p.P50MS }}}, lat...)
			break
		}
	}
	return []chart{
		{id: "throughput", title: "Throughput", unit: "operations/s", lines: []series{
			{"completed/s", seriesA, func(p Point) float64 { return p.RPS }},
			{"ok/s", seriesB, func(p Point) float64 { return float64(p.OK) }},
		}},
		{id: "errors", title: "Errors (unknown outcome: 5xx, timeout)", unit: "errors/s", lines: []series{
			{"errors/s", rtoColour, func(p Point) float64 { return float64(p.Errors) }},
		}},
		{id: "latency", title: "Latency", unit: "ms (log scale)", log: true, lines: lat},
	}
}

// minLogMS is the floor of the latency axis: a log axis cannot show 0.
const minLogMS = 0.1

// svg draws c over the run's timeline, each fault's window shaded and
// labelled and its recovery (start + RTO) marked, as an inline <svg>.
func (c chart) svg(r *Report) (string, error) {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text = "seconds since the load started"
	p.Y.Label.Text = c.unit
	p.Legend.Top = true
	p.Legend.Left = true
	ChartStyle(p)

	end := 0.0
	top := 0.0
	for _, pt := range r.Timeline {
		end = max(end, pt.TS)
		for _, s := range c.lines {
			top = max(top, s.y(pt))
		}
	}
	for _, f := range r.Faults {
		end = max(end, f.EndS, f.StartS+f.RTOS)
	}
	bottom := 0.0
	if c.log {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		bottom = minLogMS
		top = math.Max(top*2, 10)
	} else {
		top = math.Max(top*1.15, 1)
	}
	p.X.Min, p.X.Max = 0, math.Max(end, 1)
	p.Y.Min, p.Y.Max = bottom, top

	// Shading first, so the grid and the lines draw over it.
	var labels plotter.XYLabels
	for _, f := range r.Faults {
		if f.EndS <= f.StartS {
			continue // never injected
		}
		shade, err := plotter.NewPolygon(plotter.XYs{{X: f.StartS, Y: bottom}, {X: f.EndS, Y: bottom}, {X: f.EndS, Y: top}, {X: f.StartS, Y: top}})
		if err != nil {
			return "", fmt.Errorf("chart: %w", err)
		}
		shade.Color = FaultShade
		shade.LineStyle.Width = 0
		p.Add(shade)
		labels.XYs = append(labels.XYs, plotter.XY{X: f.StartS, Y: top})
		labels.Labels = append(labels.Labels, f.Kind)
	}
	p.Add(plotter.NewGrid())
	for _, f := range r.Faults {
		if f.EndS <= f.StartS || f.RTOS <= 0 {
			continue
		}
		at := f.StartS + f.RTOS
		mark, err := plotter.NewLine(plotter.XYs{{X: at, Y: bottom}, {X: at, Y: top}})
		if err != nil {
			return "", fmt.Errorf("chart: %w", err)
		}
		mark.Color = rtoColour
		mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(mark)
		labels.XYs = append(labels.XYs, plotter.XY{X: at, Y: top})
		labels.Labels = append(labels.Labels, fmt.Sprintf("RTO %.1fs", f.RTOS))
	}
	for _, s := range c.lines {
		xys := make(plotter.XYs, len(r.Timeline))
		for i, pt := range r.Timeline {
			xys[i] = plotter.XY{X: pt.TS, Y: math.Max(s.y(pt), bottom)}
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return "", fmt.Errorf("chart: %s: %w", s.name, err)
		}
		l.Color = s.colour
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	if len(labels.XYs) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return "", fmt.Errorf("chart: %w", err)
		}
		for i := range l.TextStyle {
			sans(&l.TextStyle[i])
			l.TextStyle[i].YAlign = draw.YTop
			l.TextStyle[i].XAlign = draw.XLeft
		}
		l.Offset = vg.Point{X: vg.Points(2), Y: vg.Points(-2)}
		p.Add(l)
	}

	out, err := InlineSVG(p, chartW, chartH)
	if err != nil {
		return "", err
	}
	return strings.Replace(out, "<svg ", `<svg role="img" aria-label="`+c.title+`" preserveAspectRatio="xMinYMin meet" `, 1), nil
}

// InlineSVG draws a plot as an <svg> element to put inline in HTML: no XML
// prolog.
func InlineSVG(p *plot.Plot, w, h vg.Length) (string, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	out := b.String()
	if i := strings.Index(out, "<svg"); i >= 0 {
		out = out[i:]
	}
	return out, nil
}

// ChartStyle gives a plot the reports' look: sans-serif text, titles a
// little larger than the rest.
func ChartStyle(p *plot.Plot) {
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		sans(st)
	}
	p.Title.TextStyle.Font.Size = vg.Points(12)
}

// sans sets a text style in the page's sans-serif, a little smaller than
// gonum's default.
func sans(st *text.Style) {
	st.Font.Variant = "Sans"
	st.Font.Size = min(st.Font.Size, vg.Points(10))
}
