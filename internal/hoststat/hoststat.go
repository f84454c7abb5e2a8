// Package hoststat measures how busy the machine is over a span of time: the
// process's CPU time, the whole host's busy share of its cores, and the Go
// scheduler's latency. paysim's load generator shares the cores with the
// stack it measures, so these tell a slow system from a saturated host.
package hoststat

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// schedLatencies is the runtime/metrics histogram of how long runnable
// goroutines waited to run.
const schedLatencies = "/sched/latencies:seconds"

// Span is a measurement started by Start and ended by Stop.
type Span struct {
	start    time.Time
	procCPU  time.Duration
	host     cpuTimes
	hostOK   bool
	sched    *metrics.Float64Histogram
	procStat string
}

// Stats are the figures of one span.
type Stats struct {
	Wall  time.Duration
	Cores int
	// ProcessCPU is this process's user+system CPU time over the span.
	ProcessCPU time.Duration
	// ProcessShare is ProcessCPU over Wall × Cores (1 = every core busy).
	ProcessShare float64
	// HostBusy is the host's busy share of every core (all processes),
	// never below ProcessShare, or -1 where the OS does not say (no
	// /proc/stat).
	HostBusy float64
	// SchedP99 is the Go scheduler's p99 latency over the span.
	SchedP99 time.Duration
}

// Start begins a span.
func Start() *Span { return start("/proc/stat") }

func start(procStat string) *Span {
	s := &Span{start: time.Now(), procCPU: processCPU(), procStat: procStat}
	s.host, s.hostOK = readCPUTimes(procStat)
	s.sched = readSched()
	return s
}

// Stop ends the span and returns its figures.
func (s *Span) Stop() Stats {
	st := Stats{Wall: time.Since(s.start), Cores: runtime.NumCPU(), HostBusy: -1}
	st.ProcessCPU = processCPU() - s.procCPU
	if st.Wall > 0 && st.Cores > 0 {
		st.ProcessShare = st.ProcessCPU.Seconds() / (st.Wall.Seconds() * float64(st.Cores))
	}
	if end, ok := readCPUTimes(s.procStat); ok && s.hostOK {
		if total := end.total - s.host.total; total > 0 {
			st.HostBusy = float64(total-(end.idle-s.host.idle)) / float64(total)
		}
		// The host is at least as busy as this process. /proc/stat's
		// tick-sampled count can read below the process's own CPU
		// (getrusage, exact) on a tickless guest: 0.19 against 0.23 over a
		// 30 s run at 500/s on a 2-core Firecracker VM.
		if st.HostBusy >= 0 && st.HostBusy < st.ProcessShare {
			st.HostBusy = min(st.ProcessShare, 1)
		}
	}
	st.SchedP99 = p99(s.sched, readSched())
	return st
}

// cpuTimes are the aggregate "cpu" line of /proc/stat, in clock ticks.
type cpuTimes struct{ total, idle uint64 }

func readCPUTimes(path string) (cpuTimes, bool) {
	f, err := os.Open(path)
	if err != nil {
		return cpuTimes{}, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return cpuTimes{}, false
	}
	t, err := parseCPULine(line)
	return t, err == nil
}

// parseCPULine parses "cpu  user nice system idle iowait irq softirq steal
// ...": idle counts idle and iowait; guest time is already inside user.
func parseCPULine(line string) (cpuTimes, error) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}, errors.New("proc stat: no aggregate cpu line")
	}
	var t cpuTimes
	for i, v := range f[1:] {
		if i >= 8 { // guest and guest_nice are counted in user and nice
			break
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("proc stat: field %d: %w", i+1, err)
		}
		t.total += n
		if i == 3 || i == 4 {
			t.idle += n
		}
	}
	return t, nil
}

func readSched() *metrics.Float64Histogram {
	sample := []metrics.Sample{{Name: schedLatencies}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return sample[0].Value.Float64Histogram()
}

// p99 is the 99th percentile of the samples that end added after start
// (the histograms are cumulative); it reports a bucket's upper bound.
func p99(start, end *metrics.Float64Histogram) time.Duration {
	if end == nil {
		return 0
	}
	counts := make([]uint64, len(end.Counts))
	var total uint64
	for i, c := range end.Counts {
		if start != nil && i < len(start.Counts) {
			c -= start.Counts[i]
		}
		counts[i] = c
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(0.99 * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			hi := end.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = end.Buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}
