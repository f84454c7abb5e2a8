package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pingcap/failpoint"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"paysim/loadgen"
	"paysim/metrics"
	"paysim/report"
	"paysim/scenarios"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// runFlags are the overrides `paysim run` accepts.
type runFlags struct {
	file     string
	mode     string
	duration time.Duration
	rate     string
	seed     int64
	ui       string
	out      string
	bugs     []string
	scale    float64
	all      bool
	ci       bool
	images   []string
	metrics  string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [SCENARIO ...]",
		Short: "Run scenarios (default: the catalogue's default scenario) and write their reports",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScenarios(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "scenarios file (default ./scenarios.yaml if present, else built-in)")
	fl.StringVar(&f.mode, "mode", "", "embedded|containers (default: the scenario's)")
	fl.DurationVar(&f.duration, "duration", 0, "override the load duration, e.g. 30s")
	fl.StringVar(&f.rate, "rate", "", "override the rate, e.g. 300, 300/s, 12000/m")
	fl.Int64Var(&f.seed, "seed", 0, "override the seed")
	fl.StringVar(&f.ui, "ui", "auto", "auto|tui|plain (auto = TUI on a terminal, plain otherwise)")
	fl.StringVar(&f.metrics, "metrics", "", "serve the run's live Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464; port 0 picks one)")
	fl.StringVar(&f.out, "out", "", "artifact directory (default runs/<time>-<scenario>/)")
	fl.StringSliceVar(&f.bugs, "bug", nil, "switch on seeded bugs in the payment service (see paysim list --bugs)")
	fl.Float64Var(&f.scale, "scale", 1, "multiply the scenario's rates (e.g. 0.1 sizes campaign-spike to a laptop)")
	fl.BoolVar(&f.all, "all", false, "run every scenario of the catalogue")
	fl.BoolVar(&f.ci, "ci", false, "use each scenario's shortened ci: form (duration, rate, scale) before other overrides")
	imageFlag(cmd, &f.images)
	return cmd
}

func runScenarios(cmd *cobra.Command, f runFlags, args []string) error {
	switch f.ui {
	case "auto", "plain", "tui":
	default:
		return withCode(exitUsage, fmt.Errorf("--ui %q: want auto, tui or plain", f.ui))
	}
	switch f.mode {
	case "", stack.ModeEmbedded, stack.ModeContainers:
	default:
		return withCode(exitUsage, fmt.Errorf("--mode %q: want embedded or containers", f.mode))
	}
	quietTestcontainers()
	if err := payments.EnableBugs(&failpoint.Failpoints{}, f.bugs); err != nil {
		return withCode(exitUsage, fmt.Errorf("--bug: %w", err))
	}
	if f.scale <= 0 {
		return withCode(exitUsage, fmt.Errorf("--scale %v: must be positive", f.scale))
	}
	catalogue, err := loadCatalogue(f.file)
	if err != nil {
		return err
	}
	if f.all {
		if len(args) > 0 {
			return withCode(exitUsage, errors.New("--all runs every scenario: give no names"))
		}
		args = names(catalogue.Scenarios)
	}
	if len(args) == 0 {
		args = []string{catalogue.Scenarios[0].Name}
	}
	var selected []scenarios.Scenario
	for _, name := range args {
		sc, err := catalogue.Find(name)
		if err != nil {
			return withCode(exitUsage, err)
		}
		ff := f
		if f.ci {
			ci := catalogue.CI[name]
			if ci.Skip != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "== %s: skipped in CI: %s\n", name, ci.Skip)
				continue
			}
			ff = withCI(f, ci)
		}
		if err := applyOverrides(&sc, ff); err != nil {
			return withCode(exitUsage, fmt.Errorf("%s: %w", name, err))
		}
		selected = append(selected, sc)
	}
	ui := f.ui
	if ui == "auto" {
		ui = "plain"
		if term.IsTerminal(int(os.Stdout.Fd())) {
			ui = "tui"
		}
	}
	w := cmd.OutOrStdout()
	failed, inconclusive := false, false
	var summary []string
	// Several scenarios go under one directory, which gets the merged
	// junit.xml and summary.md and a report.html linking each run's.
	top := f.out
	if top == "" && len(selected) > 1 {
		top = filepath.Join("runs", time.Now().Format("20060102-150405")+"-all")
	}
	var live *metrics.Server
	if f.metrics != "" {
		var err error
		if live, err = metrics.Listen(f.metrics); err != nil {
			return withCode(exitUsage, fmt.Errorf("--metrics: %w", err))
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := live.Close(ctx); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "paysim:", err)
			}
		}()
		fmt.Fprintf(w, "metrics: http://%s/metrics\n", live.Addr())
	}
	var reps []*report.Report
	defer func() {
		if len(selected) > 1 && len(reps) > 0 {
			if err := report.Render(top, reps...); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "paysim:", err)
			}
		}
		if len(summary) > 1 {
			fmt.Fprintln(w, "== summary")
			for _, line := range summary {
				fmt.Fprintln(w, line)
			}
			fmt.Fprintf(w, "junit.xml, summary.md and report.html of every run in %s\n", top)
		}
	}()
	for _, sc := range selected {
		out := top
		if out == "" {
			out = filepath.Join("runs", time.Now().Format("20060102-150405")+"-"+sc.Name)
		} else if len(selected) > 1 {
			out = filepath.Join(top, sc.Name)
		}
		fmt.Fprintf(w, "== %s: %s (rate %v for %v, seed %d) -> %s\n", sc.Name, sc.Description, sc.Load.Rate, sc.Load.Duration, sc.Seed, out)
		started := time.Now()
		rep, err := runOne(cmd.Context(), ui, w, sc, scenarios.Options{Out: out, Bugs: f.bugs}, live)
		if rep != nil {
			reps = append(reps, rep)
			line := fmt.Sprintf("%-22s %-12s rto=%5.1fs lost=%d ok/s=%6.1f p99=%7.1fms  (%.0fs)",
				sc.Name, rep.Verdict, rep.Recovery.RTOS, rep.Recovery.RPOLostPayments, rep.ThroughputRPS, rep.LatencyMS.P99, time.Since(started).Seconds())
			if rep.Verdict != report.VerdictPass && len(rep.Reasons) > 0 {
				line += "  " + strings.Join(rep.Reasons, "; ")
			}
			summary = append(summary, line)
		}
		switch {
		case errors.Is(err, scenarios.ErrInterrupted):
			return withCode(exitInterrupted, err)
		case errors.Is(err, stack.ErrEnvironment):
			return withCode(exitEnvironment, err)
		case err != nil:
			fmt.Fprintln(cmd.ErrOrStderr(), "paysim:", err)
			failed = true
		case rep.Verdict == report.VerdictInconclusive:
			inconclusive = true
		case rep.Verdict != report.VerdictPass:
			failed = true
		}
	}
	switch {
	case failed:
		return withCode(exitFail, errors.New("a run failed"))
	case inconclusive:
		return withCode(exitInconclusive, errors.New("a run could not be judged"))
	}
	return nil
}

// withCI applies a scenario's ci: form under the flags the user gave.
func withCI(f runFlags, ci scenarios.CIRun) runFlags {
	if f.duration == 0 {
		f.duration = ci.Duration
	}
	if f.rate == "" {
		f.rate = ci.Rate
	}
	if f.scale == 1 && ci.Scale > 0 {
		f.scale = ci.Scale
	}
	return f
}

func applyOverrides(sc *scenarios.Scenario, f runFlags) error {
	if f.mode != "" {
		sc.Mode = f.mode
	}
	if f.duration < 0 {
		return fmt.Errorf("--duration %v: must be positive", f.duration)
	}
	if f.duration > 0 {
		sc.Load.Duration = f.duration
	}
	if f.rate != "" {
		r, err := scenarios.ParseRate(f.rate)
		if err != nil {
			return fmt.Errorf("--rate: %w", err)
		}
		sc.Load.Rate, sc.Load.Pacer = r, nil
	}
	if f.seed != 0 {
		sc.Seed = f.seed
	}
	over, err := imageOverrides(f.images, sc.Mode, os.Getenv)
	if err != nil {
		return err
	}
	sc.Images = sc.Images.With(over)
	if f.scale != 0 && f.scale != 1 {
		sc.Load.Scale(f.scale)
	}
	for _, e := range sc.Faults { // one that outlasts the load heals when it ends
		if e.At >= sc.Load.Duration {
			return fmt.Errorf("--duration %v: the %s fault on %s would start at %v, after the load ends", sc.Load.Duration, e.Fault.Name(), e.Fault.Target(), e.At)
		}
	}
	// The file judged its own mode and seed; judge the ones asked for (a
	// nemesis's schedule follows the seed).
	if f.mode != "" || f.seed != 0 {
		if err := sc.CanRunIn(sc.Mode); err != nil {
			return fmt.Errorf("--mode %s: %w", sc.Mode, err)
		}
	}
	return nil
}

func names(all []scenarios.Scenario) []string {
	var n []string
	for _, s := range all {
		n = append(n, s.Name)
	}
	return n
}

// printTick is the plain reporter's one line per second.
func printTick(w io.Writer, t loadgen.Tick) {
	fmt.Fprintf(w, "t=%3.0fs rps=%6.1f ok=%5d failed=%4d errors=%4d p50=%7.2fms p99=%7.2fms\n",
		t.T.Seconds(), t.RPS, t.OK, t.Failed, t.Errors, report.MS(t.P50), report.MS(t.P99))
}

func printVerdict(w io.Writer, r *report.Report, out string) {
	if r == nil {
		return
	}
	q := r.Requests
	okPct := 0.0
	if q.Total > 0 {
		okPct = 100 * float64(q.OK) / float64(q.Total)
	}
	fmt.Fprintf(w, "requests: total=%d ok=%d (%.2f%%) failed=%d unknown=%d  throughput=%.1f/s  p50=%.2fms p95=%.2fms p99=%.2fms max=%.2fms\n",
		q.Total, q.OK, okPct, q.Failed, q.Unknown, r.ThroughputRPS, r.LatencyMS.P50, r.LatencyMS.P95, r.LatencyMS.P99, r.LatencyMS.Max)
	for _, f := range r.Faults {
		fmt.Fprintf(w, "  fault     %-18s %-28s %6.1fs..%6.1fs late=%.0fms rto=%.1fs", f.Kind, f.Target, f.StartS, f.EndS, f.LateMS, f.RTOS)
		if f.RTOOK != nil && !*f.RTOOK {
			fmt.Fprintf(w, " (over %.0fs)", f.RTOBoundS)
		}
		if d := f.During; d != nil && f.Before != nil {
			fmt.Fprintf(w, "  ok/s before=%.0f during=%.0f errors during=%d p99 during=%.0fms", f.Before.OKRPS, d.OKRPS, d.Errors, d.P99MS)
		}
		fmt.Fprintln(w)
		if f.Error != "" {
			fmt.Fprintf(w, "      FAULT ERROR: %s\n", f.Error)
		}
	}
	if len(r.Faults) > 0 {
		fmt.Fprintf(w, "  recovery  rto=%.1fs rpo_lost_payments=%d\n", r.Recovery.RTOS, r.Recovery.RPOLostPayments)
	}
	for _, inv := range r.Invariants {
		fmt.Fprintf(w, "  invariant %-22s %-4s checked=%-8d violations=%-4d %s\n", inv.Name, statusWord(inv.State()), inv.Checked, inv.Violations, inv.Detail)
		for _, ex := range inv.Examples {
			fmt.Fprintf(w, "      e.g. %s\n", ex)
		}
	}
	for _, s := range r.SLOs {
		fmt.Fprintf(w, "  slo       %-22s %-4s target=%s actual=%.4g", s.Name, statusWord(s.State()), s.Target, s.Actual)
		if s.Detail != "" {
			fmt.Fprintf(w, "  %s", s.Detail)
		}
		fmt.Fprintln(w)
	}
	if h := r.Host; h != nil {
		fmt.Fprintf(w, "  host      cores=%d cpu_used=%.0f%% host_cpu_busy=%.0f%% loadgen_late_p99=%.1fms sched_p99=%.2fms not_sent=%d pool_full=%d saturated=%v %s\n",
			h.Cores, 100*h.CPUUsed, 100*h.HostCPUBusy, h.LoadgenLatenessP99MS, h.SchedLatencyP99MS, h.NotSent, h.LoadgenPoolFull, h.Saturated, h.Reason)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	if r.StoppedBy != "" {
		fmt.Fprintf(w, "  stopped by: %s\n", r.StoppedBy)
	}
	if r.Verdict != report.VerdictPass {
		for _, why := range r.Reasons {
			fmt.Fprintf(w, "  %s: %s\n", r.Verdict, why)
		}
	}
	fmt.Fprintf(w, "verdict: %s  (report: %s)\n", strings.ToUpper(r.Verdict), filepath.Join(out, "report.json"))
}

// statusWord is an invariant's or SLO's status as the plain output shows it.
func statusWord(status string) string {
	switch status {
	case report.StatusPass:
		return "ok"
	case report.StatusNotApplicable:
		return "n/a"
	case report.StatusInconclusive:
		return "??"
	}
	return "FAIL"
}
