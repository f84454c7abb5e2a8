package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"paysim/sim/containers/engine"
)

// downTimeout bounds the cleanup, which must also work after Ctrl-C.
const downTimeout = 2 * time.Minute

func newDownCmd() *cobra.Command {
	var run string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove every container and network labelled paysim.run (what a killed paysim left)",
		Long: `Remove every Docker container and network carrying the label paysim.run,
running or not: what a paysim process that was killed (kill -9, a crash)
could not remove itself. --run limits it to one run id. It also removes the
containers of a containers-mode run that is still going.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if run != "" {
				if err := engine.ValidRunID(run); err != nil {
					return withCode(exitUsage, fmt.Errorf("--run: %w", err))
				}
			}
			// The cleanup outlives a Ctrl-C that arrives while it runs.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), downTimeout)
			defer cancel()
			eng, err := connect(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			removed, err := eng.Sweep(ctx, run)
			out := cmd.OutOrStdout()
			var nc, nn int
			for _, r := range removed {
				fmt.Fprintf(out, "removed %-9s %s (run %s)\n", r.Kind, r.Name, r.Run)
				if r.Kind == "container" {
					nc++
				} else {
					nn++
				}
			}
			if err != nil {
				return withCode(exitEnvironment, err)
			}
			if len(removed) == 0 {
				fmt.Fprintln(out, "nothing to remove")
				return nil
			}
			fmt.Fprintf(out, "removed %d containers and %d networks\n", nc, nn)
			return nil
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "remove only this run's containers and networks")
	return cmd
}
