package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// statePrefix names a stack's temporary state directory; the owner's pid
// follows, so a later stack can tell a dead run's leftovers from a live one.
const statePrefix = "paysim-"

// makeStateDir creates a fresh directory for a stack's state: the SQLite
// ledger, Kafka's log and the search indices. It prefers a memory-backed
// file system (memDir): on a disk, the ledger's WAL writes happen under the
// writer lock and the kernel throttles them whenever the machine is writing
// a lot (a build, another run), which stalled every payment for up to half a
// second. Elsewhere it falls back to the system's temporary directory.
func makeStateDir() (string, error) {
	pattern := fmt.Sprintf("%s%d-", statePrefix, os.Getpid())
	if base, ok := memDir(); ok {
		sweepStale(base)
		if dir, err := os.MkdirTemp(base, pattern); err == nil {
			return dir, nil
		}
	}
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("state dir: %w", err)
	}
	return dir, nil
}

// sweepStale removes state directories under base left by processes that no
// longer exist (a run killed hard never reached its teardown). On a
// memory-backed file system they would otherwise hold memory until reboot.
func sweepStale(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := statePID(e.Name())
		if !ok || !e.IsDir() || alive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(base, e.Name()))
	}
}

// statePID parses the owner's pid out of a state directory's name.
func statePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, statePrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}
