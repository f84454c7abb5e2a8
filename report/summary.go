package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SummaryFile is the summary.md a run directory holds.
const SummaryFile = "summary.md"

// Summary is the verdict table in Markdown, one row per report: scenario,
// verdict, ok/s, p99, RTO, RPO and the checks that failed or could not be
// judged. It suits a CI step summary (GitHub's $GITHUB_STEP_SUMMARY).
func Summary(reps ...*Report) string {
	var b strings.Builder
	pass, fail, unsure := 0, 0, 0
	for _, r := range reps {
		switch r.Verdict {
		case VerdictPass:
			pass++
		case VerdictFail:
			fail++
		default:
			unsure++
		}
	}
	fmt.Fprintf(&b, "## paysim: %d passed, %d failed, %d inconclusive\n\n", pass, fail, unsure)
	b.WriteString("| scenario | mode | verdict | ok/s | p99 (ms) | RTO (s) | RPO (lost) | failing checks |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---|\n")
	for _, r := range reps {
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f | %.1f | %.1f | %d | %s |\n",
			cell(r.Scenario), cell(r.Mode), verdictMark(r.Verdict), r.ThroughputRPS, r.LatencyMS.P99,
			r.Recovery.RTOS, r.Recovery.RPOLostPayments, cell(strings.Join(r.Reasons, "; ")))
	}
	return b.String()
}

// WriteSummary writes summary.md into dir.
func WriteSummary(dir string, reps ...*Report) error {
	if err := os.WriteFile(filepath.Join(dir, SummaryFile), []byte(Summary(reps...)), 0o644); err != nil {
		return fmt.Errorf("summary: write: %w", err)
	}
	return nil
}

// Render writes the artifacts made from reports into dir: junit.xml,
// summary.md and report.html, for one run or, merged, for several
// (`run --all`).
func Render(dir string, reps ...*Report) error {
	return errors.Join(WriteJUnit(dir, reps...), WriteSummary(dir, reps...), WriteHTML(dir, reps...))
}

func verdictMark(v string) string {
	switch v {
	case VerdictPass:
		return "✅ pass"
	case VerdictFail:
		return "❌ fail"
	}
	return "⚠️ " + v
}

// cell escapes a table cell: pipes and line breaks would end it.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
