package embedded

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"paysim/sim"
)

func TestStatePID(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"paysim-123-4567", 123, true},
		{"paysim-1-x", 1, true},
		{"paysim-123", 0, false},
		{"paysim--12", 0, false},
		{"paysim-abc-12", 0, false},
		{"paysim-0-12", 0, false},
		{"other-123-4", 0, false},
	}
	for _, tt := range tests {
		pid, ok := statePID(tt.name)
		if pid != tt.pid || ok != tt.ok {
			t.Errorf("statePID(%q) = %d, %v; want %d, %v", tt.name, pid, ok, tt.pid, tt.ok)
		}
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatalf("run a short-lived process: %v", err)
	}
	return cmd.Process.Pid
}

func TestSweepStaleRemovesOnlyDeadRunsState(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("alive cannot probe a pid off Unix, so nothing is swept")
	}
	base := t.TempDir()
	dead := filepath.Join(base, statePrefix+strconv.Itoa(deadPID(t))+"-1")
	live := filepath.Join(base, statePrefix+strconv.Itoa(os.Getpid())+"-2")
	foreign := filepath.Join(base, "paysim-notapid-3")
	file := filepath.Join(base, statePrefix+strconv.Itoa(deadPID(t))+"-4")
	for _, d := range []string{dead, live, foreign} {
		if err := os.MkdirAll(filepath.Join(d, "kafka"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sweepStale(base)
	for path, want := range map[string]bool{dead: false, live: true, foreign: true, file: true} {
		_, err := os.Stat(path)
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(path), got, want)
		}
	}
}

func TestStartKeepsStateInItsOwnDirsAndRemovesThem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, sim.DefaultTopology(), Options{})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	dirs := s.owned
	mine := statePrefix + strconv.Itoa(os.Getpid()) + "-"
	for _, dir := range []string{dirs.bulk, dirs.mem} {
		if !strings.HasPrefix(filepath.Base(dir), mine) {
			t.Errorf("state dir %s is not named for this process", dir)
		}
	}
	if base, ok := memDir(); ok && filepath.Dir(dirs.mem) != base {
		t.Errorf("ledger and Kafka dir %s is not under the memory-backed %s", dirs.mem, base)
	}
	for _, f := range []string{filepath.Join(dirs.mem, "ledger.db"), filepath.Join(dirs.mem, "kafka")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("state file missing: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close stack: %v", err)
	}
	for _, dir := range []string{dirs.bulk, dirs.mem} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("state dir %s still there after Close (err %v)", dir, err)
		}
	}
}
