package hoststat

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
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

// TestSpanSeesItsOwnCPU burns one core for a while and checks the span
// accounts for it: the process's CPU time and, where /proc/stat exists, a
// host busy share in range.
func TestSpanSeesItsOwnCPU(t *testing.T) {
	s := Start()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	n := 0
	for ctx.Err() == nil {
		n++
	}
	st := s.Stop()
	if st.Cores != runtime.NumCPU() || st.Wall < 300*time.Millisecond {
		t.Fatalf("stats %+v: wrong cores or wall", st)
	}
	if runtime.GOOS != "windows" && st.ProcessCPU < 100*time.Millisecond {
		t.Fatalf("burned a core for %v but process CPU is %v", st.Wall, st.ProcessCPU)
	}
	if st.ProcessShare <= 0 || st.ProcessShare > 1.5 {
		t.Fatalf("process share %v out of range", st.ProcessShare)
	}
	if _, err := os.Stat("/proc/stat"); err == nil && (st.HostBusy <= 0 || st.HostBusy > 1) {
		t.Fatalf("host busy %v out of (0, 1]", st.HostBusy)
	}
}

func TestHostBusyUnknownWithoutProcStat(t *testing.T) {
	s := start(filepath.Join(t.TempDir(), "missing"))
	if st := s.Stop(); st.HostBusy != -1 {
		t.Fatalf("host busy %v without /proc/stat, want -1", st.HostBusy)
	}
}
