package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Thresholds are how far run B may fall behind run A before `paysim diff`
// calls it a regression.
type Thresholds struct {
	// Throughput is the largest allowed relative drop of ok/s (0.05: −5%).
	Throughput float64
	// Latency is the largest allowed relative rise of p50 and p99 (0.2:
	// +20%), and LatencyFloor the rise in absolute terms below which a
	// change is noise whatever its ratio (a 4 ms p99 going to 6 ms).
	Latency      float64
	LatencyFloor time.Duration
	// RTO is the largest allowed rise of the worst recovery time.
	RTO time.Duration
	// Errors is the largest allowed rise of the share of unknown outcomes
	// (5xx, timeouts) among requests, in absolute terms (0.01: one point).
	Errors float64
}

// DefaultThresholds are `paysim diff`'s defaults: ok/s −5%, p50 and p99
// +20% and 10 ms, RTO +1 s, error share +1 point.
func DefaultThresholds() Thresholds {
	return Thresholds{Throughput: 0.05, Latency: 0.20, LatencyFloor: 10 * time.Millisecond, RTO: time.Second, Errors: 0.01}
}

// Statuses of one compared figure.
const (
	ChangeOK        = "ok"
	ChangeRegressed = "regressed"
	ChangeImproved  = "improved"
	// ChangeUnjudged is a latency or throughput figure of a run whose host
	// saturated: not a measurement of the system, so not compared.
	ChangeUnjudged = "unjudged"
)

// Diff is `paysim diff`'s answer (its --json form).
type Diff struct {
	A         string     `json:"a"`
	B         string     `json:"b"`
	Regressed bool       `json:"regressed"`
	Pairs     []DiffPair `json:"pairs"`
	// Unpaired names the scenarios only one side ran.
	Unpaired   []string       `json:"unpaired,omitempty"`
	Thresholds DiffThresholds `json:"thresholds"`
}

// DiffThresholds is Thresholds as JSON.
type DiffThresholds struct {
	Throughput     float64 `json:"throughput_drop"`
	Latency        float64 `json:"latency_rise"`
	LatencyFloorMS float64 `json:"latency_floor_ms"`
	RTOS           float64 `json:"rto_rise_s"`
	Errors         float64 `json:"error_share_rise"`
}

// DiffPair is one scenario's two runs compared.
type DiffPair struct {
	ScenarioA  string        `json:"scenario_a"`
	ScenarioB  string        `json:"scenario_b"`
	Regressed  bool          `json:"regressed"`
	Metrics    []MetricDiff  `json:"metrics"`
	Invariants []CheckChange `json:"invariants"`
	Verdict    CheckChange   `json:"verdict"`
	// Unjudged says why latency and throughput were not compared.
	Unjudged string `json:"unjudged,omitempty"`
}

// MetricDiff is one figure in both runs.
type MetricDiff struct {
	Name      string  `json:"name"`
	A         float64 `json:"a"`
	B         float64 `json:"b"`
	Change    string  `json:"change"`    // "+25.0%", "+1.5s"
	Threshold string  `json:"threshold"` // what B may reach
	Status    string  `json:"status"`
}

// CheckChange is one invariant's or the verdict's state in both runs.
type CheckChange struct {
	Name   string `json:"name"`
	A      string `json:"a"`
	B      string `json:"b"`
	Status string `json:"status"`
}

// Compare compares runs B against runs A. One run on each side is
// compared whatever their scenarios (baseline against db-slow-queries);
// several are paired by scenario.
func Compare(nameA, nameB string, a, b []*Report, th Thresholds) Diff {
	d := Diff{A: nameA, B: nameB, Thresholds: DiffThresholds{
		Throughput: th.Throughput, Latency: th.Latency, LatencyFloorMS: MS(th.LatencyFloor), RTOS: th.RTO.Seconds(), Errors: th.Errors}}
	if len(a) == 1 && len(b) == 1 {
		d.Pairs = append(d.Pairs, comparePair(a[0], b[0], th))
	} else {
		byName := map[string]*Report{}
		for _, r := range b {
			byName[r.Scenario] = r
		}
		for _, ra := range a {
			rb, ok := byName[ra.Scenario]
			if !ok {
				d.Unpaired = append(d.Unpaired, ra.Scenario+" (only in A)")
				continue
			}
			delete(byName, ra.Scenario)
			d.Pairs = append(d.Pairs, comparePair(ra, rb, th))
		}
		for name := range byName {
			d.Unpaired = append(d.Unpaired, name+" (only in B)")
		}
		sort.Strings(d.Unpaired)
	}
	for _, p := range d.Pairs {
		d.Regressed = d.Regressed || p.Regressed
	}
	return d
}

func comparePair(a, b *Report, th Thresholds) DiffPair {
	p := DiffPair{ScenarioA: a.Scenario, ScenarioB: b.Scenario}
	switch {
	case a.Host != nil && a.Host.Saturated:
		p.Unjudged = "A's host saturated: " + a.Host.Reason
	case b.Host != nil && b.Host.Saturated:
		p.Unjudged = "B's host saturated: " + b.Host.Reason
	}
	rel := func(name string, va, vb, limit float64, rise bool, floor float64) MetricDiff {
		m := MetricDiff{Name: name, A: va, B: vb, Status: ChangeOK}
		if va != 0 {
			m.Change = fmt.Sprintf("%+.1f%%", 100*(vb-va)/va)
		} else {
			m.Change = fmt.Sprintf("%+.4g", vb-va)
		}
		worse, sign := va-vb, "-" // how much worse B is
		if rise {
			worse, sign = vb-va, "+"
		}
		m.Threshold = fmt.Sprintf("%s%.0f%%", sign, 100*limit)
		if floor > 0 {
			m.Threshold += fmt.Sprintf(" and %s%.4g ms", sign, floor)
		}
		switch {
		case p.Unjudged != "":
			m.Status = ChangeUnjudged
		case worse > limit*va && worse > floor:
			m.Status = ChangeRegressed
		case -worse > limit*va && -worse > floor:
			m.Status = ChangeImproved
		}
		return m
	}
	abs := func(name, unit string, va, vb, limit float64) MetricDiff {
		m := MetricDiff{Name: name, A: va, B: vb, Change: fmt.Sprintf("%+.4g%s", vb-va, unit),
			Threshold: fmt.Sprintf("+%.4g%s", limit, unit), Status: ChangeOK}
		switch {
		case vb-va > limit:
			m.Status = ChangeRegressed
		case va-vb > limit:
			m.Status = ChangeImproved
		}
		return m
	}
	floor := MS(th.LatencyFloor)
	p.Metrics = []MetricDiff{
		rel("ok/s", a.ThroughputRPS, b.ThroughputRPS, th.Throughput, false, 0),
		rel("p50_ms", a.LatencyMS.P50, b.LatencyMS.P50, th.Latency, true, floor),
		rel("p99_ms", a.LatencyMS.P99, b.LatencyMS.P99, th.Latency, true, floor),
		abs("rto_s", "s", a.Recovery.RTOS, b.Recovery.RTOS, th.RTO.Seconds()),
		abs("rpo_lost_payments", "", float64(a.Recovery.RPOLostPayments), float64(b.Recovery.RPOLostPayments), 0),
		abs("error_share", "", errorShare(a), errorShare(b), th.Errors),
	}
	for _, m := range p.Metrics {
		p.Regressed = p.Regressed || m.Status == ChangeRegressed
	}

	states := map[string]string{}
	for _, inv := range a.Invariants {
		states[inv.Name] = inv.State()
	}
	for _, inv := range b.Invariants {
		c := CheckChange{Name: inv.Name, A: states[inv.Name], B: inv.State()}
		if c.A == "" {
			c.A = "absent"
		}
		c.Status = checkChange(c.A == StatusPass, c.A == StatusFail, c.B == StatusPass, c.B == StatusFail)
		p.Invariants = append(p.Invariants, c)
		p.Regressed = p.Regressed || c.Status == ChangeRegressed
	}
	p.Verdict = CheckChange{Name: "verdict", A: a.Verdict, B: b.Verdict}
	p.Verdict.Status = checkChange(a.Verdict == VerdictPass, a.Verdict == VerdictFail, b.Verdict == VerdictPass, b.Verdict == VerdictFail)
	p.Regressed = p.Regressed || p.Verdict.Status == ChangeRegressed
	return p
}

// checkChange: a check that passed in A and failed in B regressed; one
// that failed and now passes improved. A check that could not be judged on
// either side is no change either way.
func checkChange(passA, failA, passB, failB bool) string {
	switch {
	case failB && !failA:
		return ChangeRegressed
	case failA && passB:
		return ChangeImproved
	}
	return ChangeOK
}

// errorShare is the share of requests with an unknown outcome.
func errorShare(r *Report) float64 {
	if r.Requests.Total == 0 {
		return 0
	}
	return float64(r.Requests.Unknown) / float64(r.Requests.Total)
}

// Regressions names what regressed: "p99_ms +85.0% (threshold +20%)".
func (p DiffPair) Regressions() []string {
	var out []string
	for _, m := range p.Metrics {
		if m.Status == ChangeRegressed {
			out = append(out, fmt.Sprintf("%s %s (threshold %s)", m.Name, m.Change, m.Threshold))
		}
	}
	for _, c := range append(p.Invariants, p.Verdict) {
		if c.Status == ChangeRegressed {
			out = append(out, fmt.Sprintf("%s %s → %s", c.Name, c.A, c.B))
		}
	}
	return out
}

// WriteTable prints the comparison for people: per pair, every figure
// with its change and threshold, the invariants and verdict that changed,
// and a last line naming what regressed.
func (d Diff) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "A: %s\nB: %s\n", d.A, d.B)
	var regressed []string
	for _, p := range d.Pairs {
		name := p.ScenarioA
		if p.ScenarioB != p.ScenarioA {
			name += " → " + p.ScenarioB
		}
		fmt.Fprintf(tw, "\n== %s\n", name)
		if p.Unjudged != "" {
			fmt.Fprintf(tw, "latency and throughput not compared: %s\n", p.Unjudged)
		}
		fmt.Fprintln(tw, "figure\tA\tB\tchange\tthreshold\tstatus")
		for _, m := range p.Metrics {
			fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%s\t%s\t%s\n", m.Name, m.A, m.B, m.Change, m.Threshold, strings.ToUpper(m.Status))
		}
		for _, c := range append(p.Invariants, p.Verdict) {
			if c.A != c.B {
				fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t%s\n", c.Name, c.A, c.B, strings.ToUpper(c.Status))
			}
		}
		for _, r := range p.Regressions() {
			regressed = append(regressed, name+": "+r)
		}
	}
	for _, u := range d.Unpaired {
		fmt.Fprintf(tw, "\nnot compared: %s\n", u)
	}
	if len(regressed) > 0 {
		fmt.Fprintf(tw, "\nREGRESSED: %s\n", strings.Join(regressed, "; "))
	} else {
		fmt.Fprintln(tw, "\nno regression")
	}
	return tw.Flush()
}
