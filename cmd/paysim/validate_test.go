package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goodFile is a small valid scenarios file the broken cases start from.
const goodFile = `version: 1
defaults:
  topology:
    azs: [ap-northeast-1a, ap-northeast-1c, ap-northeast-1d]
scenarios:
  - name: drill
    description: a drill
    load:
      rate: 200/s
      duration: 60s
      mix: {payment: 70, topup: 30}
    faults:
      - {kind: az-outage, target: ap-northeast-1a, at: 20s, for: 30s}
    slos: {availability: 99%, p99: 200ms}
`

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scenarios.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateGoodFilesPass(t *testing.T) {
	for name, body := range map[string]string{"small": goodFile, "catalogue": mustRead(t, "../../scenarios.yaml")} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := execute(context.Background(), []string{"validate", "-f", writeFile(t, body)}, &stderr); code != exitPass {
				t.Fatalf("exit %d, want 0:\n%s", code, stderr.String())
			}
		})
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestBrokenFilesExit2WithPosition feeds broken files to validate and checks
// each error names FILE:LINE:COL, the field path and the problem.
func TestBrokenFilesExit2WithPosition(t *testing.T) {
	sub := func(old, new string) string {
		if !strings.Contains(goodFile, old) {
			t.Fatalf("test bug: %q not in the good file", old)
		}
		return strings.Replace(goodFile, old, new, 1)
	}
	tests := []struct {
		name string
		body string
		want string // regexp after "FILE:"
	}{
		{"bad indent", sub("    description: a drill", "      description: a drill"), `^6:11: \$: mapping value is not allowed in this context`},
		{"unknown field", sub("    description: a drill", "    descripton: a drill"), `^7:5: scenarios\[0\]\.descripton: unknown field "descripton" \(did you mean "description"\?\)`},
		{"bad duration", sub("duration: 60s", "duration: 60 seconds"), `^10:17: scenarios\[0\]\.load\.duration: "60 seconds" is not a duration`},
		{"unknown AZ", sub("target: ap-northeast-1a,", "target: us-east-1a,"), `^13:35: scenarios\[0\]\.faults\[0\]\.target: no AZ "us-east-1a"`},
		{"negative rate", sub("rate: 200/s", "rate: -5/s"), `^9:13: scenarios\[0\]\.load\.rate: rate "-5/s": must be positive`},
		{"fault after the end", sub("at: 20s, for: 30s", "at: 50s, for: 30s"), `^13:66: scenarios\[0\]\.faults\[0\]\.for: ends at 1m20s, after the run ends \(1m0s\)`},
		{"duplicate name", goodFile + "  - name: drill\n    description: again\n    load: {rate: 10/s, duration: 10s}\n", `^15:11: scenarios\[1\]\.name: duplicate scenario name "drill"`},
		{"unknown fault kind", sub("kind: az-outage", "kind: meteor-strike"), `^13:16: scenarios\[0\]\.faults\[0\]\.kind: unknown fault kind "meteor-strike"`},
		{"percentage over 100", sub("availability: 99%", "availability: 120%"), `^14:26: scenarios\[0\]\.slos\.availability: "120%": a percentage must be between 0% and 100%`},
		{"scalar where a list belongs", sub("azs: [ap-northeast-1a, ap-northeast-1c, ap-northeast-1d]", "azs: ap-northeast-1a"), `^4:10: defaults\.topology\.azs: string was used where sequence is expected`},
		{"unsupported version", sub("version: 1", "version: 3"), `^1:10: version: unsupported version 3`},
		{"unknown mix operation", sub("topup: 30", "topups: 30"), `^11:34: scenarios\[0\]\.load\.mix\.topups: unknown operation "topups" .*did you mean "topup"`},
		{"ability not in mode", strings.Replace(sub("  - name: drill\n", "  - name: drill\n    mode: containers\n    topology: {dr: {region: ap-northeast-3}}\n"), "{kind: az-outage, target: ap-northeast-1a,", "{kind: region-loss, target: ap-northeast-1,", 1),
			`^15:16: scenarios\[0\]\.faults\[0\]\.kind: region-loss cannot run in containers mode: it needs the stack: region-loss`},
		{"bad failpoint term", sub("{kind: az-outage, target: ap-northeast-1a, at: 20s, for: 30s}", "{kind: failpoint, failpoint: before-commit, term: \"sleep(\", at: 20s, for: 30s}"), `^13:\d+: scenarios\[0\]\.faults\[0\]\.term: "sleep\("`},
		{"replica lag in embedded mode", sub("{kind: az-outage, target: ap-northeast-1a,", "{kind: replica-lag, target: mysql-ap-northeast-1d, lag: 2s,"),
			`^13:16: scenarios\[0\]\.faults\[0\]\.kind: replica-lag cannot run in embedded mode: it needs mysql nodes: lag`},
		{"replica lag on the writer", sub("{kind: az-outage, target: ap-northeast-1a,", "{kind: replica-lag, target: mysql-ap-northeast-1a, lag: 2s,"),
			`^13:\d+: scenarios\[0\]\.faults\[0\]\.target: mysql-ap-northeast-1a starts as the writer: name a replica`},
		{"replica lag not in whole seconds", sub("{kind: az-outage, target: ap-northeast-1a,", "{kind: replica-lag, target: mysql-ap-northeast-1d, lag: 1500ms,"),
			`^13:\d+: scenarios\[0\]\.faults\[0\]\.lag: 1\.5s: want whole seconds`},
		{"unknown arrivals", sub("duration: 60s", "duration: 60s\n      arrivals: sometimes"), `^11:\d+: scenarios\[0\]\.load\.arrivals: unknown arrivals "sometimes" \(want even or poisson\)`},
		{"empty file", "", `^1:1: \$: empty file`},
		{"image for an unknown service", sub("  topology:\n", "  images: {mysql: mariadb:10.11, postgres: postgres:16}\n  topology:\n"), `^3:44: defaults\.images\.postgres: image for "postgres": unknown service \(want one of mysql, redis, kafka, elasticsearch, app\)`},
		{"image reference Docker refuses", sub("  topology:\n", "  images:\n    redis: Redis:7.0\n  topology:\n"), `^4:12: defaults\.images\.redis: image for redis: "Redis:7.0": .*must be lowercase`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.body)
			var stderr bytes.Buffer
			if code := execute(context.Background(), []string{"validate", "-f", path}, &stderr); code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			first := strings.SplitN(stderr.String(), "\n", 2)[0]
			rest, ok := strings.CutPrefix(first, path+":")
			if !ok {
				t.Fatalf("error does not start with the file name:\n%s", stderr.String())
			}
			if !regexp.MustCompile(tc.want).MatchString(rest) {
				t.Fatalf("got  %s\nwant %s", rest, tc.want)
			}
		})
	}
}

func TestRunWithBrokenFileExits2(t *testing.T) {
	path := writeFile(t, strings.Replace(goodFile, "version: 1", "version: 2", 1))
	var stderr bytes.Buffer
	if code := execute(context.Background(), []string{"run", "-f", path, "drill"}, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.HasPrefix(stderr.String(), path+":1:10: version:") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

// TestListShowsEachScenariosMode: `paysim list` names the mode a scenario
// runs in, so a drill that needs real servers is told apart.
func TestListShowsEachScenariosMode(t *testing.T) {
	var out, stderr bytes.Buffer
	if code := executeIO(context.Background(), []string{"list", "--json"}, &out, &stderr); code != exitPass {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var entries []scenarioEntry
	if err := json.Unmarshal(out.Bytes(), &entries); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"baseline": "embedded", "db-replica-behind": "containers"}
	for _, e := range entries {
		if w, ok := want[e.Name]; ok {
			if e.Mode != w {
				t.Errorf("%s: mode %q, want %q", e.Name, e.Mode, w)
			}
			delete(want, e.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("not listed: %v", want)
	}
	out.Reset()
	if code := executeIO(context.Background(), []string{"list"}, &out, &stderr); code != exitPass {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !regexp.MustCompile(`(?m)^db-replica-behind\s+containers\s+30s\s`).Match(out.Bytes()) {
		t.Errorf("list does not show db-replica-behind's mode:\n%s", out.String())
	}
}
