package main

import (
	"errors"
	"strings"
	"testing"

	"paysim/report"
	"paysim/scenarios"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// selftestRep is a report with the given verdict, invariants and reasons.
func selftestRep(verdict string, invs []report.Invariant, reasons ...string) *report.Report {
	return &report.Report{Verdict: verdict, Invariants: invs, Reasons: reasons}
}

func selftestInv(name, status string) report.Invariant {
	return report.Invariant{Name: name, OK: status == report.StatusPass, Status: status, Needs: "at least 1 things"}
}

var (
	cleanPass = selftestRun{scenario: "baseline", rep: selftestRep(report.VerdictPass, []report.Invariant{selftestInv("conservation", report.StatusPass)})}
	cleanSat  = selftestRun{scenario: "redelivery", rep: selftestRep(report.VerdictInconclusive,
		[]report.Invariant{selftestInv("conservation", report.StatusPass)}, "slo p99: host saturated (load generator late by 93 ms at p99 >= 50 ms)")}
	cleanBroken = selftestRun{scenario: "shipper-retry", rep: selftestRep(report.VerdictFail,
		[]report.Invariant{selftestInv("conservation", report.StatusFail)}, "invariant conservation: money was created or destroyed")}
)

func TestJudgeClean(t *testing.T) {
	tests := []struct {
		name    string
		run     selftestRun
		outcome string
		why     string
	}{
		{"pass", cleanPass, cleanPassed, ""},
		{"saturated host is inconclusive, not failed", cleanSat, cleanInconclusive, "host saturated"},
		{"failed invariant", cleanBroken, cleanFailed, "invariant conservation"},
		{"only p99 missed is inconclusive, not failed", selftestRun{scenario: "redelivery", rep: &report.Report{Verdict: report.VerdictFail,
			Requests: report.Requests{Total: 10, OK: 10}, Invariants: []report.Invariant{selftestInv("conservation", report.StatusPass)},
			SLOs: []report.SLO{{Name: report.SLOLatency, Target: "200ms", Actual: 205.8}}, Reasons: []string{"slo p99: 205.8 against 200ms"}}},
			cleanInconclusive, "latency only, no false alarm: slo p99"},
		{"p99 and availability missed fails", selftestRun{scenario: "redelivery", rep: &report.Report{Verdict: report.VerdictFail,
			Requests: report.Requests{Total: 10, OK: 10}, Invariants: []report.Invariant{selftestInv("conservation", report.StatusPass)},
			SLOs:    []report.SLO{{Name: report.SLOLatency, Target: "200ms", Actual: 205.8}, {Name: "availability", Target: "99%", Actual: 0.5}},
			Reasons: []string{"slo p99: 205.8 against 200ms", "slo availability: 0.5 against 99%"}}},
			cleanFailed, "slo availability"},
		{"no report", selftestRun{scenario: "x", err: errors.New("stack up: boom")}, cleanFailed, "stack up: boom"},
		{"error beside a pass", selftestRun{scenario: "x", rep: cleanPass.rep, err: errors.New("teardown: boom")}, cleanFailed, "teardown: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outcome, why := judgeClean(tc.run)
			if outcome != tc.outcome || !strings.Contains(why, tc.why) {
				t.Fatalf("judgeClean = %q, %q; want %q and %q in the reason", outcome, why, tc.outcome, tc.why)
			}
		})
	}
}

func TestJudgeBug(t *testing.T) {
	run := func(invs ...report.Invariant) selftestRun {
		return selftestRun{bug: "overdraft", scenario: "insufficient-funds", rep: selftestRep(report.VerdictFail, invs)}
	}
	tests := []struct {
		name   string
		run    selftestRun
		caught bool
		why    string
	}{
		{"caught by its invariant", run(selftestInv("conservation", report.StatusPass), selftestInv("no-negative-balance", report.StatusFail)), true, ""},
		{"caught by another invariant only", run(selftestInv("conservation", report.StatusFail), selftestInv("no-negative-balance", report.StatusPass)), false, "no-negative-balance pass"},
		{"its invariant had nothing to check", run(selftestInv("no-negative-balance", report.StatusNotApplicable)), false, "nothing to check (needs at least 1 things)"},
		{"its invariant not judged", run(selftestInv("conservation", report.StatusPass)), false, "was not judged"},
		{"no report", selftestRun{err: errors.New("boom")}, false, "no report: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			caught, why := judgeBug(tc.run, "no-negative-balance")
			if caught != tc.caught || !strings.Contains(why, tc.why) {
				t.Fatalf("judgeBug = %v, %q; want %v and %q in the reason", caught, why, tc.caught, tc.why)
			}
		})
	}
}

func TestSelftestSummaryAndCode(t *testing.T) {
	tests := []struct {
		name         string
		caught, bugs int
		clean        []selftestRun
		line         string
		code         int // exitPass when nil error
	}{
		{"all caught, all clean passed", 10, 10, []selftestRun{cleanPass, cleanPass},
			"10 of 10 seeded bugs caught by their invariant; 2 of 2 clean runs passed", exitPass},
		{"a clean run on a saturated host", 10, 10, []selftestRun{cleanPass, cleanSat},
			"10 of 10 seeded bugs caught by their invariant; 1 of 2 clean runs passed, 1 did not: 1 inconclusive (redelivery)", exitInconclusive},
		{"a clean run failed an invariant", 10, 10, []selftestRun{cleanBroken, cleanSat, cleanPass},
			"1 of 3 clean runs passed, 2 did not: 1 failed (shipper-retry), 1 inconclusive (redelivery)", exitFail},
		{"a bug missed", 9, 10, []selftestRun{cleanPass},
			"9 of 10 seeded bugs caught by their invariant; 1 of 1 clean runs passed", exitFail},
		{"a bug missed and a clean run inconclusive", 9, 10, []selftestRun{cleanSat},
			"0 of 1 clean runs passed, 1 did not: 1 inconclusive (redelivery)", exitFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if line := selftestSummary(tc.caught, tc.bugs, tc.clean); !strings.Contains(line, tc.line) {
				t.Errorf("summary %q, want %q in it", line, tc.line)
			}
			code := exitPass
			var ee *exitError
			if err := selftestCode(tc.caught, tc.bugs, tc.clean); errors.As(err, &ee) {
				code = ee.code
			} else if err != nil {
				t.Fatalf("error without an exit code: %v", err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
		})
	}
}

// TestBugsForMode: selftest runs in a mode exactly the bugs declared for
// it, and each of those bugs' scenarios can run in that mode.
func TestBugsForMode(t *testing.T) {
	catalogue, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode        string
		mustHave    []string
		mustNotHave []string
	}{
		{mode: stack.ModeEmbedded, mustHave: []string{payments.BugRMWNoLock, payments.BugCacheNotInvalidated}, mustNotHave: []string{payments.BugStaleReplicaRead}},
		{mode: stack.ModeContainers, mustHave: []string{payments.BugRMWNoLock, payments.BugStaleReplicaRead}},
		{mode: "cloud"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			got := map[string]bool{}
			for _, b := range bugsFor(tc.mode) {
				got[b.Name] = true
				sc, err := catalogue.Find(b.Scenario)
				if err != nil {
					t.Fatalf("%s: %v", b.Name, err)
				}
				if err := sc.CanRunIn(tc.mode); err != nil {
					t.Errorf("%s declares %s mode, but its scenario %s cannot run there: %v", b.Name, tc.mode, b.Scenario, err)
				}
			}
			for _, n := range tc.mustHave {
				if !got[n] {
					t.Errorf("%s missing from %s mode's bugs", n, tc.mode)
				}
			}
			for _, n := range tc.mustNotHave {
				if got[n] {
					t.Errorf("%s listed for %s mode", n, tc.mode)
				}
			}
			if tc.mode == "cloud" && len(got) > 0 {
				t.Errorf("bugs for an unknown mode: %v", got)
			}
		})
	}
	for _, b := range payments.Bugs() {
		if len(b.Modes) == 0 {
			t.Errorf("%s declares no mode", b.Name)
		}
	}
}
