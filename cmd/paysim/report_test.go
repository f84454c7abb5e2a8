package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"paysim/report"
	"paysim/report/reporttest"
)

// TestRunWritesJUnitAndSummary: a run failed by a seeded bug writes a
// junit.xml the JUnit schema accepts, whose failing testcases are exactly
// the invariants and SLOs that failed in report.json, and a summary.md with
// its verdict; `paysim report DIR` writes the same files again.
func TestRunWritesJUnitAndSummary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the stack")
	}
	out := t.TempDir()
	code := execute(context.Background(), []string{"run", "insufficient-funds", "--bug", "overdraft", "--duration", "6s", "--rate", "100",
		"--ui", "plain", "--out", out}, io.Discard)
	rep, err := report.ReadJSON(out)
	if err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	if code != exitFail || rep.Verdict != report.VerdictFail {
		t.Fatalf("exit %d verdict %s (%q), want a failed run", code, rep.Verdict, rep.Reasons)
	}
	var want []string
	for _, inv := range rep.Invariants {
		if inv.State() == report.StatusFail {
			want = append(want, "invariant/"+inv.Name)
		}
	}
	for _, s := range rep.SLOs {
		if s.State() == report.StatusFail {
			want = append(want, "slo/"+s.Name)
		}
	}
	junit := filepath.Join(out, report.JUnitFile)
	if got := reporttest.Failing(t, junit)[0]; !slices.Equal(got, want) || !slices.Contains(got, "invariant/no-negative-balance") {
		t.Fatalf("junit.xml failing %q, want report.json's failures %q (no-negative-balance among them)", got, want)
	}
	summary, err := os.ReadFile(filepath.Join(out, report.SummaryFile))
	if err != nil || !strings.Contains(string(summary), "| insufficient-funds | embedded | ❌ fail |") {
		t.Fatalf("summary.md: %v\n%s", err, summary)
	}
	before, _ := os.ReadFile(junit)
	if err := os.Remove(junit); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := execute(context.Background(), []string{"report", out}, &stderr); code != exitPass {
		t.Fatalf("paysim report: exit %d: %s", code, stderr.String())
	}
	if after, err := os.ReadFile(junit); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("paysim report wrote junit.xml %v, different from the run's", err)
	}
	reporttest.ValidateJUnit(t, junit)
}

// TestReportCommand: `paysim report` merges a run --all directory's runs,
// and refuses a directory without a report.
func TestReportCommand(t *testing.T) {
	top := t.TempDir()
	for _, r := range []*report.Report{
		{Scenario: "baseline", Verdict: report.VerdictPass, Requests: report.Requests{Total: 10, OK: 10}},
		{Scenario: "az-outage", Verdict: report.VerdictFail, Reasons: []string{"slo rto: 20 against 15s"},
			SLOs: []report.SLO{{Name: "rto", Target: "15s", Actual: 20, Status: report.StatusFail}}},
	} {
		dir := filepath.Join(top, r.Scenario)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteJSON(dir); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	if code := execute(context.Background(), []string{"report", top}, &stderr); code != exitPass {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := reporttest.Failing(t, filepath.Join(top, report.JUnitFile)); len(got) != 2 || !slices.Equal(got[0], []string{"slo/rto"}) || got[1] != nil { // az-outage, then baseline
		t.Fatalf("merged junit.xml failing %q", got)
	}
	for _, f := range []string{report.SummaryFile, filepath.Join("baseline", report.JUnitFile), filepath.Join("az-outage", report.SummaryFile)} {
		if _, err := os.Stat(filepath.Join(top, f)); err != nil {
			t.Error(err)
		}
	}
	reporttest.ValidateJUnit(t, filepath.Join(top, report.JUnitFile))
	if code := execute(context.Background(), []string{"report", t.TempDir()}, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "holds no report.json") {
		t.Fatalf("an empty directory: exit %d: %s", code, stderr.String())
	}
}
