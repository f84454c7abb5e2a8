// Package gctune keeps the garbage collector's heap goal above a floor.
//
// GOGC sets the heap goal as a multiple of the live heap, so a small live
// heap is collected often: a 500 payments/s run holds about 23 MB live and
// at paysim's GOGC of 170 collected 1.4 times a second, each time marking
// the whole live heap, 7% of the process's CPU. Floor raises GOGC while the
// live heap is small, so that the goal stays at the floor; once the live
// heap is large enough, GOGC is the base again and the heap grows as
// before (a long run's memory is unchanged). The price is memory held
// between collections, at most the floor.
package gctune

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// maxPercent bounds the GOGC Floor sets, whatever the live heap.
const maxPercent = 10_000

// percent is the GOGC whose heap goal for a live heap of live bytes is at
// least floor bytes, and never below base.
func percent(live, floor uint64, base int) int {
	if live == 0 || live >= floor {
		return base
	}
	p := int(math.Ceil((float64(floor)/float64(live) - 1) * 100))
	return min(max(p, base), maxPercent)
}

// tuner decides, from what the runtime reports, when to set which GOGC.
type tuner struct {
	floor  uint64
	base   int
	last   int    // the GOGC the tuner last set
	cycles uint64 // completed collections when it last looked
}

// observe takes the runtime's completed collections, live heap and current
// GOGC, and says which GOGC to set, if any: one for the live heap of a new
// collection, unless GOGC is no longer the one the tuner set (someone
// else's, left alone until it is back).
func (t *tuner) observe(cycles, live uint64, gogc int) (int, bool) {
	if cycles == t.cycles {
		return 0, false
	}
	t.cycles = cycles
	if gogc != t.last {
		return 0, false
	}
	want := percent(live, t.floor, t.base)
	if want == t.last {
		return 0, false
	}
	return want, true
}

// Floor keeps the heap goal at least floor bytes until ctx ends: after each
// collection (the runtime's metrics are read every poll) it sets GOGC to
// percent(live heap, floor, base). A GOGC set by someone else since Floor
// last set it (the checks' low GOGC) is theirs: Floor leaves it alone until
// it is back to Floor's. Floor starts by setting base and, when ctx ends,
// puts back the GOGC it found, unless GOGC is someone else's by then.
func Floor(ctx context.Context, floor uint64, base int, poll time.Duration) {
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}}
	t := &tuner{floor: floor, base: base, last: base}
	found := debug.SetGCPercent(base)
	defer func() {
		if prev := debug.SetGCPercent(found); prev != t.last {
			debug.SetGCPercent(prev)
		}
	}()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(samples)
		want, ok := t.observe(samples[0].Value.Uint64(), samples[1].Value.Uint64(), int(samples[2].Value.Uint64()))
		if !ok {
			continue
		}
		if prev := debug.SetGCPercent(want); prev != t.last {
			debug.SetGCPercent(prev) // changed between the read and the set: give it back
			continue
		}
		t.last = want
	}
}
