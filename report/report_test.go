package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		want string
	}{
		{"all ok", Report{Invariants: []Invariant{{OK: true}}, SLOs: []SLO{{OK: true}}}, VerdictPass},
		{"invariant fails", Report{Invariants: []Invariant{{OK: true}, {OK: false}}}, VerdictFail},
		{"slo fails", Report{SLOs: []SLO{{OK: false}}}, VerdictFail},
		{"error", Report{Error: "setup: boom"}, VerdictFail},
		{"a pass that cannot be judged is inconclusive", Report{Inconclusive: "too little traffic"}, VerdictInconclusive},
		{"a failure beats inconclusive", Report{Inconclusive: "too little traffic", Invariants: []Invariant{{Name: "x"}}}, VerdictFail},
		{"a stop condition fails the run", Report{StoppedBy: "error rate"}, VerdictFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Decide()
			if tc.r.Verdict != tc.want {
				t.Fatalf("verdict %q, want %q", tc.r.Verdict, tc.want)
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
