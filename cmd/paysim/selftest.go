package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"paysim/report"
	"paysim/scenarios"
	"paysim/sim"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

func newSelftestCmd() *cobra.Command {
	var out string
	var duration time.Duration
	var rate int
	var mode string
	var imageFlags []string
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Run every seeded bug of a mode on its scenario (each must be caught) and the same scenarios clean (each must pass)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch mode {
			case stack.ModeEmbedded, stack.ModeContainers:
			default:
				return withCode(exitUsage, fmt.Errorf("--mode %q: want embedded or containers", mode))
			}
			quietTestcontainers()
			if out == "" {
				out = filepath.Join("runs", time.Now().Format("20060102-150405")+"-selftest")
			}
			imgs, err := imageOverrides(imageFlags, mode, os.Getenv)
			if err != nil {
				return withCode(exitUsage, err)
			}
			return selftest(cmd, out, mode, duration, rate, imgs)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "artifact directory (default runs/<time>-selftest/)")
	cmd.Flags().DurationVar(&duration, "duration", 15*time.Second, "load duration of each run")
	cmd.Flags().IntVar(&rate, "rate", 300, "requests per second of each run")
	cmd.Flags().StringVar(&mode, "mode", stack.ModeEmbedded, "run the bugs that apply to this mode (embedded or containers), in it")
	imageFlag(cmd, &imageFlags)
	return cmd
}

// selftestRun is one run of the matrix.
type selftestRun struct {
	bug, scenario string
	rep           *report.Report
	err           error
}

// Outcomes of a clean run: it passed, an invariant or SLO failed, or it
// could not be judged (a saturated host, nothing to check, a fault that did
// not inject, or only its p99 missed with every invariant held: the checks
// raised no false alarm). Only a pass counts as passed; a failure fails the
// selftest.
const (
	cleanPassed       = "passed"
	cleanFailed       = "failed"
	cleanInconclusive = "inconclusive"
)

// judgeClean classifies a clean run and says why it did not pass.
func judgeClean(r selftestRun) (outcome, why string) {
	switch {
	case r.rep == nil:
		return cleanFailed, fmt.Sprintf("no report: %v", r.err)
	case r.err != nil && r.rep.Verdict == report.VerdictPass:
		return cleanFailed, "error: " + r.err.Error()
	case r.rep.Verdict == report.VerdictPass:
		return cleanPassed, ""
	}
	why = strings.Join(r.rep.Reasons, "; ")
	if why == "" {
		why = failedNames(r.rep)
	}
	if r.rep.Verdict == report.VerdictInconclusive {
		return cleanInconclusive, why
	}
	if r.rep.LatencyOnly() {
		// Every invariant held: the checks raised no false alarm, but the
		// run missed its latency objective, so it is no clean pass either.
		return cleanInconclusive, "latency only, no false alarm: " + why
	}
	return cleanFailed, why
}

// judgeBug reports whether a bug's run was caught by the invariant meant
// to catch it (which failed, as opposed to having nothing to check), and
// why not.
func judgeBug(r selftestRun, invariant string) (caught bool, why string) {
	if r.rep == nil {
		return false, fmt.Sprintf("no report: %v", r.err)
	}
	for _, inv := range r.rep.Invariants {
		if inv.Name != invariant {
			continue
		}
		switch st := inv.State(); st {
		case report.StatusFail:
			return true, ""
		case report.StatusNotApplicable:
			return false, fmt.Sprintf("%s had nothing to check (needs %s)", invariant, inv.Needs)
		default:
			return false, fmt.Sprintf("%s %s: %s", invariant, st, inv.Detail)
		}
	}
	return false, fmt.Sprintf("%s was not judged (verdict %s %s)", invariant, r.rep.Verdict, failedNames(r.rep))
}

// selftestSummary is the closing line: bugs caught of total, clean runs
// passed of total, and those that did not pass by outcome, named.
func selftestSummary(caught, bugs int, clean []selftestRun) string {
	passed := 0
	notPassed := map[string][]string{}
	for _, r := range clean {
		outcome, _ := judgeClean(r)
		if outcome == cleanPassed {
			passed++
			continue
		}
		notPassed[outcome] = append(notPassed[outcome], r.scenario)
	}
	line := fmt.Sprintf("%d of %d seeded bugs caught by their invariant; %d of %d clean runs passed", caught, bugs, passed, len(clean))
	if n := len(clean) - passed; n > 0 {
		var parts []string
		for _, outcome := range []string{cleanFailed, cleanInconclusive} {
			if names := notPassed[outcome]; len(names) > 0 {
				parts = append(parts, fmt.Sprintf("%d %s (%s)", len(names), outcome, strings.Join(names, ", ")))
			}
		}
		line += fmt.Sprintf(", %d did not: %s", n, strings.Join(parts, ", "))
	}
	return line
}

// selftestCode is the selftest's exit: fail when a bug went uncaught or a
// clean run failed, inconclusive when every bug was caught and no clean run
// failed but some could not be judged, else pass.
func selftestCode(caught, bugs int, clean []selftestRun) error {
	failed, unsure := 0, 0
	for _, r := range clean {
		switch outcome, _ := judgeClean(r); outcome {
		case cleanFailed:
			failed++
		case cleanInconclusive:
			unsure++
		}
	}
	switch {
	case caught < bugs || failed > 0:
		return withCode(exitFail, fmt.Errorf("selftest failed: %d of %d bugs missed, %d clean runs failed", bugs-caught, bugs, failed))
	case unsure > 0:
		return withCode(exitInconclusive, fmt.Errorf("selftest inconclusive: %d clean runs could not be judged", unsure))
	}
	return nil
}

func selftest(cmd *cobra.Command, out, mode string, duration time.Duration, rate int, imgs sim.Images) error {
	w := cmd.OutOrStdout()
	catalogue, err := scenarios.Builtin()
	if err != nil {
		return withCode(exitUsage, err)
	}
	bugs := bugsFor(mode)
	var scenarioNames []string
	seen := map[string]bool{}
	for _, b := range bugs {
		if !seen[b.Scenario] {
			seen[b.Scenario] = true
			scenarioNames = append(scenarioNames, b.Scenario)
		}
	}
	sort.Strings(scenarioNames)
	runOne := func(bug, name string) (selftestRun, error) {
		sc, err := catalogue.Find(name)
		if err != nil {
			return selftestRun{}, withCode(exitUsage, err)
		}
		sc.Mode, sc.Images = mode, sc.Images.With(imgs)
		if err := sc.CanRunIn(mode); err != nil {
			return selftestRun{}, fmt.Errorf("selftest: %s in %s mode: %w", name, mode, err)
		}
		sc.Load.Duration = duration
		sc.Load.Rate.Freq, sc.Load.Rate.Per, sc.Load.Pacer = rate, time.Second, nil
		label := "clean"
		var bugList []string
		if bug != "" {
			label, bugList = bug, []string{bug}
		}
		dir := filepath.Join(out, label+"-"+name)
		fmt.Fprintf(w, "selftest: %-24s on %-18s ... ", label, name)
		rep, err := scenarios.Run(cmd.Context(), sc, scenarios.Options{Out: dir, Bugs: bugList})
		switch {
		case errors.Is(err, scenarios.ErrInterrupted):
			fmt.Fprintln(w, "interrupted")
			return selftestRun{}, withCode(exitInterrupted, err)
		case errors.Is(err, stack.ErrEnvironment):
			fmt.Fprintln(w, "no environment")
			return selftestRun{}, withCode(exitEnvironment, err)
		}
		verdict := "error"
		if rep != nil {
			verdict = rep.Verdict
		}
		fmt.Fprintf(w, "%s %s\n", verdict, failedNames(rep))
		return selftestRun{bug: bug, scenario: name, rep: rep, err: err}, nil
	}
	var clean []selftestRun
	for _, name := range scenarioNames {
		r, err := runOne("", name)
		if err != nil {
			return err
		}
		clean = append(clean, r)
	}
	var runs []selftestRun
	for _, b := range bugs {
		r, err := runOne(b.Name, b.Scenario)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	invariants := invariantNames(bugs, clean, runs)
	fmt.Fprintf(w, "\nbug x invariant (X = failed; - = nothing to check; * = the invariant meant to catch it)\n")
	fmt.Fprintf(w, "%-24s", "")
	for _, inv := range invariants {
		fmt.Fprintf(w, " %-18s", inv)
	}
	fmt.Fprintln(w, " verdict")
	printRow := func(label string, rep *report.Report, want, verdict string) {
		state := map[string]string{}
		if rep != nil {
			for _, inv := range rep.Invariants {
				state[inv.Name] = inv.State()
			}
		}
		fmt.Fprintf(w, "%-24s", label)
		for _, inv := range invariants {
			cell := "."
			switch state[inv] {
			case report.StatusFail:
				cell = "X"
			case report.StatusNotApplicable:
				cell = "-"
			case "":
				cell = "?"
			}
			if inv == want {
				cell += "*"
			}
			fmt.Fprintf(w, " %-18s", cell)
		}
		fmt.Fprintln(w, " "+verdict)
	}
	var notes []string
	for _, r := range clean {
		outcome, why := judgeClean(r)
		verdict := map[string]string{cleanPassed: "ok", cleanFailed: "WRONG", cleanInconclusive: "inconclusive"}[outcome]
		printRow("clean/"+r.scenario, r.rep, "", verdict)
		if why != "" {
			notes = append(notes, fmt.Sprintf("clean/%s %s: %s", r.scenario, outcome, why))
		}
	}
	caught := 0
	for i, b := range bugs {
		ok, why := judgeBug(runs[i], b.Invariant)
		verdict := "ok"
		if ok {
			caught++
		} else {
			verdict = "MISSED"
			notes = append(notes, fmt.Sprintf("%s not caught: %s", b.Name, why))
		}
		printRow(b.Name, runs[i].rep, b.Invariant, verdict)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	fmt.Fprintf(w, "\n%s\n", selftestSummary(caught, len(bugs), clean))
	if err := selftestCode(caught, len(bugs), clean); err != nil {
		return err
	}
	fmt.Fprintln(w, "selftest: pass")
	return nil
}

// bugsFor lists the seeded bugs shown caught in a mode.
func bugsFor(mode string) []payments.Bug {
	var out []payments.Bug
	for _, b := range payments.Bugs() {
		if b.AppliesTo(mode) {
			out = append(out, b)
		}
	}
	return out
}

// failedNames lists what did not pass in a report: failed invariants and
// SLOs, invariants with nothing to check (n/a), SLOs that could not be
// judged (??), and the run's error.
func failedNames(r *report.Report) string {
	if r == nil {
		return ""
	}
	var names []string
	for _, inv := range r.Invariants {
		switch inv.State() {
		case report.StatusFail:
			names = append(names, inv.Name)
		case report.StatusNotApplicable:
			names = append(names, "n/a:"+inv.Name)
		}
	}
	for _, s := range r.SLOs {
		switch s.State() {
		case report.StatusFail:
			names = append(names, "slo:"+s.Name)
		case report.StatusInconclusive:
			names = append(names, "??slo:"+s.Name)
		}
	}
	if r.Error != "" {
		names = append(names, "error: "+r.Error)
	}
	if len(names) == 0 {
		return ""
	}
	return "(" + strings.Join(names, ", ") + ")"
}

func invariantNames(bugs []payments.Bug, clean, runs []selftestRun) []string {
	var names []string
	seen := map[string]bool{}
	add := func(r *report.Report) {
		if r == nil {
			return
		}
		for _, inv := range r.Invariants {
			if !seen[inv.Name] {
				seen[inv.Name] = true
				names = append(names, inv.Name)
			}
		}
	}
	for _, r := range clean {
		add(r.rep)
	}
	for _, r := range runs {
		add(r.rep)
	}
	for _, b := range bugs {
		if !seen[b.Invariant] {
			seen[b.Invariant] = true
			names = append(names, b.Invariant)
		}
	}
	return names
}
