package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"paysim/scenarios"
)

// defaultScenariosFile is read when it exists and no -f is given.
const defaultScenariosFile = "scenarios.yaml"

// loadCatalogue reads -f FILE, else ./scenarios.yaml if present, else the
// built-in catalogue. A bad file is a usage error (exit 2).
func loadCatalogue(file string) (*scenarios.Catalogue, error) {
	if file == "" {
		if _, err := os.Stat(defaultScenariosFile); err == nil {
			file = defaultScenariosFile
		}
	}
	var cat *scenarios.Catalogue
	var err error
	if file == "" {
		cat, err = scenarios.Builtin()
	} else {
		cat, err = scenarios.LoadFile(file)
	}
	if err != nil {
		var fe scenarios.FileErrors
		if errors.As(err, &fe) {
			return nil, withCode(exitUsage, fe)
		}
		return nil, withCode(exitUsage, err)
	}
	return cat, nil
}

func newValidateCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a scenarios file; exit 2 with FILE:LINE:COL errors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := loadCatalogue(file)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d scenarios, ok\n", cat.File, len(cat.Scenarios))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "scenarios file (default ./scenarios.yaml if present, else built-in)")
	return cmd
}
