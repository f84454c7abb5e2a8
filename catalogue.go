// Package paysim holds the built-in scenario catalogue, the repo-root
// scenarios.yaml, embedded in the binary.
package paysim

import _ "embed"

// CatalogueYAML is the text of the repo-root scenarios.yaml.
//
//go:embed scenarios.yaml
var CatalogueYAML string
