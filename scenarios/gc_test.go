package scenarios

import (
	"runtime/debug"
	"testing"
)

// TestCollectOftenDuringChecks: the checks run with GOGC lowered to
// checksGCPercent, a lower setting or GC off is kept, and the old one comes
// back after.
func TestCollectOftenDuringChecks(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	tests := []struct {
		name        string
		before, got int
	}{
		{"load setting lowered", 200, checksGCPercent},
		{"lower setting kept", 5, 5},
		{"GC off kept", -1, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(tc.before)
			restore := collectOften()
			during := debug.SetGCPercent(tc.got)
			debug.SetGCPercent(during)
			restore()
			after := debug.SetGCPercent(100)
			if during != tc.got || after != tc.before {
				t.Errorf("GOGC during the checks %d, after %d; want %d, %d", during, after, tc.got, tc.before)
			}
		})
	}
}
