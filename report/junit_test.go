package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"paysim/report/reporttest"
)

// readJUnit parses a junit.xml back.
func readJUnit(t *testing.T, path string) junitSuites {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

func TestWriteJUnit(t *testing.T) {
	traffic := Requests{Total: 1000, OK: 990}
	failed := &Report{Scenario: "hot-merchant", Mode: "embedded", Seed: 7, Verdict: VerdictFail, Bugs: []string{"rmw-no-lock"},
		StartedAt: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), DurationS: 20.5, Requests: traffic,
		Invariants: []Invariant{
			{Name: "conservation", Status: StatusFail, Checked: 5000, Violations: 3, Detail: "3 accounts off the ledger <&>",
				Examples: []string{"m-1: balance 900, ledger 1000", "m-2: balance 10, ledger 20"}},
			{Name: "durability", OK: true, Status: StatusPass, Checked: 990, Detail: "all present"},
			{Name: "unknown-outcomes", Status: StatusNotApplicable, Needs: "at least 1 unknown outcomes"},
		},
		SLOs: []SLO{
			{Name: "availability", Target: "99%", Actual: 0.97, Status: StatusFail, Detail: "970 of 1000"},
			{Name: "p99", Target: "200ms", Actual: 350, Status: StatusInconclusive, Detail: "host saturated"},
			{Name: "rpo", Target: "0", Actual: 0, OK: true, Status: StatusPass},
		},
		Faults: []Fault{
			{Kind: "node-kill", Target: "mysql-1a", StartS: 5, EndS: 10, RTOS: 2.1},
			{Kind: "redis-failover", Target: "redis", StartS: 12, EndS: 15, HealError: "restart: port taken"},
			{Kind: "partition", Target: "a|b", InjectError: "no such AZ"},
		},
	}
	passed := &Report{Scenario: "baseline", Mode: "containers", Verdict: VerdictPass, Requests: traffic, DurationS: 30,
		Invariants: []Invariant{{Name: "durability", OK: true, Status: StatusPass}}, SLOs: []SLO{{Name: "p99", OK: true, Status: StatusPass, Actual: 12}}}
	errored := &Report{Scenario: "az-outage", Verdict: VerdictFail, Error: "setup: no Docker engine"}
	tests := []struct {
		name        string
		reps        []*Report
		wantFailing [][]string // per suite
		wantSkipped []int
	}{
		{"a run failed by a seeded bug", []*Report{failed},
			[][]string{{"invariant/conservation", "slo/availability", "fault/redis-failover on redis at 12.0s: injected and healed"}}, []int{3}},
		{"a passing run", []*Report{passed}, [][]string{nil}, []int{0}},
		{"a run that errored", []*Report{errored}, [][]string{{"/run"}}, []int{0}},
		{"run --all: one suite per scenario", []*Report{failed, passed, errored},
			[][]string{{"invariant/conservation", "slo/availability", "fault/redis-failover on redis at 12.0s: injected and healed"}, nil, {"/run"}}, []int{3, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteJUnit(dir, tt.reps...); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, JUnitFile)
			doc := readJUnit(t, path)
			if len(doc.Suites) != len(tt.reps) {
				t.Fatalf("%d suites, want %d", len(doc.Suites), len(tt.reps))
			}
			tests, failures := 0, 0
			failing := reporttest.Failing(t, path)
			for i, s := range doc.Suites {
				if s.Name != tt.reps[i].Scenario {
					t.Errorf("suite %d is %q, want %q", i, s.Name, tt.reps[i].Scenario)
				}
				if got := failing[i]; !slices.Equal(got, tt.wantFailing[i]) {
					t.Errorf("suite %s failing %q, want %q", s.Name, got, tt.wantFailing[i])
				}
				if s.Skipped != tt.wantSkipped[i] {
					t.Errorf("suite %s skipped %d, want %d", s.Name, s.Skipped, tt.wantSkipped[i])
				}
				if s.Tests != len(s.Cases) {
					t.Errorf("suite %s says %d tests, has %d", s.Name, s.Tests, len(s.Cases))
				}
				tests += s.Tests
				failures += s.Failures + s.Errors
			}
			if doc.Tests != tests || doc.Failures+doc.Errors != failures {
				t.Errorf("testsuites counts %d tests %d failures, want the suites' %d and %d", doc.Tests, doc.Failures+doc.Errors, tests, failures)
			}
			reporttest.ValidateJUnit(t, path)
		})
	}
	t.Run("a failure says the counts and the examples", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteJUnit(dir, failed); err != nil {
			t.Fatal(err)
		}
		c := readJUnit(t, filepath.Join(dir, JUnitFile)).Suites[0].Cases[1]
		if c.Failure == nil || !strings.Contains(c.Failure.Message, "3 violations of 5000 checked: 3 accounts off the ledger <&>") ||
			!strings.Contains(c.Failure.Text, "m-2: balance 10, ledger 20") {
			t.Fatalf("conservation testcase %+v", c)
		}
	})
}
