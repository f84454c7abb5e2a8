package report

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// HTMLFile is the report.html a run directory holds.
const HTMLFile = "report.html"

// HTML is one run's report.html: scenario, verdict, topology, the
// per-second charts with each fault's window shaded and its recovery
// marked, the per-fault before/during/after table, the invariants, SLOs and
// host. It is one self-contained file: inline CSS and SVG, no script, and a
// Content-Security-Policy that forbids the page any request.
func HTML(r *Report) ([]byte, error) {
	var figs []figure
	if len(r.Timeline) > 0 {
		for _, c := range charts(r) {
			svg, err := c.svg(r)
			if err != nil {
				return nil, fmt.Errorf("html: %s: %w", c.id, err)
			}
			figs = append(figs, figure{ID: "chart-" + c.id, Title: c.title, SVG: template.HTML(svg)})
		}
	}
	var b bytes.Buffer
	err := runPage.Execute(&b, struct {
		R        *Report
		Figures  []figure
		Topology topology
		Shaded   int
	}{r, figs, topologyOf(r.Nodes), shaded(r)})
	if err != nil {
		return nil, fmt.Errorf("html: %w", err)
	}
	return b.Bytes(), nil
}

// IndexHTML is the report.html of several runs (`run --all`): the verdict
// table, each scenario linking its own report.html in the directory named
// after it.
func IndexHTML(reps ...*Report) ([]byte, error) {
	var b bytes.Buffer
	if err := indexPage.Execute(&b, reps); err != nil {
		return nil, fmt.Errorf("html: %w", err)
	}
	return b.Bytes(), nil
}

// WriteHTML writes report.html into dir: one run's page, or for several
// runs the index of them.
func WriteHTML(dir string, reps ...*Report) error {
	var page []byte
	var err error
	if len(reps) == 1 {
		page, err = HTML(reps[0])
	} else {
		page, err = IndexHTML(reps...)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, HTMLFile), page, 0o644)
	}
	if err != nil {
		return fmt.Errorf("html: write: %w", err)
	}
	return nil
}

type figure struct {
	ID, Title string
	SVG       template.HTML
}

// shaded counts the faults whose window the charts shade.
func shaded(r *Report) int {
	n := 0
	for _, f := range r.Faults {
		if f.EndS > f.StartS {
			n++
		}
	}
	return n
}

// topology is the nodes as a grid: a row per service, a column per AZ.
type topology struct {
	AZs  []string
	Rows []topologyRow
}

type topologyRow struct {
	Service string
	Cells   [][]Node // per AZ
}

func topologyOf(nodes []Node) topology {
	var t topology
	azs, services := map[string]int{}, map[string]int{}
	for _, n := range nodes {
		if _, ok := azs[n.AZ]; !ok {
			azs[n.AZ] = 0
			t.AZs = append(t.AZs, n.AZ)
		}
		if _, ok := services[n.Service]; !ok {
			services[n.Service] = 0
			t.Rows = append(t.Rows, topologyRow{Service: n.Service})
		}
	}
	sort.Strings(t.AZs)
	for i, az := range t.AZs {
		azs[az] = i
	}
	for i := range t.Rows {
		services[t.Rows[i].Service] = i
		t.Rows[i].Cells = make([][]Node, len(t.AZs))
	}
	for _, n := range nodes {
		row := &t.Rows[services[n.Service]]
		row.Cells[azs[n.AZ]] = append(row.Cells[azs[n.AZ]], n)
	}
	return t
}

var funcs = template.FuncMap{
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"pct":   func(v float64) string { return fmt.Sprintf("%.0f%%", v*100) },
	"upper": strings.ToUpper,
	"join":  strings.Join,
	"state": func(s string) string {
		switch s {
		case StatusPass:
			return "pass"
		case StatusFail:
			return "fail"
		}
		return "unsure"
	},
	"verdict": func(v string) string {
		switch v {
		case VerdictPass:
			return "pass"
		case VerdictFail:
			return "fail"
		}
		return "unsure"
	},
	"rto": func(f Fault) string {
		switch {
		case f.RTOOK == nil:
			return ""
		case *f.RTOOK:
			return "pass"
		}
		return "fail"
	},
}

const style = `<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f5f5f5}
.badge{display:inline-block;padding:.15em .6em;border-radius:.3em;font-weight:bold;color:#fff}
.pass{background:#2e7d32}.fail{background:#c62828}.unsure{background:#ef6c00}
td.pass,td.fail,td.unsure{color:#fff;font-weight:bold}
figure{margin:.5em 0}figure svg{width:100%;height:auto}
.meta{color:#555}.small{font-size:.85em;color:#555}ul{margin:.3em 0}
</style>`

// CSP is the <meta> that forbids a self-contained page any request.
const CSP = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`

var runPage = template.Must(template.New("run").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">` + CSP + `
<title>paysim {{.R.Scenario}}: {{.R.Verdict}}</title>` + style + `</head><body>
<h1>paysim · {{.R.Scenario}} <span id="verdict" class="badge {{verdict .R.Verdict}}">{{upper .R.Verdict}}</span></h1>
<p class="meta">mode {{.R.Mode}} · seed {{.R.Seed}} · started {{.R.StartedAt.Format "2006-01-02 15:04:05 MST"}} · {{f1 .R.DurationS}} s · target {{f1 .R.TargetRate}}/s{{if .R.PoissonArrivals}} (poisson arrivals){{end}} · setup {{f1 .R.SetupS}} s{{if .R.RunID}} · run {{.R.RunID}}{{end}}{{if .R.Bugs}} · seeded bugs: {{join .R.Bugs ", "}}{{end}}</p>
{{if .R.Error}}<p><b>error:</b> {{.R.Error}}</p>{{end}}
{{if .R.Interrupted}}<p><b>interrupted:</b> the report is partial{{if .R.StoppedBy}} (stopped by {{.R.StoppedBy}}){{end}}</p>{{end}}
{{if .R.Reasons}}<ul id="reasons">{{range .R.Reasons}}<li>{{.}}</li>{{end}}</ul>{{end}}
<table id="totals"><tr><th>requests</th><th>ok</th><th>failed (4xx)</th><th>unknown</th><th>ok/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>RTO s</th><th>RPO (lost payments)</th></tr>
<tr><td class="n">{{.R.Requests.Total}}</td><td class="n">{{.R.Requests.OK}}</td><td class="n">{{.R.Requests.Failed}}</td><td class="n">{{.R.Requests.Unknown}}</td><td class="n">{{f1 .R.ThroughputRPS}}</td><td class="n">{{f1 .R.LatencyMS.P50}}</td><td class="n">{{f1 .R.LatencyMS.P95}}</td><td class="n">{{f1 .R.LatencyMS.P99}}</td><td class="n">{{f1 .R.LatencyMS.Max}}</td><td class="n">{{f1 .R.Recovery.RTOS}}</td><td class="n">{{.R.Recovery.RPOLostPayments}}</td></tr></table>

<h2>Over time</h2>
{{if .Figures}}<p class="small">One point a second. Shaded: a fault's window ({{.Shaded}} shaded); dashed red: where the traffic had recovered (start + RTO).</p>
{{range .Figures}}<figure id="{{.ID}}" data-fault-windows="{{$.Shaded}}">{{.SVG}}</figure>
{{end}}{{else}}<p>No timeline: the run sent no load.</p>{{end}}

<h2>Faults</h2>
{{if .R.Faults}}<table id="faults"><tr><th>fault</th><th>target</th><th>window s</th><th>RTO s</th><th>bound s</th><th>before: ok/s · p99 · errors</th><th>during</th><th>after</th><th>error</th></tr>
{{range .R.Faults}}<tr><td>{{.Kind}}{{if .Manual}} (by hand){{end}}</td><td>{{.Target}}</td><td class="n">{{f1 .StartS}} – {{f1 .EndS}}</td><td class="n {{rto .}}">{{f1 .RTOS}}</td><td class="n">{{if .RTOBoundS}}{{f1 .RTOBoundS}}{{end}}</td>
<td class="n">{{with .Before}}{{f1 .OKRPS}} · {{f1 .P99MS}} ms · {{.Errors}}{{end}}</td><td class="n">{{with .During}}{{f1 .OKRPS}} · {{f1 .P99MS}} ms · {{.Errors}}{{end}}</td><td class="n">{{with .After}}{{f1 .OKRPS}} · {{f1 .P99MS}} ms · {{.Errors}}{{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{else}}<p>No faults in this scenario.</p>{{end}}

<h2>Invariants</h2>
<table id="invariants"><tr><th>invariant</th><th>status</th><th>checked</th><th>violations</th><th>detail</th></tr>
{{range .R.Invariants}}<tr><td>{{.Name}}</td><td class="{{state .State}}">{{.State}}</td><td class="n">{{.Checked}}</td><td class="n">{{.Violations}}</td><td>{{.Detail}}{{if .Needs}} (needs {{.Needs}}){{end}}{{if .Examples}}<ul class="small">{{range .Examples}}<li>{{.}}</li>{{end}}</ul>{{end}}</td></tr>
{{end}}</table>

<h2>SLOs</h2>
<table id="slos"><tr><th>objective</th><th>status</th><th>target</th><th>actual</th><th>detail</th></tr>
{{range .R.SLOs}}<tr><td>{{.Name}}</td><td class="{{state .State}}">{{.State}}</td><td>{{.Target}}</td><td class="n">{{printf "%.4g" .Actual}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>

<h2>Topology</h2>
{{if .Topology.AZs}}<table id="topology"><tr><th>service</th>{{range .Topology.AZs}}<th>{{.}}</th>{{end}}</tr>
{{range .Topology.Rows}}<tr><td>{{.Service}}</td>{{range .Cells}}<td>{{range .}}<div title="{{.Image}} {{.Version}}">{{.ID}} <span class="small">{{.Version}}</span></div>{{end}}</td>{{end}}</tr>
{{end}}</table>{{else}}<p>The report names no nodes.</p>{{end}}

<h2>Host</h2>
{{with .R.Host}}<table id="host"><tr><th>cores</th><th>paysim CPU</th><th>host busy</th><th>loadgen lateness p99 / max ms</th><th>scheduler p99 ms</th><th>held back by a full worker pool (latest ms)</th><th>not sent</th><th>saturated</th></tr>
<tr><td class="n">{{.Cores}}</td><td class="n">{{pct .CPUUsed}}</td><td class="n">{{if ge .HostCPUBusy 0.0}}{{pct .HostCPUBusy}}{{else}}n/a{{end}}</td><td class="n">{{f1 .LoadgenLatenessP99MS}} / {{f1 .LoadgenLatenessMaxMS}}</td><td class="n">{{f1 .SchedLatencyP99MS}}</td><td class="n">{{.LoadgenPoolFull}}{{if .LoadgenPoolFull}} ({{f1 .LoadgenPoolFullLateMaxMS}}){{end}}</td><td class="n">{{.NotSent}}</td><td class="{{if .Saturated}}unsure{{else}}pass{{end}}">{{if .Saturated}}yes: {{.Reason}}{{else}}no{{end}}</td></tr></table>{{else}}<p>Not measured.</p>{{end}}
{{with .R.Drain}}<p>Drain before the checks: {{f1 .ActualS}} s of {{f1 .BoundS}} s{{if not .Complete}}, incomplete: {{.Pending}}{{end}}.</p>{{end}}
</body></html>
`))

var indexPage = template.Must(template.New("index").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">` + CSP + `
<title>paysim: {{len .}} runs</title>` + style + `</head><body>
<h1>paysim · {{len .}} runs</h1>
<table id="runs"><tr><th>scenario</th><th>mode</th><th>verdict</th><th>ok/s</th><th>p99 ms</th><th>RTO s</th><th>RPO (lost)</th><th>why</th></tr>
{{range .}}<tr><td><a href="{{.Scenario}}/report.html">{{.Scenario}}</a></td><td>{{.Mode}}</td><td class="{{verdict .Verdict}}">{{.Verdict}}</td><td class="n">{{f1 .ThroughputRPS}}</td><td class="n">{{f1 .LatencyMS.P99}}</td><td class="n">{{f1 .Recovery.RTOS}}</td><td class="n">{{.Recovery.RPOLostPayments}}</td><td>{{join .Reasons "; "}}</td></tr>
{{end}}</table>
</body></html>
`))
