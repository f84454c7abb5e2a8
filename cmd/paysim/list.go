package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"paysim/sim/payments"
)

// scenarioEntry is one line of `paysim list --json`.
type scenarioEntry struct {
	Name        string   `json:"name"`
	Mode        string   `json:"mode"` // the mode it runs in unless --mode says otherwise
	Description string   `json:"description"`
	Faults      []string `json:"faults"`
	Duration    string   `json:"duration"`
}

func newListCmd() *cobra.Command {
	var bugs, asJSON bool
	var file string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List scenarios (or seeded bugs) with one-line descriptions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			if bugs {
				all := payments.Bugs()
				if asJSON {
					return writeJSONTo(w, all)
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "BUG\tSCENARIO\tCAUGHT BY\tMODES\tDESCRIPTION")
				for _, b := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Name, b.Scenario, b.Invariant, strings.Join(b.Modes, ","), b.Description)
				}
				return tw.Flush()
			}
			cat, err := loadCatalogue(file)
			if err != nil {
				return err
			}
			entries := []scenarioEntry{}
			for _, s := range cat.Scenarios {
				e := scenarioEntry{Name: s.Name, Mode: s.Mode, Description: s.Description, Faults: []string{}, Duration: s.Load.Duration.String()}
				for _, f := range s.Faults {
					e.Faults = append(e.Faults, fmt.Sprintf("%s %s at %v for %v", f.Fault.Name(), f.Fault.Target(), f.At, f.For))
				}
				for name, term := range s.Failpoints {
					e.Faults = append(e.Faults, "failpoint "+name+"="+term)
				}
				if n := s.Nemesis; n != nil {
					e.Faults = append(e.Faults, fmt.Sprintf("nemesis %v every %v-%v for %v-%v, max %d at once", n.Kinds, n.EveryMin, n.EveryMax, n.ForMin, n.ForMax, n.MaxConcurrent))
				}
				entries = append(entries, e)
			}
			if asJSON {
				return writeJSONTo(w, entries)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCENARIO\tMODE\tDURATION\tDESCRIPTION")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Mode, e.Duration, e.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&bugs, "bugs", false, "list the seeded bugs instead")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVarP(&file, "file", "f", "", "scenarios file (default ./scenarios.yaml if present, else built-in)")
	return cmd
}

func writeJSONTo(w interface{ Write([]byte) (int, error) }, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(raw, '\n'))
	return err
}
