package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"paysim/report"
)

func newReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report DIR",
		Short: "Write junit.xml, summary.md and report.html again from a run directory's report.json (or, for a run --all directory, from each run's)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dirs, err := runDirs(args[0])
			if err != nil {
				return withCode(exitUsage, err)
			}
			var reps []*report.Report
			for _, d := range dirs {
				r, err := report.ReadJSON(d)
				if err != nil {
					return withCode(exitUsage, err)
				}
				if err := report.Render(d, r); err != nil {
					return withCode(exitEnvironment, err)
				}
				reps = append(reps, r)
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %s, %s\n", d, report.JUnitFile, report.SummaryFile, report.HTMLFile)
			}
			if len(dirs) > 1 || dirs[0] != filepath.Clean(args[0]) {
				if err := report.Render(args[0], reps...); err != nil {
					return withCode(exitEnvironment, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %s, %s of %d runs\n", args[0], report.JUnitFile, report.SummaryFile, report.HTMLFile, len(reps))
			}
			return nil
		},
	}
}

// runDirs is dir itself when it holds a report.json, else each of its
// subdirectories that does (a run --all directory), sorted.
func runDirs(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "report.json")); err == nil {
		return []string{filepath.Clean(dir)}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var out []string
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, "report.json")); e.IsDir() && err == nil {
			out = append(out, sub)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("report: " + dir + " holds no report.json, nor does any directory in it")
	}
	sort.Strings(out)
	return out, nil
}
