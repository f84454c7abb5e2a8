package report

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	run := func(edit func(r *Report)) *Report {
		r := &Report{Scenario: "baseline", Verdict: VerdictPass, ThroughputRPS: 200, LatencyMS: Latency{P50: 3, P99: 40},
			Requests: Requests{Total: 10000, OK: 9990, Unknown: 10}, Recovery: Recovery{RTOS: 4},
			Invariants: []Invariant{{Name: "durability", OK: true, Status: StatusPass}, {Name: "unknown-outcomes", Status: StatusNotApplicable}},
			Host:       &Host{}}
		if edit != nil {
			edit(r)
		}
		return r
	}
	tests := []struct {
		name      string
		a, b      []*Report
		regressed []string // what each pair's Regressions name, joined
		unpaired  []string
	}{
		{"the same figures", []*Report{run(nil)}, []*Report{run(nil)}, []string{""}, nil},
		{"noise within the thresholds", []*Report{run(nil)}, []*Report{run(func(r *Report) {
			r.ThroughputRPS, r.LatencyMS.P99, r.LatencyMS.P50, r.Recovery.RTOS = 195, 47, 7, 4.9
		})}, []string{""}, nil},
		{"a small latency over its ratio but under the floor", []*Report{run(func(r *Report) { r.LatencyMS.P99 = 4 })},
			[]*Report{run(func(r *Report) { r.LatencyMS.P99 = 8 })}, []string{""}, nil},
		{"slower queries: p99 names itself", []*Report{run(nil)}, []*Report{run(func(r *Report) {
			r.Scenario, r.LatencyMS.P99 = "db-slow-queries", 95
		})}, []string{"p99_ms +137.5% (threshold +20% and +10 ms)"}, nil},
		{"less throughput, longer recovery, a lost payment, more errors", []*Report{run(nil)}, []*Report{run(func(r *Report) {
			r.ThroughputRPS, r.Recovery.RTOS, r.Recovery.RPOLostPayments, r.Requests.Unknown = 180, 6, 1, 300
		})}, []string{"ok/s -10.0% (threshold -5%); rto_s +2s (threshold +1s); rpo_lost_payments +1 (threshold +0); error_share +0.029 (threshold +0.01)"}, nil},
		{"an invariant and the verdict fail", []*Report{run(nil)}, []*Report{run(func(r *Report) {
			r.Invariants[0] = Invariant{Name: "durability", Status: StatusFail}
			r.Verdict = VerdictFail
		})}, []string{"durability pass → fail; verdict pass → fail"}, nil},
		{"an invariant judged in B that was not applicable in A is no regression", []*Report{run(nil)}, []*Report{run(func(r *Report) {
			r.Invariants[1].Status = StatusPass
		})}, []string{""}, nil},
		{"better is not a regression", []*Report{run(func(r *Report) { r.Verdict, r.LatencyMS.P99 = VerdictFail, 400 })}, []*Report{run(nil)}, []string{""}, nil},
		{"a saturated host: latency not compared, lost payments still are", []*Report{run(nil)}, []*Report{run(func(r *Report) {
			r.Host = &Host{Saturated: true, Reason: "host_cpu_busy 97%"}
			r.LatencyMS.P99, r.Recovery.RPOLostPayments = 900, 2
		})}, []string{"rpo_lost_payments +2 (threshold +0)"}, nil},
		{"run --all directories pair by scenario", []*Report{run(nil), run(func(r *Report) { r.Scenario = "az-outage" }), run(func(r *Report) { r.Scenario = "old" })},
			[]*Report{run(func(r *Report) { r.Scenario, r.Recovery.RTOS = "az-outage", 9 }), run(nil), run(func(r *Report) { r.Scenario = "new" })},
			[]string{"", "rto_s +5s (threshold +1s)"}, []string{"new (only in B)", "old (only in A)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compare("a", "b", tt.a, tt.b, DefaultThresholds())
			var got []string
			want := false
			for _, p := range d.Pairs {
				got = append(got, strings.Join(p.Regressions(), "; "))
			}
			for _, r := range tt.regressed {
				want = want || r != ""
			}
			if !slices.Equal(got, tt.regressed) || d.Regressed != want || !slices.Equal(d.Unpaired, tt.unpaired) {
				t.Fatalf("regressions %q (regressed %v), unpaired %q; want %q, %q", got, d.Regressed, d.Unpaired, tt.regressed, tt.unpaired)
			}
			var b bytes.Buffer
			if err := d.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			if last := strings.TrimSpace(b.String()[strings.LastIndex(strings.TrimSpace(b.String()), "\n")+1:]); want != strings.HasPrefix(last, "REGRESSED: ") {
				t.Errorf("table ends %q", last)
			}
		})
	}
}
