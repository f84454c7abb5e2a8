package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"paysim/report"
)

func newDiffCmd() *cobra.Command {
	th := report.DefaultThresholds()
	var asJSON bool
	var throughput, latency, errs percent
	cmd := &cobra.Command{
		Use:   "diff RUN_A RUN_B",
		Short: "Compare run B against run A (or two run --all directories scenario by scenario); exit 1 when B regressed",
		Long: `Compare run B against run A: ok/s, p50, p99, RTO, RPO, the share of
unknown outcomes, every invariant and the verdict. B regressed when a figure
is worse than its threshold allows, an invariant or the verdict that did not
fail in A fails in B, or B lost more payments. Latency and throughput are not
compared when either run's host saturated. Two run directories are compared
whatever their scenarios; two run --all directories are paired by scenario.
Exit 1 on a regression, 0 otherwise, 2 when a directory holds no report.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			th.Throughput, th.Latency, th.Errors = float64(throughput), float64(latency), float64(errs)
			var sides [2][]*report.Report
			for i, dir := range args {
				dirs, err := runDirs(dir)
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("diff: %w", err))
				}
				for _, d := range dirs {
					r, err := report.ReadJSON(d)
					if err != nil {
						return withCode(exitUsage, fmt.Errorf("diff: %w", err))
					}
					sides[i] = append(sides[i], r)
				}
			}
			d := report.Compare(args[0], args[1], sides[0], sides[1], th)
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(d); err != nil {
					return withCode(exitEnvironment, err)
				}
			} else if err := d.WriteTable(w); err != nil {
				return withCode(exitEnvironment, err)
			}
			if d.Regressed {
				return withCode(exitFail, nil)
			}
			return nil
		},
	}
	throughput, latency, errs = percent(th.Throughput), percent(th.Latency), percent(th.Errors)
	fl := cmd.Flags()
	fl.Var(&throughput, "throughput", "largest allowed drop of ok/s")
	fl.Var(&latency, "latency", "largest allowed rise of p50 and p99")
	fl.DurationVar(&th.LatencyFloor, "latency-floor", th.LatencyFloor, "a latency rise smaller than this is noise, whatever its ratio")
	fl.DurationVar(&th.RTO, "rto", th.RTO, "largest allowed rise of the worst RTO")
	fl.Var(&errs, "errors", "largest allowed rise of the share of unknown outcomes (5xx, timeouts), in points")
	fl.BoolVar(&asJSON, "json", false, "print the comparison as JSON")
	return cmd
}

// percent is a flag given as "20%" (or as a fraction, 0.2).
type percent float64

func (p *percent) String() string { return strconv.FormatFloat(float64(*p)*100, 'f', -1, 64) + "%" }

func (p *percent) Type() string { return "percent" }

func (p *percent) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-"), "%"), 64)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a percentage such as 20%%", s)
	case strings.HasSuffix(s, "%"):
		v /= 100
	}
	if v < 0 {
		return fmt.Errorf("%q: a threshold cannot be negative", s)
	}
	*p = percent(v)
	return nil
}
