package hoststat

import (
	"bytes"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// The runtime/metrics figures read: the heap the last GC found live, all
// the memory the runtime has mapped, and the part of it returned to the OS.
const (
	liveHeap     = "/gc/heap/live:bytes"
	goTotal      = "/memory/classes/total:bytes"
	heapReleased = "/memory/classes/heap/released:bytes"
)

// Memory is the process's memory at one moment.
type Memory struct {
	// RSS is the resident set (anonymous and file-backed pages), or -1
	// where the OS does not say (no /proc/self/status).
	RSS int64
	// RSSFile is the file-backed part of RSS (mapped files, e.g. search
	// segments; the kernel can reclaim it), or -1 where unknown.
	RSSFile int64
	// HeapLive is the Go heap the last collection found reachable: what a
	// run holds, apart from the garbage the GC lets accumulate between
	// collections (GOGC) and the runtime's own overhead.
	HeapLive int64
	// GoHeld is the memory the Go runtime holds and has not returned to
	// the OS (heap with its garbage and free spans, stacks, runtime
	// metadata). RSS less RSSFile less GoHeld is what code outside the Go
	// heap holds, e.g. the embedded SQLite's allocations.
	GoHeld int64
}

// ReadMemory reads the process's memory now.
func ReadMemory() Memory { return readMemory("/proc/self/status") }

func readMemory(status string) Memory {
	m := Memory{RSS: -1, RSSFile: -1}
	if b, err := os.ReadFile(status); err == nil {
		if rss, err := statusKB(b, "VmRSS:"); err == nil {
			m.RSS = rss
		}
		if f, err := statusKB(b, "RssFile:"); err == nil {
			m.RSSFile = f
		}
	}
	s := []metrics.Sample{{Name: liveHeap}, {Name: goTotal}, {Name: heapReleased}}
	metrics.Read(s)
	v := func(i int) int64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	m.HeapLive = v(0)
	m.GoHeld = v(1) - v(2)
	return m
}

// statusKB parses the line named field (e.g. "VmRSS:") of a
// /proc/PID/status file into bytes.
func statusKB(status []byte, field string) (int64, error) {
	name := strings.TrimSuffix(field, ":")
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(field))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%s: unexpected %q", name, bytes.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s line", name)
}
