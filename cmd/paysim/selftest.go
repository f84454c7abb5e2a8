package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"paysim/report"
	"paysim/scenarios"
	"paysim/sim/payments"
)

func newSelftestCmd() *cobra.Command {
	var out string
	var duration time.Duration
	var rate int
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Run every seeded bug on its scenario (each must be caught) and the same scenarios clean (each must pass)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				out = filepath.Join("runs", time.Now().Format("20060102-150405")+"-selftest")
			}
			return selftest(cmd, out, duration, rate)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "artifact directory (default runs/<time>-selftest/)")
	cmd.Flags().DurationVar(&duration, "duration", 15*time.Second, "load duration of each run")
	cmd.Flags().IntVar(&rate, "rate", 300, "requests per second of each run")
	return cmd
}

// selftestRun is one run of the matrix.
type selftestRun struct {
	bug, scenario string
	rep           *report.Report
	err           error
}

func selftest(cmd *cobra.Command, out string, duration time.Duration, rate int) error {
	w := cmd.OutOrStdout()
	catalogue, err := scenarios.Builtin()
	if err != nil {
		return withCode(exitUsage, err)
	}
	bugs := payments.Bugs()
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
		if errors.Is(err, scenarios.ErrInterrupted) {
			fmt.Fprintln(w, "interrupted")
			return selftestRun{}, withCode(exitInterrupted, err)
		}
		fmt.Fprintf(w, "%s %s\n", rep.Verdict, failedNames(rep))
		return selftestRun{bug: bug, scenario: name, rep: rep, err: err}, nil
	}
	ok := true
	clean := map[string]selftestRun{}
	for _, name := range scenarioNames {
		r, err := runOne("", name)
		if err != nil {
			return err
		}
		clean[name] = r
		if r.err != nil || r.rep.Verdict != report.VerdictPass {
			ok = false
		}
	}
	var runs []selftestRun
	for _, b := range bugs {
		r, err := runOne(b.Name, b.Scenario)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	invariants := invariantNames(clean, runs)
	caught := 0
	fmt.Fprintf(w, "\nbug x invariant (X = failed; * = the invariant meant to catch it)\n")
	fmt.Fprintf(w, "%-24s", "")
	for _, inv := range invariants {
		fmt.Fprintf(w, " %-18s", inv)
	}
	fmt.Fprintln(w, " verdict")
	printRow := func(label string, rep *report.Report, want string) bool {
		failed := map[string]bool{}
		if rep != nil {
			for _, inv := range rep.Invariants {
				if !inv.OK {
					failed[inv.Name] = true
				}
			}
		}
		fmt.Fprintf(w, "%-24s", label)
		for _, inv := range invariants {
			cell := "."
			if failed[inv] {
				cell = "X"
			}
			if inv == want {
				cell += "*"
			}
			fmt.Fprintf(w, " %-18s", cell)
		}
		good := failed[want]
		if want == "" {
			good = rep != nil && rep.Verdict == report.VerdictPass
		}
		fmt.Fprintln(w, " "+map[bool]string{true: "ok", false: "WRONG"}[good])
		return good
	}
	for _, name := range scenarioNames {
		if !printRow("clean/"+name, clean[name].rep, "") {
			ok = false
		}
	}
	for i, b := range bugs {
		r := runs[i]
		good := printRow(b.Name, r.rep, b.Invariant)
		if good && r.rep.Verdict == report.VerdictFail {
			caught++
		} else {
			ok = false
		}
	}
	fmt.Fprintf(w, "\n%d of %d seeded bugs caught by their invariant; %d clean runs\n", caught, len(bugs), len(scenarioNames))
	if !ok {
		return withCode(exitFail, errors.New("selftest failed"))
	}
	fmt.Fprintln(w, "selftest: pass")
	return nil
}

func failedNames(r *report.Report) string {
	if r == nil {
		return ""
	}
	var names []string
	for _, inv := range r.Invariants {
		if !inv.OK {
			names = append(names, inv.Name)
		}
	}
	for _, s := range r.SLOs {
		if !s.OK {
			names = append(names, "slo:"+s.Name)
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

func invariantNames(clean map[string]selftestRun, runs []selftestRun) []string {
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
	for _, b := range payments.Bugs() {
		if !seen[b.Invariant] {
			seen[b.Invariant] = true
			names = append(names, b.Invariant)
		}
	}
	return names
}
