package report

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"paysim/report/reporttest"
)

// drill is a report of a 60 s run at 200/s with the given faults: traffic
// drops to nothing and latency climbs inside each fault's window.
func drill(faults ...Fault) *Report {
	r := &Report{Scenario: "az-outage", Mode: "embedded", Verdict: VerdictPass, TargetRate: 200, DurationS: 60,
		Requests: Requests{Total: 12000, OK: 10000}, Faults: faults,
		Invariants: []Invariant{{Name: "durability", OK: true, Status: StatusPass, Checked: 10000, Detail: "all present"}},
		SLOs:       []SLO{{Name: "rto", Target: "15s", Actual: 10, OK: true, Status: StatusPass}},
		Nodes: []Node{{ID: "app-1a", Service: "app", AZ: "ap-northeast-1a", Version: "paysim"},
			{ID: "mysql-1c", Service: "mysql", AZ: "ap-northeast-1c", Image: "paysim/data:x", Version: "10.11.14-MariaDB"}},
		Host: &Host{Cores: 2, CPUUsed: 0.4, HostCPUBusy: 0.45},
	}
	for s := 1; s <= 60; s++ {
		p := Point{TS: float64(s), RPS: 200, OK: 200, P50MS: 2, P99MS: 12}
		for _, f := range faults {
			if float64(s) > f.StartS && float64(s) <= f.StartS+f.RTOS {
				p.OK, p.Errors, p.P50MS, p.P99MS = 0, 200, 900, 1000
			}
		}
		r.Timeline = append(r.Timeline, p)
	}
	return r
}

func TestHTML(t *testing.T) {
	outage := drill(Fault{Kind: "az-outage", Target: "ap-northeast-1a", StartS: 20, EndS: 50, RTOS: 10})
	errored := &Report{Scenario: "az-outage", Verdict: VerdictFail, Error: "setup: no Docker engine"}
	tests := []struct {
		name      string
		rep       *Report
		want      []string
		wantNot   []string
		wantShade int // fault windows shaded in each chart
	}{
		{"a drill: charts, shading, RTO and tables", outage,
			[]string{`id="chart-throughput"`, `id="chart-errors"`, `id="chart-latency"`, `>az-outage</text>`, `>RTO 10.0s</text>`,
				`id="faults"`, `id="invariants"`, `id="slos"`, `id="topology"`, `10.11.14-MariaDB`, `id="host"`, `>p50</text>`},
			nil, 1},
		{"a run with no load: no charts, the error said", errored,
			[]string{"No timeline", "setup: no Docker engine", "No faults"}, []string{"<svg"}, 0},
		{"a report from before p50 was recorded draws p99 alone", func() *Report {
			r := drill()
			for i := range r.Timeline {
				r.Timeline[i].P50MS = 0
			}
			return r
		}(), []string{`>p99</text>`}, []string{`>p50</text>`}, 0},
	}
	shade := regexp.MustCompile(`style="fill:#FADBD8"`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := HTML(tt.rep)
			if err != nil {
				t.Fatal(err)
			}
			s := string(page)
			for _, w := range append(tt.want, `http-equiv="Content-Security-Policy" content="default-src 'none'`) {
				if !strings.Contains(s, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range append(tt.wantNot, "<script", "<link", "src=") {
				if strings.Contains(s, w) {
					t.Errorf("page has %q", w)
				}
			}
			if got, want := len(shade.FindAllString(s, -1)), 3*tt.wantShade; len(strings.Split(s, "<svg"))-1 == 3 && got != want {
				t.Errorf("%d shaded windows in the charts, want %d", got, want)
			}
		})
	}
}

func TestWriteHTMLIndexLinksEachRun(t *testing.T) {
	dir := t.TempDir()
	a, b := drill(), drill()
	b.Scenario, b.Verdict, b.Reasons = "baseline", VerdictFail, []string{"slo p99: 300 against 200ms"}
	if err := WriteHTML(dir, a, b); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`<a href="az-outage/report.html">`, `<a href="baseline/report.html">`, "slo p99: 300 against 200ms"} {
		if !strings.Contains(string(raw), w) {
			t.Errorf("index lacks %q", w)
		}
	}
}

// TestHTMLInChromium: Chromium draws every chart with each fault's window
// shaded where the fault was (a wider window, a wider shade), marks the
// recovery, and the page asks for nothing on the network.
func TestHTMLInChromium(t *testing.T) {
	r := drill(Fault{Kind: "node-kill", Target: "mysql-1a", StartS: 10, EndS: 15, RTOS: 3},
		Fault{Kind: "az-outage", Target: "ap-northeast-1a", StartS: 30, EndS: 40, RTOS: 6})
	dir := t.TempDir()
	if err := WriteHTML(dir, r); err != nil {
		t.Fatal(err)
	}
	page := reporttest.Browse(t, filepath.Join(dir, HTMLFile))
	if len(page.Requests) > 0 {
		t.Fatalf("the page made network requests: %q", page.Requests)
	}
	for _, id := range []string{"chart-throughput", "chart-errors", "chart-latency"} {
		// Each shaded window as drawn: left, top, width, height.
		shades := reporttest.Eval[[][4]float64](t, page, `[...document.querySelectorAll('#`+id+` svg path')]
			.filter(p => getComputedStyle(p).fill === 'rgb(250, 219, 216)')
			.map(p => { const r = p.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })`)
		if len(shades) != 2 {
			t.Fatalf("%s: %d shaded windows drawn, want 2", id, len(shades))
		}
		a, b := shades[0], shades[1]
		if ratio := b[2] / a[2]; math.Abs(ratio-2) > 0.1 || b[0] <= a[0]+a[2] || a[3] < 100 {
			t.Errorf("%s: shades %v and %v: the 10 s window is %.2f× the 5 s one and should lie after it", id, a, b, ratio)
		}
		// Chromium painted them: the screenshot holds the shade's colour
		// over most of each window (lines and grid cross it).
		for _, s := range shades {
			rect := image.Rect(int(s[0]), int(s[1]), int(s[0]+s[2]), int(s[1]+s[3]))
			if n, area := page.Pixels(t, FaultShade, rect), rect.Dx()*rect.Dy(); float64(n) < 0.5*float64(area) {
				t.Errorf("%s: %d of %d pixels of the window %v painted in the shade", id, n, area, rect)
			}
		}
		texts := reporttest.Eval[[]string](t, page, `[...document.querySelectorAll('#`+id+` svg text')].map(t => t.textContent)`)
		for _, w := range []string{"node-kill", "az-outage", "RTO 3.0s", "RTO 6.0s"} {
			if !strings.Contains(strings.Join(texts, "|"), w) {
				t.Errorf("%s: no label %q among %q", id, w, texts)
			}
		}
	}
	if v := reporttest.Eval[string](t, page, `document.getElementById('verdict').textContent`); v != "PASS" {
		t.Errorf("verdict badge %q", v)
	}
}

// TestBrowseSeesRequests: the browser check itself catches a page that asks
// for something on the network (sent to a closed loopback port).
func TestBrowseSeesRequests(t *testing.T) {
	p := filepath.Join(t.TempDir(), "leaky.html")
	if err := os.WriteFile(p, []byte(`<!DOCTYPE html><html><body><img src="http://example.invalid/pixel.png"></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	page := reporttest.Browse(t, p)
	if len(page.Requests) != 1 || !strings.Contains(page.Requests[0], "example.invalid/pixel.png") {
		t.Fatalf("requests %q, want the image's", page.Requests)
	}
}
