package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"paysim/report"
)

// junitFailing is every failed or errored testcase of a junit.xml, as
// "KIND/NAME" (KIND the classname after the scenario's: invariant, slo,
// fault, or empty for the run).
func junitFailing(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name      string    `xml:"name,attr"`
				Classname string    `xml:"classname,attr"`
				Failure   *struct{} `xml:"failure"`
				Error     *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil || c.Error != nil {
				out = append(out, strings.TrimPrefix(strings.TrimPrefix(c.Classname, "paysim."+s.Name), ".")+"/"+c.Name)
			}
		}
	}
	return out
}

// xmllintJUnit validates path against the JUnit schema; it skips, saying
// why, without xmllint (.ci/run installs it).
func xmllintJUnit(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint is missing (apt-get install libxml2-utils): the schema check cannot run")
	}
	schema, err := filepath.Abs("../../report/testdata/junit.xsd")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("xmllint", "--noout", "--schema", schema, path).CombinedOutput(); err != nil {
		t.Fatalf("xmllint --schema junit.xsd: %v\n%s", err, out)
	}
}

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
	if got := junitFailing(t, junit); !slices.Equal(got, want) || !slices.Contains(got, "invariant/no-negative-balance") {
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
	xmllintJUnit(t, junit)
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
	if got := junitFailing(t, filepath.Join(top, report.JUnitFile)); !slices.Equal(got, []string{"slo/rto"}) {
		t.Fatalf("merged junit.xml failing %q", got)
	}
	for _, f := range []string{report.SummaryFile, filepath.Join("baseline", report.JUnitFile), filepath.Join("az-outage", report.SummaryFile)} {
		if _, err := os.Stat(filepath.Join(top, f)); err != nil {
			t.Error(err)
		}
	}
	xmllintJUnit(t, filepath.Join(top, report.JUnitFile))
	if code := execute(context.Background(), []string{"report", t.TempDir()}, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "holds no report.json") {
		t.Fatalf("an empty directory: exit %d: %s", code, stderr.String())
	}
}
