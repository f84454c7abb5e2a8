package scenarios

import (
	"testing"
	"time"

	"paysim/loadgen"
)

func TestRTO(t *testing.T) {
	tick := func(s, ok, errs int) loadgen.Tick {
		return loadgen.Tick{T: time.Duration(s) * time.Second, OK: ok, Errors: errs}
	}
	healthy := func(from, to int) []loadgen.Tick {
		var ts []loadgen.Tick
		for s := from; s < to; s++ {
			ts = append(ts, tick(s, 100, 0))
		}
		return ts
	}
	tests := []struct {
		name  string
		ticks []loadgen.Tick
		start time.Duration
		want  float64
	}{
		{"no effect", healthy(0, 10), 2 * time.Second, 0},
		{"five bad seconds", append(append(healthy(0, 2), tick(2, 0, 50), tick(3, 10, 40), tick(4, 0, 100), tick(5, 50, 1), tick(6, 80, 0)), healthy(7, 12)...), 2 * time.Second, 5},
		{"a healthy blip does not count", append(append(healthy(0, 2), tick(2, 0, 9), tick(3, 100, 0), tick(4, 0, 9)), healthy(5, 9)...), 2 * time.Second, 3},
		{"never recovers", append(healthy(0, 2), tick(2, 0, 9), tick(3, 0, 9), tick(4, 0, 9)), 2 * time.Second, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rto(tc.ticks, tc.start, 100); got != tc.want {
				t.Fatalf("rto %v, want %v", got, tc.want)
			}
		})
	}
}
