package capacity

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"paysim/report"
)

// HTMLFile is the capacity.html a capacity directory holds: the knee charts
// and the results, one self-contained file.
const HTMLFile = "capacity.html"

var phaseColour = map[string]color.Color{
	PhaseAllAZs:    color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	PhaseOneAZDown: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// kneeSVG draws y(step) against the offered rate, a line and points per
// phase, the steps not sustained hollow.
func (r *Result) kneeSVG(title, ylabel string, logY bool, y func(Step) float64, diagonal bool) (string, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "offered rate (operations/s)"
	p.Y.Label.Text = ylabel
	p.Legend.Top, p.Legend.Left = true, true
	report.ChartStyle(p)
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	top := 1.0
	for _, s := range r.Steps {
		top = math.Max(top, s.Rate)
	}
	if diagonal {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: top, Y: top}})
		if err != nil {
			return "", fmt.Errorf("capacity: chart: %w", err)
		}
		l.Color = color.Gray{Y: 0xa0}
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("answered = offered", l)
	}
	for _, phase := range []string{PhaseAllAZs, PhaseOneAZDown} {
		var steps []Step
		for _, s := range r.Steps {
			if s.Phase == phase {
				steps = append(steps, s)
			}
		}
		if len(steps) == 0 {
			continue
		}
		sort.Slice(steps, func(i, j int) bool { return steps[i].Rate < steps[j].Rate })
		xys := make(plotter.XYs, len(steps))
		for i, s := range steps {
			v := y(s)
			if logY {
				v = math.Max(v, 0.1)
			}
			xys[i] = plotter.XY{X: s.Rate, Y: v}
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return "", fmt.Errorf("capacity: chart: %w", err)
		}
		l.Color, pts.Color = phaseColour[phase], phaseColour[phase]
		pts.Shape = draw.CircleGlyph{}
		p.Add(l, pts)
		p.Legend.Add(phase, l, pts)
		for i, s := range steps {
			if !s.Sustained {
				g, err := plotter.NewScatter(plotter.XYs{xys[i]})
				if err != nil {
					return "", fmt.Errorf("capacity: chart: %w", err)
				}
				g.Shape, g.Radius, g.Color = draw.RingGlyph{}, vg.Points(6), phaseColour[phase]
				p.Add(g)
			}
		}
	}
	out, err := report.InlineSVG(p, 18*vg.Centimeter, 8*vg.Centimeter)
	if err != nil {
		return "", fmt.Errorf("capacity: %w", err)
	}
	return out, nil
}

// HTML is capacity.html: the knee charts, then the text results.
func (r *Result) HTML() ([]byte, error) {
	answered, err := r.kneeSVG("Answered against offered", "answered/s", false, func(s Step) float64 { return s.AnsweredPS }, true)
	if err != nil {
		return nil, err
	}
	p99, err := r.kneeSVG("p99 against offered", "p99 ms (log scale)", true, func(s Step) float64 { return s.P99MS }, false)
	if err != nil {
		return nil, err
	}
	var text bytes.Buffer
	r.Text(&text)
	var b bytes.Buffer
	err = page.Execute(&b, struct {
		R        *Result
		Answered template.HTML
		P99      template.HTML
		Text     string
	}{r, template.HTML(answered), template.HTML(p99), text.String()})
	if err != nil {
		return nil, fmt.Errorf("capacity: html: %w", err)
	}
	return b.Bytes(), nil
}

var page = template.Must(template.New("capacity").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
` + report.CSP + `
<title>paysim capacity: {{.R.Scenario}}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em}figure{margin:.5em 0}figure svg{width:100%;height:auto}pre{white-space:pre-wrap;font-size:12px}</style>
</head><body>
<h1>paysim capacity · {{.R.Scenario}} ({{.R.Mode}})</h1>
<p>max_rate <b id="max-rate">{{printf "%.0f" .R.MaxRate}}/s</b> with every AZ, <b id="max-rate-one-az-down">{{printf "%.0f" .R.MaxRateOneAZDown}}/s</b> with one AZ lost. Hollow rings: steps not sustained.</p>
<figure id="chart-answered">{{.Answered}}</figure>
<figure id="chart-p99">{{.P99}}</figure>
<pre>{{.Text}}</pre>
</body></html>
`))
