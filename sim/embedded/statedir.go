package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// statePrefix names a stack's temporary state directories; the owner's pid
// follows, so a later stack can tell a dead run's leftovers from a live one.
const statePrefix = "paysim-"

// stateDirs are the directories a stack keeps its files in.
type stateDirs struct {
	// bulk holds the search indices: written off the payment path, and
	// large (they keep every log line of a run), so on disk.
	bulk string
	// mem holds the SQLite ledger and Kafka's log. Both are written on the
	// payment path (the ledger under its writer lock; Kafka by one loop
	// that serves every broker request), so they go to a memory-backed file
	// system where there is one: on a disk the kernel throttles writers
	// whenever the machine writes a lot (a build, another run), and that
	// stalled every payment for up to half a second. Both stay small: the
	// ledger of a 10-minute run at 1,000/s is about 0.2 GB, and retention
	// keeps Kafka's log to its last few minutes. Otherwise it is bulk.
	mem string
}

// makeStateDirs creates fresh state directories, first removing any that
// runs killed hard left behind.
func makeStateDirs() (stateDirs, error) {
	pattern := fmt.Sprintf("%s%d-", statePrefix, os.Getpid())
	sweepStale(os.TempDir())
	bulk, err := os.MkdirTemp("", pattern)
	if err != nil {
		return stateDirs{}, fmt.Errorf("state dir: %w", err)
	}
	dirs := stateDirs{bulk: bulk, mem: bulk}
	if base, ok := memDir(); ok {
		sweepStale(base)
		if dir, err := os.MkdirTemp(base, pattern); err == nil {
			dirs.mem = dir
		}
	}
	return dirs, nil
}

// remove deletes the directories.
func (d stateDirs) remove() error {
	var err error
	for _, dir := range []string{d.bulk, d.mem} {
		if dir != "" {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = fmt.Errorf("remove state dir: %w", rerr)
			}
		}
	}
	return err
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
