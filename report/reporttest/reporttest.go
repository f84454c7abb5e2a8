// Package reporttest holds what tests of the run artifacts share: the
// JUnit schema check and a junit.xml's failing testcases.
package reporttest

import (
	_ "embed"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// junitSchema is the JUnit XML schema junit.xml is checked against. It is
// embedded, not found beside the source: builds with -trimpath (as .ci/run's)
// leave no source path to find it by.
//
//go:embed junit.xsd
var junitSchema []byte

// ValidateJUnit checks path against report/reporttest/junit.xsd with xmllint;
// it skips the test, saying why, where xmllint is missing (.ci/run
// installs it).
func ValidateJUnit(t testing.TB, path string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint is missing (apt-get install libxml2-utils): the schema check cannot run")
	}
	schema := filepath.Join(t.TempDir(), "junit.xsd")
	if err := os.WriteFile(schema, junitSchema, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("xmllint", "--noout", "--schema", schema, path).CombinedOutput(); err != nil {
		t.Fatalf("xmllint --schema junit.xsd %s: %v\n%s", path, err, out)
	}
}

// Failing lists, per testsuite, the failed or errored testcases of a
// junit.xml as "KIND/NAME": KIND is the classname after the scenario's
// (invariant, slo, fault), empty for the run itself.
func Failing(t testing.TB, path string) [][]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name      string    `xml:"name,attr"`
				Classname string    `xml:"classname,attr"`
				Failure   *struct{} `xml:"failure"`
				Error     *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := make([][]string, len(doc.Suites))
	for i, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil || c.Error != nil {
				kind := strings.TrimPrefix(strings.TrimPrefix(c.Classname, "paysim."+s.Name), ".")
				out[i] = append(out[i], kind+"/"+c.Name)
			}
		}
	}
	return out
}
