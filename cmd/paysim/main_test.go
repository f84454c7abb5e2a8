package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listeningSockets returns the inodes of this process's listening TCP sockets.
func listeningSockets(t *testing.T) map[string]bool {
	t.Helper()
	listen := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			t.Skipf("no %s: %v", f, err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 9 && fields[3] == "0A" { // TCP_LISTEN
				listen["socket:["+fields[9]+"]"] = true
			}
		}
		fh.Close()
	}
	mine := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && listen[target] {
			mine[target] = true
		}
	}
	return mine
}

func TestInterruptedRunTearsDownAndReports(t *testing.T) {
	before := listeningSockets(t)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Interrupt once traffic is flowing.
		deadline := time.After(60 * time.Second)
		for {
			if fi, err := os.Stat(filepath.Join(out, "history.jsonl")); err == nil && fi.Size() > 0 {
				time.Sleep(500 * time.Millisecond) // let some operations complete
				cancel()
				return
			}
			select {
			case <-deadline:
				cancel()
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	code := execute(ctx, []string{"run", "baseline", "--duration", "60s", "--rate", "50", "--ui", "plain", "--out", out}, io.Discard)
	if code != exitInterrupted {
		t.Fatalf("exit code %d, want %d", code, exitInterrupted)
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatalf("no partial report: %v", err)
	}
	var rep struct {
		Interrupted bool   `json:"interrupted"`
		Verdict     string `json:"verdict"`
		Requests    struct{ Total int }
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Requests.Total == 0 {
		t.Fatalf("report: interrupted=%v total=%d, want an interrupted report with traffic", rep.Interrupted, rep.Requests.Total)
	}
	if after := listeningSockets(t); len(after) > len(before) {
		t.Fatalf("listeners left open: %d before, %d after", len(before), len(after))
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown scenario", []string{"run", "no-such-scenario"}},
		{"bad rate", []string{"run", "--rate", "-5"}},
		{"bad ui", []string{"run", "--ui", "fancy"}},
		{"bad mode", []string{"run", "--mode", "cloud"}},
		{"a stack ability the mode lacks (a DR region)", []string{"run", "region-loss", "--mode", "containers"}},
		{"unknown flag", []string{"run", "--nope"}},
		{"bad selftest mode", []string{"selftest", "--mode", "cloud"}},
		{"negative capacity p99", []string{"capacity", "--p99", "-1ms"}},
		{"capacity step too short", []string{"capacity", "--step", "1s"}},
		{"unknown command", []string{"frobnicate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code := execute(context.Background(), tc.args, io.Discard); code != exitUsage {
				t.Fatalf("exit code %d, want %d", code, exitUsage)
			}
		})
	}
}

// TestVerdictExitCodes: a drill whose fault could not be injected (a
// planned Redis switchover while the only replica is down: "no healthy
// replica") is inconclusive and exits 4 with the error in report.json; the
// same run without that fault passes and exits 0.
func TestVerdictExitCodes(t *testing.T) {
	const file = `version: 1
defaults:
  accounts: {users: 200, merchants: 10, initial_balance: 50000}
  load: {rate: 50/s, duration: 8s}
  slos: {availability: 50%}
scenarios:
  - name: failover-without-replica
    description: the replica is down when the planned failover comes
    faults:
      - {kind: node-kill, target: redis-1-ap-northeast-1c, at: 3s, for: 4s}
      - {kind: redis-failover, variant: planned, at: 4s, for: 2s}
  - name: quiet
    description: the same load, no fault
`
	dir := t.TempDir()
	path := filepath.Join(dir, "scenarios.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scenario    string
		wantCode    int
		wantVerdict string
		wantError   string // in faults[].error
	}{
		{scenario: "failover-without-replica", wantCode: exitInconclusive, wantVerdict: "inconclusive", wantError: "no healthy replica"},
		{scenario: "quiet", wantCode: exitPass, wantVerdict: "pass"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			out := filepath.Join(dir, tc.scenario)
			code := execute(context.Background(), []string{"run", tc.scenario, "-f", path, "--ui", "plain", "--out", out}, io.Discard)
			raw, err := os.ReadFile(filepath.Join(out, "report.json"))
			if err != nil {
				t.Fatalf("exit %d and no report: %v", code, err)
			}
			var rep struct {
				Verdict string   `json:"verdict"`
				Reasons []string `json:"reasons"`
				Faults  []struct {
					Kind        string `json:"kind"`
					Error       string `json:"error"`
					InjectError string `json:"inject_error"`
				} `json:"faults"`
			}
			if err := json.Unmarshal(raw, &rep); err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || rep.Verdict != tc.wantVerdict {
				t.Fatalf("exit %d verdict %q (reasons %q), want %d %q", code, rep.Verdict, rep.Reasons, tc.wantCode, tc.wantVerdict)
			}
			if tc.wantError == "" {
				return
			}
			for _, f := range rep.Faults {
				if f.Kind == "redis-failover" && strings.Contains(f.Error, tc.wantError) && strings.Contains(f.InjectError, tc.wantError) {
					return
				}
			}
			t.Fatalf("report.json faults %+v lack the inject error %q", rep.Faults, tc.wantError)
		})
	}
}

// helperMainEnv makes TestHelperMain run paysim's main with these
// arguments (separated by US, 0x1f), in a child process of its own.
const helperMainEnv = "PAYSIM_TEST_HELPER_MAIN"

// TestHelperMain is not a test: it is paysim's main for a child process
// started by a test with helperMainEnv set.
func TestHelperMain(t *testing.T) {
	args := os.Getenv(helperMainEnv)
	if args == "" {
		t.Skip("a helper process for other tests")
	}
	os.Exit(runMain(strings.Split(args, "\x1f")))
}

// TestReaderOfStdoutLeaves: `paysim run | head -1` must not kill paysim at
// its next write (SIGPIPE) with its stack still up: the run is interrupted,
// torn down and reported, exit 130.
func TestReaderOfStdoutLeaves(t *testing.T) {
	out := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestHelperMain$")
	child.Env = append(os.Environ(), helperMainEnv+"="+strings.Join([]string{"run", "baseline", "--duration", "60s", "--rate", "50", "--ui", "plain", "--out", out}, "\x1f"))
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill() })
	// Read until the load runs (its first per-second line), then leave.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "t=") {
	}
	_ = stdout.Close()
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
			t.Fatalf("child: %v, want exit %d; stderr:\n%s", err, exitInterrupted, stderr.String())
		}
	case <-time.After(50 * time.Second): // the load alone would last 60 s
		t.Fatalf("paysim went on for 50 s after its reader left; stderr:\n%s", stderr.String())
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatalf("no report after the reader left: %v", err)
	}
	var rep struct {
		Interrupted bool `json:"interrupted"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil || !rep.Interrupted {
		t.Fatalf("report: interrupted=%v (%v), want an interrupted report", rep.Interrupted, err)
	}
}
