package chaos

import (
	"reflect"
	"testing"
	"time"

	"paysim/sim"
	"paysim/sim/payments"
)

func TestNemesisSameSeedSameSchedule(t *testing.T) {
	topo := sim.DefaultTopology()
	n := Nemesis{Kinds: NemesisKinds(), EveryMin: 5 * time.Second, EveryMax: 15 * time.Second, ForMin: 3 * time.Second, ForMax: 10 * time.Second, MaxConcurrent: 2, Quiet: 10 * time.Second}
	draw := func(seed uint64) []Spec {
		t.Helper()
		entries, specs, err := n.Schedule(seed, 5*time.Minute, topo, payments.FailpointNames())
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(specs) || len(entries) < 5 {
			t.Fatalf("%d entries, %d specs: want the same count and at least 5", len(entries), len(specs))
		}
		running := 0
		for i, e := range entries {
			if e.At+e.For > 5*time.Minute-n.Quiet {
				t.Fatalf("entry %d ends at %v, inside the quiet tail", i, e.At+e.For)
			}
			running = 0
			for _, o := range entries[:i+1] {
				if o.At <= e.At && e.At < o.At+o.For {
					running++
				}
			}
			if running > n.MaxConcurrent {
				t.Fatalf("%d faults at once at %v, max %d", running, e.At, n.MaxConcurrent)
			}
		}
		return specs
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same schedule")
	}
}

func TestNemesisRejectsBadSettings(t *testing.T) {
	ok := Nemesis{Kinds: []string{"node-kill"}, EveryMin: time.Second, EveryMax: 2 * time.Second, MaxConcurrent: 1}
	tests := []struct {
		name string
		mut  func(*Nemesis)
	}{
		{"no kinds", func(n *Nemesis) { n.Kinds = nil }},
		{"unknown kind", func(n *Nemesis) { n.Kinds = []string{"meteor"} }},
		{"every min above max", func(n *Nemesis) { n.EveryMin = 3 * time.Second }},
		{"zero concurrency", func(n *Nemesis) { n.MaxConcurrent = 0 }},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid nemesis rejected: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := ok
			tc.mut(&n)
			if n.Validate() == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestStopWatch(t *testing.T) {
	w := NewStopWatch(StopCondition{MaxErrorRate: 0.2, For: 3 * time.Second})
	steps := []struct {
		req, errs int
		trip      bool
	}{{100, 0, false}, {100, 50, false}, {100, 50, false}, {100, 10, false}, {100, 50, false}, {0, 0, false}, {100, 90, true}}
	for i, s := range steps {
		_, trip := w.Observe(time.Duration(i+1)*time.Second, time.Second, s.req, s.errs)
		if trip != s.trip {
			t.Fatalf("second %d: trip %v, want %v", i+1, trip, s.trip)
		}
	}
}
