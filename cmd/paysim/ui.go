package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/term"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/metrics"
	"paysim/report"
	"paysim/scenarios"
	"paysim/sim/stack"
	"paysim/tui"
)

// runOne runs one scenario with the chosen UI ("plain" or "tui") writing
// to w, and returns its report; opt carries Out and Bugs.
func runOne(ctx context.Context, ui string, w io.Writer, sc scenarios.Scenario, opt scenarios.Options, live *metrics.Server) (*report.Report, error) {
	if ui == "tui" {
		// Keep the result up until q when someone can press it.
		return runTUI(ctx, os.Stdin, term.IsTerminal(int(os.Stdin.Fd())), w, sc, opt, live)
	}
	also := opt.OnTick
	opt.OnTick = func(t loadgen.Tick) {
		printTick(w, t)
		if also != nil {
			also(t)
		}
	}
	opt.Progress = func(step string, done, total int) {
		fmt.Fprintf(w, "setup [%d/%d] %s\n", done, total, step)
	}
	opt.Events = w
	opt.OnFault = func(chaos.Record, bool) {} // fault lines come through Events
	rep, err := scenarios.Run(ctx, sc, observed(opt, sc, live))
	printVerdict(w, rep, opt.Out)
	return rep, err
}

// runTUI runs one scenario under the dashboard: mpb bars during setup, the
// bubbletea program from the start of the load until the user leaves (q),
// then the plain verdict so it stays in the terminal's scrollback. q or
// Ctrl-C before the end cancels the run, which heals, tears down and
// writes a partial report while the dashboard keeps drawing. Keys come from
// in; hold keeps the result on screen until q.
func runTUI(ctx context.Context, in io.Reader, hold bool, w io.Writer, sc scenarios.Scenario, opt scenarios.Options, live *metrics.Server) (*report.Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pacer vegeta.Pacer = sc.Load.Rate
	if sc.Load.Pacer != nil {
		pacer = sc.Load.Pacer
	}
	mode := sc.Mode
	if mode == "" {
		mode = stack.ModeEmbedded
	}
	d := tui.NewDashboard(tui.Options{
		Config: tui.Config{
			Scenario: sc.Name, Mode: mode, Duration: sc.Load.Duration, Rate: pacer.Rate(0), Out: opt.Out,
			Cancel: cancel, Hold: hold,
		},
		In:  in,
		Out: w,
	})
	stderrLog := filepath.Join(opt.Out, "stderr.log")
	var restore func() error
	opt.Progress = d.Progress
	opt.OnTick = d.Tick
	opt.OnFault = d.Fault
	opt.Events = d
	opt.OnLive = func(l scenarios.Live) {
		var err error
		if restore, err = tui.RedirectStderr(stderrLog); err != nil {
			fmt.Fprintln(w, "paysim:", err)
		}
		d.Start(l)
	}
	rep, err := scenarios.Run(ctx, sc, observed(opt, sc, live))
	uerr := d.Finish(rep, err)
	if restore != nil {
		if rerr := restore(); rerr != nil {
			fmt.Fprintln(w, "paysim:", rerr)
		}
		if fi, serr := os.Stat(stderrLog); serr == nil && fi.Size() > 0 {
			fmt.Fprintf(w, "(stderr output during the run: %s)\n", stderrLog)
		}
	}
	if uerr != nil {
		fmt.Fprintln(w, "paysim:", uerr)
	}
	if n := d.Dropped(); n > 0 {
		fmt.Fprintf(w, "(dashboard fell behind: %d updates dropped)\n", n)
	}
	for _, l := range d.Log() {
		fmt.Fprintln(w, l)
	}
	printVerdict(w, rep, opt.Out)
	return rep, err
}

// observed adds live metrics to a run's hooks: a new metrics.Run that
// live serves from now on, fed by every result, tick, fault and the live
// stack. With no server it is opt unchanged.
func observed(opt scenarios.Options, sc scenarios.Scenario, live *metrics.Server) scenarios.Options {
	if live == nil {
		return opt
	}
	var pacer vegeta.Pacer = sc.Load.Rate
	if sc.Load.Pacer != nil {
		pacer = sc.Load.Pacer
	}
	m := metrics.NewRun(sc.Name, pacer)
	live.Serve(m)
	onTick, onFault, onLive, onResult := opt.OnTick, opt.OnFault, opt.OnLive, opt.OnResult
	opt.OnTick = func(t loadgen.Tick) {
		m.Tick(t)
		if onTick != nil {
			onTick(t)
		}
	}
	opt.OnFault = func(r chaos.Record, injected bool) {
		m.Fault(r, injected)
		if onFault != nil {
			onFault(r, injected)
		}
	}
	opt.OnLive = func(l scenarios.Live) {
		m.Live(l)
		if onLive != nil {
			onLive(l)
		}
	}
	opt.OnResult = func(r *vegeta.Result) {
		m.Result(r)
		if onResult != nil {
			onResult(r)
		}
	}
	return opt
}
