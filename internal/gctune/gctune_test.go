package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

const mb = 1 << 20

func TestPercent(t *testing.T) {
	tests := []struct {
		name              string
		live, floor       uint64
		base, wantPercent int
	}{
		{"no live heap yet", 0, 160 * mb, 170, 170},
		{"small heap: goal at the floor", 23 * mb, 160 * mb, 170, 596},
		{"exactly the goal", 40 * mb, 160 * mb, 170, 300},
		{"large enough: base", 100 * mb, 160 * mb, 170, 170},
		{"above the floor: base", 500 * mb, 160 * mb, 170, 170},
		{"tiny heap: bounded", 1024, 160 * mb, 170, maxPercent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percent(tc.live, tc.floor, tc.base); got != tc.wantPercent {
				t.Fatalf("percent(%d, %d, %d) = %d, want %d", tc.live, tc.floor, tc.base, got, tc.wantPercent)
			}
		})
	}
}

// TestTunerObserve walks the tuner through collections, including a GOGC
// someone else set (the checks' 10) and its return.
func TestTunerObserve(t *testing.T) {
	tn := &tuner{floor: 160 * mb, base: 170, last: 170}
	steps := []struct {
		name   string
		cycles uint64
		live   uint64
		gogc   int
		want   int
		set    bool
	}{
		{"first collection, small heap", 1, 40 * mb, 170, 300, true},
		{"no new collection", 1, 20 * mb, 300, 0, false},
		{"same answer", 2, 40 * mb, 300, 0, false},
		{"heap grew past the floor", 3, 200 * mb, 300, 170, true},
		{"someone else's GOGC", 4, 10 * mb, 10, 0, false},
		{"still theirs", 5, 10 * mb, 10, 0, false},
		{"given back", 6, 10 * mb, 170, 1500, true},
	}
	for _, s := range steps {
		got, set := tn.observe(s.cycles, s.live, s.gogc)
		if got != s.want || set != s.set {
			t.Fatalf("%s: observe = %d, %v; want %d, %v", s.name, got, set, s.want, s.set)
		}
		if set {
			tn.last = got
		}
	}
}

func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// TestFloor runs the tuner on this test's small heap: GOGC rises until the
// goal is the floor (1 GiB: the bound), and is put back when the tuner
// stops. TestTunerObserve covers a GOGC someone else set.
func TestFloor(t *testing.T) {
	found := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(found) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Floor(ctx, 1<<30, 150, time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for !ok() {
			runtime.GC()
			select {
			case <-wctx.Done():
				t.Fatalf("%s: GOGC is %d", what, gogc())
			case <-tick.C:
			}
		}
	}
	waitFor("raised to the bound", func() bool { return gogc() == maxPercent })
	cancel()
	<-done
	if g := gogc(); g != 100 {
		t.Fatalf("after the tuner stopped GOGC is %d, want the 100 it found", g)
	}
}
