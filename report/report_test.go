package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	traffic := Requests{Total: 100, OK: 90}
	pass := Invariant{Name: "durability", OK: true, Status: StatusPass}
	fail := Invariant{Name: "conservation", Status: StatusFail, Detail: "money was created"}
	na := Invariant{Name: "cache-convergence", Status: StatusNotApplicable, Needs: "at least 1 cached balances"}
	naExpected := na
	naExpected.Expected = true
	injectErr := Fault{Kind: "redis-failover", Target: "redis", InjectError: "no healthy replica", Error: "inject: no healthy replica"}
	healErr := Fault{Kind: "node-kill", Target: "mysql-1a", HealError: "restart: port taken", Error: "heal: restart: port taken"}
	healed := Fault{Kind: "node-kill", Target: "mysql-1a", StartS: 5, EndS: 10}
	sloPass := SLO{Name: "p99", OK: true, Status: StatusPass}
	sloFail := SLO{Name: "availability", Status: StatusFail}
	sloUnsure := SLO{Name: "p99", Status: StatusInconclusive, Detail: "host saturated (host CPU 100%)"}
	tests := []struct {
		name       string
		r          Report
		want       string
		wantReason string // a substring of one of the reasons
	}{
		{name: "all ok", r: Report{Requests: traffic, Invariants: []Invariant{pass}, SLOs: []SLO{sloPass}, Faults: []Fault{healed}}, want: VerdictPass},
		{name: "ok without a status (older reports)", r: Report{Requests: traffic, Invariants: []Invariant{{OK: true}}, SLOs: []SLO{{OK: true}}}, want: VerdictPass},
		{name: "invariant fails", r: Report{Requests: traffic, Invariants: []Invariant{pass, fail}}, want: VerdictFail, wantReason: "money was created"},
		{name: "invariant without a status and not ok fails", r: Report{Requests: traffic, Invariants: []Invariant{{Name: "x"}}}, want: VerdictFail},
		{name: "slo fails", r: Report{Requests: traffic, SLOs: []SLO{sloFail}}, want: VerdictFail, wantReason: "slo availability"},
		{name: "error", r: Report{Requests: traffic, Error: "setup: boom"}, want: VerdictFail, wantReason: "setup: boom"},
		{name: "a stop condition fails the run", r: Report{Requests: traffic, StoppedBy: "error rate"}, want: VerdictFail, wantReason: "error rate"},
		{name: "the analysis's reason is inconclusive", r: Report{Requests: traffic, Inconclusive: "too little traffic"}, want: VerdictInconclusive, wantReason: "too little traffic"},
		{name: "a failure beats the analysis's reason", r: Report{Requests: traffic, Inconclusive: "too little traffic", Invariants: []Invariant{fail}}, want: VerdictFail},
		{name: "a fault that did not inject is inconclusive", r: Report{Requests: traffic, Invariants: []Invariant{pass}, Faults: []Fault{injectErr}}, want: VerdictInconclusive, wantReason: "did not happen: no healthy replica"},
		{name: "a fault that did not heal fails", r: Report{Requests: traffic, Invariants: []Invariant{pass}, Faults: []Fault{healErr}}, want: VerdictFail, wantReason: "did not heal"},
		{name: "a heal error beats an inject error", r: Report{Requests: traffic, Faults: []Fault{injectErr, healErr}}, want: VerdictFail},
		{name: "an inject error with a failed invariant fails", r: Report{Requests: traffic, Invariants: []Invariant{fail}, Faults: []Fault{injectErr}}, want: VerdictFail},
		{name: "an inject and a heal error on one fault fail", r: Report{Requests: traffic, Faults: []Fault{{Kind: "k", InjectError: "a", HealError: "b"}}}, want: VerdictFail},
		{name: "not applicable and not expected passes", r: Report{Requests: traffic, Invariants: []Invariant{pass, na}}, want: VerdictPass},
		{name: "not applicable but expected is inconclusive", r: Report{Requests: traffic, Invariants: []Invariant{pass, naExpected}}, want: VerdictInconclusive, wantReason: "nothing to check"},
		{name: "an slo that could not be judged is inconclusive", r: Report{Requests: traffic, Invariants: []Invariant{pass}, SLOs: []SLO{sloUnsure}}, want: VerdictInconclusive, wantReason: "host saturated"},
		{name: "an unjudged slo beside a failed invariant fails", r: Report{Requests: traffic, Invariants: []Invariant{fail}, SLOs: []SLO{sloUnsure}}, want: VerdictFail},
		{name: "no request sent is inconclusive", r: Report{Invariants: []Invariant{pass}}, want: VerdictInconclusive, wantReason: "no request was sent"},
		{name: "no request ok is never a pass", r: Report{Requests: Requests{Total: 50, Failed: 50}, Invariants: []Invariant{pass}}, want: VerdictInconclusive, wantReason: "no request succeeded"},
		{name: "no request ok and an slo failed fails", r: Report{Requests: Requests{Total: 50, Failed: 50}, SLOs: []SLO{sloFail}}, want: VerdictFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Decide()
			if tc.r.Verdict != tc.want {
				t.Fatalf("verdict %q (reasons %q), want %q", tc.r.Verdict, tc.r.Reasons, tc.want)
			}
			if tc.want != VerdictPass && len(tc.r.Reasons) == 0 {
				t.Fatalf("verdict %q without a reason", tc.r.Verdict)
			}
			if tc.want == VerdictPass && len(tc.r.Reasons) != 0 {
				t.Fatalf("a pass with reasons %q", tc.r.Reasons)
			}
			if tc.wantReason != "" && !strings.Contains(strings.Join(tc.r.Reasons, "\n"), tc.wantReason) {
				t.Fatalf("reasons %q lack %q", tc.r.Reasons, tc.wantReason)
			}
			again := tc.r
			again.Decide()
			if again.Verdict != tc.r.Verdict || len(again.Reasons) != len(tc.r.Reasons) {
				t.Fatalf("a second Decide changed %q %q to %q %q", tc.r.Verdict, tc.r.Reasons, again.Verdict, again.Reasons)
			}
		})
	}
}

func TestWriteJSONHasContractFields(t *testing.T) {
	dir := t.TempDir()
	r := Report{Scenario: "baseline", Verdict: VerdictPass, Requests: Requests{ByStatus: map[string]int{"201": 1}}}
	if err := r.WriteJSON(dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "mode", "seed", "started_at", "duration_s", "verdict", "requests",
		"throughput_rps", "latency_ms", "faults", "recovery", "invariants", "slos", "timeline"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report.json lacks %q", k)
		}
	}
	rec := m["recovery"].(map[string]any)
	for _, k := range []string{"rto_s", "rpo_lost_payments"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("recovery lacks %q", k)
		}
	}
}

func TestHostSaturatedOnly(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		want bool
	}{
		{name: "saturated timing only", r: Report{Verdict: VerdictInconclusive, Reasons: []string{"slo p99: host saturated (host CPU 100%)"}}, want: true},
		{name: "and a fault that did not inject", r: Report{Verdict: VerdictInconclusive, Reasons: []string{"slo p99: host saturated (x)", "fault node-kill: inject: boom"}}},
		{name: "inconclusive without reasons", r: Report{Verdict: VerdictInconclusive}},
		{name: "a pass", r: Report{Verdict: VerdictPass}},
		{name: "a failure on a saturated host", r: Report{Verdict: VerdictFail, Reasons: []string{"invariant durability: lost", "slo p99: host saturated (x)"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.HostSaturatedOnly(); got != tc.want {
				t.Errorf("HostSaturatedOnly = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLatencyOnly(t *testing.T) {
	ok := []Invariant{{Name: "durability", OK: true}, {Name: "unknown-outcomes", Status: StatusNotApplicable}}
	p99 := SLO{Name: SLOLatency, Target: "200ms", Actual: 231}
	avail := SLO{Name: "availability", Target: "99%", Actual: 0.93}
	sat := SLO{Name: SLOLatency, Status: StatusInconclusive, Detail: "host saturated"}
	reqs := Requests{Total: 10, OK: 10}
	tests := []struct {
		name string
		r    Report
		want bool
	}{
		{name: "p99 missed, all else held", r: Report{Verdict: VerdictFail, Requests: reqs, Invariants: ok, SLOs: []SLO{p99}}, want: true},
		{name: "p99 not judged on a saturated host", r: Report{Verdict: VerdictInconclusive, Requests: reqs, Invariants: ok, SLOs: []SLO{sat}}, want: true},
		{name: "a pass", r: Report{Verdict: VerdictPass, Requests: reqs, Invariants: ok}},
		{name: "availability missed too", r: Report{Verdict: VerdictFail, Requests: reqs, Invariants: ok, SLOs: []SLO{p99, avail}}},
		{name: "an invariant failed", r: Report{Verdict: VerdictFail, Requests: reqs, Invariants: []Invariant{{Name: "durability"}}, SLOs: []SLO{p99}}},
		{name: "an expected invariant had nothing to check", r: Report{Verdict: VerdictInconclusive, Requests: reqs, Invariants: []Invariant{{Name: "durability", Status: StatusNotApplicable, Expected: true}}, SLOs: []SLO{p99}}},
		{name: "a fault did not happen", r: Report{Verdict: VerdictFail, Requests: reqs, Invariants: ok, SLOs: []SLO{p99}, Faults: []Fault{{Kind: "node-kill", InjectError: "boom"}}}},
		{name: "interrupted", r: Report{Verdict: VerdictFail, Error: "interrupted", Requests: reqs, Invariants: ok, SLOs: []SLO{p99}}},
		{name: "nothing acknowledged", r: Report{Verdict: VerdictInconclusive, Requests: Requests{Total: 10}, Invariants: ok, SLOs: []SLO{p99}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.LatencyOnly(); got != tc.want {
				t.Errorf("LatencyOnly = %v, want %v", got, tc.want)
			}
		})
	}
}
