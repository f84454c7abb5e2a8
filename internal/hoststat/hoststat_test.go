package hoststat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseCPULine(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantTotal uint64
		wantIdle  uint64
		wantErr   bool
	}{
		{name: "linux 10 fields", line: "cpu  100 5 50 800 20 1 2 3 40 0\n", wantTotal: 981, wantIdle: 820},
		{name: "old kernel 4 fields", line: "cpu 10 0 10 80", wantTotal: 100, wantIdle: 80},
		{name: "a per-cpu line", line: "cpu0 1 2 3 4", wantErr: true},
		{name: "garbage", line: "cpu 1 x 3 4", wantErr: true},
		{name: "empty", line: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCPULine(tc.line)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (got.total != tc.wantTotal || got.idle != tc.wantIdle) {
				t.Fatalf("got %+v, want total %d idle %d", got, tc.wantTotal, tc.wantIdle)
			}
		})
	}
}

// TestSpanSeesItsOwnCPU burns CPU and checks the span accounts for it:
// the process's CPU time against the kernel's own count in
// /proc/self/stat (an independent source; on a busy host the burn takes
// longer, not less CPU), and where /proc/stat exists a host busy share in
// range.
func TestSpanSeesItsOwnCPU(t *testing.T) {
	ticks, err := selfTicks()
	if err != nil {
		t.Skipf("no /proc/self/stat to count against: %v", err)
	}
	const burn = 300 * time.Millisecond
	s := Start()
	burnUntil(t, func() bool {
		now, err := selfTicks()
		return err == nil && now-ticks >= burn
	})
	st := s.Stop()
	seen, err := selfTicks()
	if err != nil {
		t.Fatal(err)
	}
	// The burn is counted in /proc's clock ticks, so it may end up to two
	// ticks (20 ms) before burn of wall time has passed.
	if st.Cores != runtime.NumCPU() || st.Wall < burn-20*time.Millisecond {
		t.Fatalf("stats %+v: wrong cores or wall", st)
	}
	// /proc's count is in clock ticks (10 ms): allow two either way.
	if d := st.ProcessCPU - (seen - ticks); d < -20*time.Millisecond || d > 20*time.Millisecond+st.ProcessCPU/10 {
		t.Fatalf("span says the process used %v of CPU, the kernel %v", st.ProcessCPU, seen-ticks)
	}
	if st.ProcessShare <= 0 || st.ProcessShare > 1.5 {
		t.Fatalf("process share %v out of range", st.ProcessShare)
	}
	if _, err := os.Stat("/proc/stat"); err == nil && (st.HostBusy <= 0 || st.HostBusy > 1) {
		t.Fatalf("host busy %v out of (0, 1]", st.HostBusy)
	}
}

// burnUntil spins on the CPU until done says so, checking it every
// million turns; it fails the test after 30 s.
func burnUntil(t *testing.T, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := 0; ; n++ {
		if n%1_000_000 == 0 {
			if done() {
				return
			}
			if ctx.Err() != nil {
				t.Fatal("could not burn the CPU asked for in 30s")
			}
		}
	}
}

// selfTicks is this process's user+system time from /proc/self/stat.
func selfTicks() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/self/stat: %q", raw)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/self/stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(u+k) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}

// TestHostBusyAtLeastTheProcess: a /proc/stat that counts the host idle
// while this process burns CPU is read as at least the process's share.
func TestHostBusyAtLeastTheProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	write := func(idle int) {
		t.Helper()
		if err := os.WriteFile(path, []byte(fmt.Sprintf("cpu  100 0 100 %d 0 0 0 0 0 0\n", idle)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1000)
	s := start(path)
	burnUntil(t, func() bool { return processCPU()-s.procCPU >= 50*time.Millisecond })
	write(2000) // every tick since the start idle
	st := s.Stop()
	if st.ProcessShare <= 0 || st.HostBusy < st.ProcessShare || st.HostBusy > 1 {
		t.Fatalf("host busy %v, process share %v: want the host at least as busy as the process", st.HostBusy, st.ProcessShare)
	}
}

func TestHostBusyUnknownWithoutProcStat(t *testing.T) {
	s := start(filepath.Join(t.TempDir(), "missing"))
	if st := s.Stop(); st.HostBusy != -1 {
		t.Fatalf("host busy %v without /proc/stat, want -1", st.HostBusy)
	}
}

func TestStatusKB(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		field   string
		want    int64
		wantErr bool
	}{
		{name: "rss", status: linuxStatus, field: "VmRSS:", want: 510232 << 10},
		{name: "rss file", status: linuxStatus, field: "RssFile:", want: 78768 << 10},
		{name: "no line", status: "Name:\tpaysim\n", field: "VmRSS:", wantErr: true},
		{name: "other unit", status: "VmRSS: 12 MB\n", field: "VmRSS:", wantErr: true},
		{name: "garbage", status: "VmRSS: x kB\n", field: "VmRSS:", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statusKB([]byte(tc.status), tc.field)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("vmRSS = %d, %v; want %d (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// linuxStatus is the head of a real /proc/PID/status (a paysim run's).
const linuxStatus = "Name:\tpaysim\nVmPeak:\t 900 kB\nVmRSS:\t  510232 kB\nRssAnon:\t  431432 kB\nRssFile:\t   78768 kB\n"

// TestReadMemorySeesAnAllocation: a live 64 MB slice shows in the live heap
// after a collection and, where /proc exists, in the resident set.
func TestReadMemorySeesAnAllocation(t *testing.T) {
	before := ReadMemory()
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = 1 // touch every page
	}
	runtime.GC()
	after := ReadMemory()
	if after.HeapLive-before.HeapLive < 60<<20 {
		t.Errorf("live heap %d -> %d: the 64 MB slice is not in it", before.HeapLive, after.HeapLive)
	}
	if after.GoHeld < after.HeapLive {
		t.Errorf("go held %d: below the live heap %d", after.GoHeld, after.HeapLive)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && after.RSS < 64<<20 {
		t.Errorf("rss %d: below the 64 MB just touched", after.RSS)
	}
	runtime.KeepAlive(b)
	if m := readMemory(filepath.Join(t.TempDir(), "none")); m.RSS != -1 || m.RSSFile != -1 {
		t.Errorf("rss without a status file = %d, want -1", m.RSS)
	}
}
