package main

import (
	"context"
	"fmt"
	"io"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/scenarios"
)

// runOne runs one scenario with the chosen UI ("plain" or "tui") writing
// to w, and returns its report; opt carries Out and Bugs.
func runOne(ctx context.Context, ui string, w io.Writer, sc scenarios.Scenario, opt scenarios.Options) (*report.Report, error) {
	opt.OnTick = func(t loadgen.Tick) { printTick(w, t) }
	opt.Progress = func(step string, done, total int) {
		fmt.Fprintf(w, "setup [%d/%d] %s\n", done, total, step)
	}
	opt.Events = w
	opt.OnFault = func(chaos.Record, bool) {} // fault lines come through Events
	rep, err := scenarios.Run(ctx, sc, opt)
	printVerdict(w, rep, opt.Out)
	return rep, err
}
