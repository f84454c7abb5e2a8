package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"paysim/capacity"
	"paysim/report"
	"paysim/scenarios"
	"paysim/sim/stack"
	"paysim/tui"
)

type capacityFlags struct {
	file, mode, out, target string
	progress                string
	seed                    int64
	step, settle, reference time.Duration
	p99                     time.Duration
	precision               percent
	start, growth           float64
	maxSteps                int
	instanceCores           float64
	hotDays, warmDays       int
	replicas                int
	images                  []string
}

func newCapacityCmd() *cobra.Command {
	f := capacityFlags{precision: 0.05}
	cmd := &cobra.Command{
		Use:   "capacity [SCENARIO]",
		Short: "Find the highest rate the topology sustains within the scenario's SLOs, with every AZ and with one lost (default scenario: baseline)",
		Long: `Find the highest constant rate whose step meets the scenario's SLOs (p99,
availability) with every invariant passing: grow by --growth until a step
is not sustained, then bisect to --precision. Then the same with the first
AZ lost for the whole step (judged after --settle). Each step is an ordinary
run with its own report under DIR/steps. Writes DIR/capacity.json and
DIR/capacity.html: the rates, this machine's no-op HTTP reference and the
ratios to it, a Universal Scalability Law fit, the tier that gives out
first, sizing for --target and log retention.

Exit 0 with both rates found, 1 when no rate was sustained, 130 when
interrupted (capacity.json holds the steps so far).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCapacity(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "scenarios file (default ./scenarios.yaml if present, else built-in)")
	fl.StringVar(&f.mode, "mode", "", "embedded|containers (default: the scenario's)")
	fl.StringVar(&f.out, "out", "", "directory for capacity.json and the steps (default runs/<time>-capacity-<scenario>)")
	fl.Int64Var(&f.seed, "seed", 0, "override the seed")
	fl.DurationVar(&f.step, "step", 30*time.Second, "how long each rate is held and judged")
	fl.DurationVar(&f.settle, "settle", 15*time.Second, "how long a one-AZ-down step runs with the AZ lost before it is judged (the failover)")
	fl.Var(&f.precision, "precision", "stop when the highest rate sustained and the lowest not are this close")
	fl.Float64Var(&f.start, "start", 0, "the first step's rate (default: the scenario's)")
	fl.Float64Var(&f.growth, "growth", 1.5, "factor between steps until one is not sustained")
	fl.IntVar(&f.maxSteps, "max-steps", 12, "bound on each phase's steps")
	fl.StringVar(&f.target, "target", "", "size for this peak rate, e.g. 4000/s")
	fl.Float64Var(&f.instanceCores, "instance-cores", 1, "cores one app instance gets, for --target's sizing")
	fl.IntVar(&f.hotDays, "hot-days", 7, "log retention on hot search nodes, in days")
	fl.IntVar(&f.warmDays, "warm-days", 90, "log retention on warm storage (UltraWarm) after the hot days, in days")
	fl.IntVar(&f.replicas, "replicas", 1, "replicas of each hot log shard")
	fl.DurationVar(&f.p99, "p99", 0, "judge each step against this p99 instead of the scenario's (e.g. 100ms)")
	fl.DurationVar(&f.reference, "reference", 5*time.Second, "how long the machine's no-op HTTP reference runs")
	fl.StringVar(&f.progress, "progress", "auto", "auto|bars|plain: a bar per step (on a terminal for auto), or a line per step")
	imageFlag(cmd, &f.images)
	return cmd
}

func runCapacity(cmd *cobra.Command, f capacityFlags, args []string) error {
	w := cmd.OutOrStdout()
	switch {
	case f.step < 5*time.Second:
		return withCode(exitUsage, fmt.Errorf("--step %v: at least 5s", f.step))
	case f.precision <= 0 || f.precision >= 1:
		return withCode(exitUsage, fmt.Errorf("--precision %v: between 0 and 100%%", f.precision.String()))
	case f.growth <= 1:
		return withCode(exitUsage, fmt.Errorf("--growth %v: above 1", f.growth))
	case f.maxSteps < 2:
		return withCode(exitUsage, fmt.Errorf("--max-steps %d: at least 2", f.maxSteps))
	case f.p99 < 0:
		return withCode(exitUsage, fmt.Errorf("--p99 %v: not negative", f.p99))
	case f.instanceCores <= 0 || f.hotDays < 0 || f.warmDays < 0 || f.replicas < 0:
		return withCode(exitUsage, errors.New("--instance-cores must be positive, --hot-days, --warm-days and --replicas not negative"))
	}
	switch f.progress {
	case "auto", "bars", "plain":
	default:
		return withCode(exitUsage, fmt.Errorf("--progress %q: want auto, bars or plain", f.progress))
	}
	switch f.mode {
	case "", stack.ModeEmbedded, stack.ModeContainers:
	default:
		return withCode(exitUsage, fmt.Errorf("--mode %q: want embedded or containers", f.mode))
	}
	target := 0.0
	if f.target != "" {
		r, err := scenarios.ParseRate(f.target)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("--target: %w", err))
		}
		target = float64(r.Freq) / r.Per.Seconds()
	}
	quietTestcontainers()
	catalogue, err := loadCatalogue(f.file)
	if err != nil {
		return err
	}
	name := "baseline"
	if len(args) == 1 {
		name = args[0]
	}
	sc, err := catalogue.Find(name)
	if err != nil {
		return withCode(exitUsage, err)
	}
	if err := applyOverrides(&sc, runFlags{mode: f.mode, seed: f.seed, images: f.images}); err != nil {
		return withCode(exitUsage, err)
	}
	if sc.Mode == "" {
		sc.Mode = stack.ModeEmbedded
	}
	if f.p99 > 0 {
		sc.SLOs.P99 = f.p99
	}
	start := f.start
	if start <= 0 {
		start = sc.Load.Rate.Rate(0)
		if sc.Load.Pacer != nil {
			start = sc.Load.Pacer.Rate(0)
		}
	}
	out := f.out
	if out == "" {
		out = filepath.Join("runs", time.Now().Format("20060102-150405")+"-capacity-"+sc.Name)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return withCode(exitEnvironment, fmt.Errorf("capacity: %w", err))
	}
	began := time.Now()
	res := &capacity.Result{Scenario: sc.Name, Mode: sc.Mode, StartedAt: began, StepS: f.step.Seconds(), SettleS: f.settle.Seconds(), Precision: float64(f.precision), MaxSteps: f.maxSteps, SLOP99MS: report.MS(sc.SLOs.P99)}

	fmt.Fprintf(w, "== capacity of %s (%s): machine reference for %v\n", sc.Name, sc.Mode, f.reference)
	ref, err := capacity.MeasureReference(cmd.Context(), f.reference)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return withCode(exitInterrupted, err)
		}
		return withCode(exitEnvironment, err)
	}
	fmt.Fprintf(w, "reference: %.0f no-op req/s, %.4f CPU-ms each\n", ref.ReqPerS, ref.CPUMSPerReq)

	var bars *tui.Steps
	// w is stdout behind a wrapper (runMain's stdoutWatch).
	if tty := term.IsTerminal(int(os.Stdout.Fd())); f.progress == "bars" || (f.progress == "auto" && tty) {
		bars = tui.NewSteps(w, tty)
	}
	cfg := capacity.Config{
		Scenario: sc, Step: f.step, Settle: f.settle, Precision: float64(f.precision), Start: start, Growth: f.growth,
		MaxSteps: f.maxSteps, Out: out, Profile: true,
		Run: func(ctx context.Context, step scenarios.Scenario, dir string) (*report.Report, error) {
			log, err := os.Create(filepath.Join(dir, "run.log"))
			if err != nil {
				return nil, fmt.Errorf("capacity: %w", err)
			}
			defer log.Close()
			opt := scenarios.Options{Out: dir}
			if bars != nil {
				bars.Start(fmt.Sprintf("step %s", filepath.Base(dir)), step.Load.Duration)
				opt.OnTick = bars.Tick
			} else {
				fmt.Fprintf(w, "step %s: %v/s for %v ... ", filepath.Base(dir), step.Load.Rate.Freq, step.Load.Duration)
			}
			return runOne(ctx, "plain", log, step, opt, nil)
		},
		OnStep: func(s capacity.Step) {
			verdict := "sustained"
			if !s.Sustained {
				verdict = "NOT sustained: " + s.Why
			}
			line := fmt.Sprintf("answered %.1f/s p99 %.1f ms host %.0f%%: %s", s.AnsweredPS, s.P99MS, 100*s.HostCPUBusy, verdict)
			if bars != nil {
				bars.End(line)
				return
			}
			fmt.Fprintln(w, line)
		},
	}
	all, down, serr := capacity.Search(cmd.Context(), cfg)
	if bars != nil {
		bars.Close()
	}
	interrupted := errors.Is(serr, scenarios.ErrInterrupted) || cmd.Context().Err() != nil
	res.Interrupted = interrupted
	if serr != nil {
		res.Error = serr.Error()
	}
	res.Analyze(all, down, &ref, capacity.Options{Target: target, InstanceCores: f.instanceCores, AZs: len(sc.Topology.AZs),
		HotDays: f.hotDays, WarmDays: f.warmDays, Replicas: f.replicas})
	res.DurationS = time.Since(began).Seconds()
	werr := res.Write(out)
	res.Text(w)
	fmt.Fprintf(w, "\ncapacity.json and capacity.html in %s (%.0fs)\n", out, res.DurationS)
	switch {
	case interrupted:
		return withCode(exitInterrupted, errors.Join(serr, werr))
	case errors.Is(serr, stack.ErrEnvironment):
		return withCode(exitEnvironment, serr)
	case serr != nil || werr != nil:
		return withCode(exitEnvironment, errors.Join(serr, werr))
	case res.MaxRate == 0:
		return withCode(exitFail, fmt.Errorf("capacity: no rate down to 1/s was sustained (see %s)", out))
	}
	return nil
}
