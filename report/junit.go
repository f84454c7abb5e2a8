package report

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The junit.xml shape: the common JUnit XML format (Jenkins's junit and
// xunit plugins, GitLab, GitHub's test reporters read it). These types
// mirror the file only.
type (
	junitSuites struct {
		XMLName xml.Name `xml:"testsuites"`
		Name    string   `xml:"name,attr"`
		junitCounts
		Suites []junitSuite `xml:"testsuite"`
	}
	// junitCounts are the counts a testsuite and the testsuites carry.
	junitCounts struct {
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     junitSeconds `xml:"time,attr"`
	}
	junitSuite struct {
		Name string `xml:"name,attr"`
		junitCounts
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties []junitProperty `xml:"properties>property,omitempty"`
		Cases      []junitCase     `xml:"testcase"`
		SystemOut  string          `xml:"system-out,omitempty"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      junitSeconds  `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		Skipped   *junitSkipped `xml:"skipped,omitempty"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	junitSkipped struct {
		Message string `xml:"message,attr"`
	}
)

// junitSeconds is a time attribute: seconds with three decimals, never in
// exponent form (the schema's xs:decimal).
type junitSeconds float64

// MarshalXMLAttr implements xml.MarshalerAttr.
func (s junitSeconds) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	return xml.Attr{Name: name, Value: strconv.FormatFloat(max(float64(s), 0), 'f', 3, 64)}, nil
}

// JUnitFile is the junit.xml a run directory holds.
const JUnitFile = "junit.xml"

// WriteJUnit writes junit.xml into dir: one testsuite per report (a run's
// one scenario, or every scenario of `run --all`), a testcase per
// invariant, per SLO and per fault ("injected and healed"), and one for the
// run itself (an error, a stop condition, an inconclusive analysis).
// A failure message is the concrete violation: counts, the first examples,
// the figure against its target; an inconclusive or not-applicable check is
// skipped with its reason.
func WriteJUnit(dir string, reps ...*Report) error {
	doc := junitSuites{Name: "paysim"}
	for _, r := range reps {
		s := r.junitSuite()
		doc.Suites = append(doc.Suites, s)
		doc.add(s.junitCounts)
	}
	raw, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("junit: encode: %w", err)
	}
	out := append([]byte(xml.Header), raw...)
	if err := os.WriteFile(filepath.Join(dir, JUnitFile), append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("junit: write: %w", err)
	}
	return nil
}

// add sums o into c.
func (c *junitCounts) add(o junitCounts) {
	c.Tests += o.Tests
	c.Failures += o.Failures
	c.Errors += o.Errors
	c.Skipped += o.Skipped
	c.Time += o.Time
}

// junitSuite is the report as one testsuite.
func (r *Report) junitSuite() junitSuite {
	s := junitSuite{Name: r.Scenario, junitCounts: junitCounts{Time: junitSeconds(r.DurationS)}}
	if !r.StartedAt.IsZero() {
		s.Timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	for _, p := range [][2]string{
		{"mode", r.Mode}, {"seed", fmt.Sprint(r.Seed)}, {"verdict", r.Verdict}, {"run_id", r.RunID},
		{"target_rate", fmt.Sprintf("%g", r.TargetRate)}, {"bugs", strings.Join(r.Bugs, ",")},
	} {
		if p[1] != "" {
			s.Properties = append(s.Properties, junitProperty{Name: p[0], Value: p[1]})
		}
	}
	class := "paysim." + r.Scenario
	add := func(c junitCase) {
		s.Tests++
		switch {
		case c.Failure != nil:
			s.Failures++
		case c.Error != nil:
			s.Errors++
		case c.Skipped != nil:
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
	}
	add(r.runCase(class))
	for _, inv := range r.Invariants {
		c := junitCase{Name: inv.Name, Classname: class + ".invariant"}
		switch inv.State() {
		case StatusFail:
			c.Failure = &junitProblem{Type: "invariant",
				Message: fmt.Sprintf("%s: %d violations of %d checked: %s", inv.Name, inv.Violations, inv.Checked, inv.Detail),
				Text:    examples(inv.Examples)}
		case StatusNotApplicable:
			c.Skipped = &junitSkipped{Message: "not applicable: needs " + inv.Needs + "; " + inv.Detail}
		case StatusInconclusive:
			c.Skipped = &junitSkipped{Message: "inconclusive: " + inv.Detail}
		default:
			c.SystemOut = fmt.Sprintf("%d checked: %s", inv.Checked, inv.Detail)
		}
		add(c)
	}
	for _, slo := range r.SLOs {
		c := junitCase{Name: slo.Name, Classname: class + ".slo"}
		figure := fmt.Sprintf("%s %.4g against target %s", slo.Name, slo.Actual, slo.Target)
		switch slo.State() {
		case StatusFail:
			c.Failure = &junitProblem{Type: "slo", Message: strings.TrimSuffix(figure+": "+slo.Detail, ": ")}
		case StatusInconclusive:
			c.Skipped = &junitSkipped{Message: "inconclusive: " + strings.TrimSuffix(figure+": "+slo.Detail, ": ")}
		default:
			c.SystemOut = figure
		}
		add(c)
	}
	for _, f := range r.Faults {
		c := junitCase{Name: fmt.Sprintf("%s on %s at %.1fs: injected and healed", f.Kind, f.Target, f.StartS),
			Classname: class + ".fault", Time: junitSeconds(f.EndS - f.StartS)}
		switch {
		case f.HealError != "":
			c.Failure = &junitProblem{Type: "fault", Message: "did not heal: " + f.HealError}
		case f.InjectError != "":
			c.Skipped = &junitSkipped{Message: "did not happen (the drill is inconclusive): " + f.InjectError}
		default:
			c.SystemOut = fmt.Sprintf("window %.1fs-%.1fs, rto %.1fs", f.StartS, f.EndS, f.RTOS)
		}
		add(c)
	}
	return s
}

// runCase is the run itself: an error or a stop condition fails it, an
// inconclusive analysis skips it.
func (r *Report) runCase(class string) junitCase {
	c := junitCase{Name: "run", Classname: class, Time: junitSeconds(r.DurationS)}
	switch {
	case r.Error != "":
		c.Error = &junitProblem{Type: "error", Message: r.Error}
	case r.StoppedBy != "":
		c.Failure = &junitProblem{Type: "stopped", Message: "stopped by " + r.StoppedBy}
	case r.Inconclusive != "":
		c.Skipped = &junitSkipped{Message: "inconclusive: " + r.Inconclusive}
	case r.Requests.Total == 0:
		c.Skipped = &junitSkipped{Message: "inconclusive: no request was sent"}
	default:
		c.SystemOut = fmt.Sprintf("verdict %s: %d requests, %d ok, %.1f ok/s, p99 %.1f ms", r.Verdict, r.Requests.Total, r.Requests.OK, r.ThroughputRPS, r.LatencyMS.P99)
	}
	return c
}

// examples lists a failure's first examples, one a line.
func examples(ex []string) string {
	const most = 10
	if len(ex) > most {
		ex = append(ex[:most:most], fmt.Sprintf("... and %d more", len(ex)-most))
	}
	return strings.Join(ex, "\n")
}
