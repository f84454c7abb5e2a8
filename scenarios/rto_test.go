package scenarios

import (
	"strings"
	"testing"
	"time"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
)

// traffic makes 10 completions per 100 ms (100/s) from 0 to end, with
// outcome bad(t) deciding which are unknown.
func traffic(end time.Duration, bad func(t time.Duration) bool) []loadgen.Event {
	var evs []loadgen.Event
	for t := time.Duration(0); t < end; t += 10 * time.Millisecond {
		typ := loadgen.EventOK
		if bad != nil && bad(t) {
			typ = loadgen.EventUnknown
		}
		evs = append(evs, loadgen.Event{Type: loadgen.EventInvoke, TNS: int64(t)}, loadgen.Event{Type: typ, TNS: int64(t), LatencyMS: 2})
	}
	return evs
}

func TestRTOAtTenthOfASecond(t *testing.T) {
	start := 2 * time.Second
	tests := []struct {
		name string
		bad  func(time.Duration) bool
		want time.Duration
	}{
		{"no effect", nil, 0},
		{"errors until 4.3s", func(t time.Duration) bool { return t >= start && t < 4300*time.Millisecond }, 2300 * time.Millisecond},
		{"a healthy blip does not count", func(t time.Duration) bool {
			return t >= start && (t < 3*time.Second || (t >= 4*time.Second && t < 4700*time.Millisecond))
		}, 2700 * time.Millisecond},
		{"never recovers", func(t time.Duration) bool { return t >= start }, 8 * time.Second},
		{"errors that start late still count", func(t time.Duration) bool { return t >= 5*time.Second && t < 5500*time.Millisecond }, 3500 * time.Millisecond},
		{"errors after the heal are not this fault's", func(t time.Duration) bool { return t >= 9*time.Second }, 0},
		{"a few errors in a healthy window are tolerated", func(t time.Duration) bool {
			return (t >= start && t < 2500*time.Millisecond) || t == 3*time.Second
		}, 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := completions(traffic(10*time.Second, tc.bad))
			if got := rtoOf(cs, start, 7*time.Second, 10*time.Second, 100); got != tc.want {
				t.Fatalf("rto %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAnalyseFaults(t *testing.T) {
	plan := []chaos.Entry{{Fault: chaos.NodeKill{Node: "x"}, At: 5 * time.Second, For: 2 * time.Second}}
	rec := chaos.Record{Kind: "node-kill", Target: "x", Start: 5*time.Second + 20*time.Millisecond, End: 7 * time.Second}
	bad := func(t time.Duration) bool { return t >= rec.Start && t < 6500*time.Millisecond }
	tests := []struct {
		name             string
		rate             float64
		rec              chaos.Record
		host             *report.Host
		wantInconclusive bool
		wantSaturated    bool // the reason names the saturated host
	}{
		{"judged", 100, rec, nil, false, false},
		{"pre-fault traffic under half the target", 400, rec, &report.Host{}, true, false},
		{"pre-fault traffic short on a saturated host", 400, rec, &report.Host{Saturated: true, Reason: "host CPU 100%"}, true, true},
		{"fault too early to compare", 100, chaos.Record{Kind: "node-kill", Target: "x", Start: time.Second, End: 2 * time.Second}, nil, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := &report.Report{Host: tc.host}
			analyseFaults(rep, plan, []chaos.Record{tc.rec}, traffic(10*time.Second, bad), 10*time.Second, func(time.Duration) float64 { return tc.rate })
			if got := rep.Inconclusive != ""; got != tc.wantInconclusive {
				t.Fatalf("inconclusive %q, want %v", rep.Inconclusive, tc.wantInconclusive)
			}
			if got := strings.Contains(rep.Inconclusive, "host saturated (host CPU 100%)"); got != tc.wantSaturated {
				t.Fatalf("inconclusive %q: names the saturated host %v, want %v", rep.Inconclusive, got, tc.wantSaturated)
			}
			f := rep.Faults[0]
			if tc.wantInconclusive {
				return
			}
			if f.LateMS < 19 || f.LateMS > 21 {
				t.Errorf("late %.1f ms, want 20", f.LateMS)
			}
			if f.During.Errors == 0 || f.Before.Errors != 0 || f.After.Errors != 0 {
				t.Errorf("windows before/during/after errors %d/%d/%d", f.Before.Errors, f.During.Errors, f.After.Errors)
			}
			if f.RTOS < 1.4 || f.RTOS > 1.5 {
				t.Errorf("rto %.2fs, want 1.48 (errors until 6.5s, on a 100 ms grid)", f.RTOS)
			}
		})
	}
}
