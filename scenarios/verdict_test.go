package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"paysim/chaos"
	"paysim/internal/hoststat"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
	"paysim/sim/payments"
)

// brokenFault fails or panics in Inject or Heal as told, and counts heals.
type brokenFault struct {
	name                 string
	injectErr, healErr   bool
	injectPanic, healPan bool
	heals                *atomic.Int32
}

func (f brokenFault) Name() string      { return f.name }
func (f brokenFault) Target() string    { return "nothing" }
func (f brokenFault) Needs() []sim.Need { return nil }
func (f brokenFault) Inject(context.Context, chaos.Cluster) error {
	switch {
	case f.injectPanic:
		panic("inject blew up")
	case f.injectErr:
		return errors.New("no healthy replica")
	}
	return nil
}
func (f brokenFault) Heal(context.Context, chaos.Cluster) error {
	f.heals.Add(1)
	switch {
	case f.healPan:
		panic("heal blew up")
	case f.healErr:
		return errors.New("restart refused")
	}
	return nil
}

// TestFaultsThatDidNotHappenOrHeal: a fault whose inject fails (or panics)
// makes the run inconclusive, one whose heal fails (or panics) fails it;
// either way the fault was healed and its error is in report.json.
func TestFaultsThatDidNotHappenOrHeal(t *testing.T) {
	tests := []struct {
		name        string
		fault       brokenFault
		wantVerdict string
		wantInject  string
		wantHeal    string
	}{
		{name: "inject error", fault: brokenFault{injectErr: true}, wantVerdict: report.VerdictInconclusive, wantInject: "no healthy replica"},
		{name: "inject panic", fault: brokenFault{injectPanic: true}, wantVerdict: report.VerdictInconclusive, wantInject: "panic: inject blew up"},
		{name: "heal error", fault: brokenFault{healErr: true}, wantVerdict: report.VerdictFail, wantHeal: "restart refused"},
		{name: "heal panic", fault: brokenFault{healPan: true}, wantVerdict: report.VerdictFail, wantHeal: "panic: heal blew up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := smallBaseline(t, "broken-fault", 50, 5*time.Second)
			f := tc.fault
			f.name, f.heals = "broken", &atomic.Int32{}
			sc.Faults = []chaos.Entry{{Fault: f, At: 3500 * time.Millisecond, For: time.Second}}
			out := t.TempDir()
			rep, err := Run(context.Background(), sc, Options{Out: out})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if rep.Verdict != tc.wantVerdict {
				t.Fatalf("verdict %q (reasons %q), want %q", rep.Verdict, rep.Reasons, tc.wantVerdict)
			}
			if f.heals.Load() != 1 {
				t.Fatalf("healed %d times, want once", f.heals.Load())
			}
			raw, err := os.ReadFile(filepath.Join(out, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			var onDisk report.Report
			if err := json.Unmarshal(raw, &onDisk); err != nil {
				t.Fatal(err)
			}
			if len(onDisk.Faults) != 1 {
				t.Fatalf("report.json faults %+v, want one", onDisk.Faults)
			}
			got := onDisk.Faults[0]
			if !strings.Contains(got.InjectError, tc.wantInject) || !strings.Contains(got.HealError, tc.wantHeal) ||
				(tc.wantInject == "") != (got.InjectError == "") || (tc.wantHeal == "") != (got.HealError == "") || got.Error == "" {
				t.Fatalf("report.json fault %+v: want inject error %q, heal error %q, and error set", got, tc.wantInject, tc.wantHeal)
			}
			for _, inv := range rep.Invariants {
				if inv.State() == report.StatusFail {
					t.Errorf("invariant %s failed: %s", inv.Name, inv.Detail)
				}
			}
		})
	}
}

// TestNothingToCheckIsNotAPass: a run in which every commit is rolled back
// acknowledges nothing, so it can never pass, and the invariants that need
// acknowledged or committed payments say they had nothing to check.
func TestNothingToCheckIsNotAPass(t *testing.T) {
	sc := smallBaseline(t, "all-rolled-back", 50, 3*time.Second)
	sc.Failpoints = map[string]string{payments.FPBeforeCommit: "return(true)"}
	sc.SLOs = SLOs{} // as commits-rolled-back: no availability or latency target
	rep, err := Run(context.Background(), sc, Options{Out: t.TempDir()})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.Requests.OK != 0 {
		t.Fatalf("%d ok requests with every commit rolled back", rep.Requests.OK)
	}
	if rep.Verdict == report.VerdictPass {
		t.Fatalf("a run with nothing acknowledged passed: %+v", rep.Invariants)
	}
	if !strings.Contains(strings.Join(rep.Reasons, "\n"), "no request succeeded") {
		t.Fatalf("reasons %q lack the zero-ok reason", rep.Reasons)
	}
	na := map[string]bool{}
	for _, inv := range rep.Invariants {
		if inv.State() == report.StatusNotApplicable {
			na[inv.Name] = true
		}
	}
	for _, name := range []string{"durability", "conservation", "event-delivery"} {
		if !na[name] {
			t.Errorf("invariant %s: want not-applicable with nothing committed (got %+v)", name, rep.Invariants)
		}
	}
}

func TestJudgeSLOs(t *testing.T) {
	quiet := &report.Host{Cores: 2}
	busy := &report.Host{Cores: 2, Saturated: true, Reason: "host CPU 100% of 2 cores >= 90%"}
	tests := []struct {
		name   string
		slos   SLOs
		req    report.Requests
		host   *report.Host
		p99    float64
		faults []report.Fault
		want   map[string]string // slo name -> status
		detail string            // a substring of some SLO's detail
	}{
		{name: "declines count as available", slos: SLOs{Availability: 0.99},
			req:  report.Requests{Total: 100, OK: 90, Failed: 10, ByStatus: map[string]int{"201": 90, "402": 6, "409": 2, "422": 2}},
			host: quiet, want: map[string]string{"availability": report.StatusPass, "rpo": report.StatusPass}},
		{name: "other 4xx are unavailable", slos: SLOs{Availability: 0.99},
			req:  report.Requests{Total: 100, OK: 90, Failed: 10, ByStatus: map[string]int{"201": 90, "429": 10}},
			host: quiet, want: map[string]string{"availability": report.StatusFail}},
		{name: "requests never sent are unavailable", slos: SLOs{Availability: 0.95},
			req:  report.Requests{Total: 90, OK: 90, ByStatus: map[string]int{"201": 90}},
			host: &report.Host{Cores: 2, NotSent: 10}, want: map[string]string{"availability": report.StatusFail}, detail: "10 never sent"},
		{name: "nothing sent is not available", slos: SLOs{Availability: 0.5, OKRatio: 0.5},
			host: quiet, want: map[string]string{"availability": report.StatusFail, "ok_ratio": report.StatusFail}},
		{name: "p99 missed on a quiet host fails", slos: SLOs{P99: 100 * time.Millisecond},
			req: report.Requests{Total: 10, OK: 10}, host: quiet, p99: 150, want: map[string]string{"p99": report.StatusFail}},
		{name: "p99 missed on a saturated host is inconclusive", slos: SLOs{P99: 100 * time.Millisecond, Availability: 0.99},
			req: report.Requests{Total: 10, OK: 5, ByStatus: map[string]int{"201": 5}}, host: busy, p99: 150,
			want: map[string]string{"p99": report.StatusInconclusive, "availability": report.StatusInconclusive}, detail: "host saturated (host CPU 100%"},
		{name: "p99 met on a saturated host passes", slos: SLOs{P99: 100 * time.Millisecond},
			req: report.Requests{Total: 10, OK: 10}, host: busy, p99: 50, want: map[string]string{"p99": report.StatusPass}},
		{name: "lost payments are never excused", slos: SLOs{RPO: 0},
			req: report.Requests{Total: 10, OK: 10}, host: busy, want: map[string]string{"rpo": report.StatusFail}},
		{name: "every fault within its rto", slos: SLOs{RTO: 10 * time.Second}, req: report.Requests{Total: 10, OK: 10}, host: quiet,
			faults: []report.Fault{{Kind: "node-kill", Target: "a", StartS: 5, RTOS: 4}, {Kind: "latency", Target: "b", StartS: 20, RTOS: 9.9}},
			want:   map[string]string{"rto": report.StatusPass}},
		{name: "the fault not recovered from is named", slos: SLOs{RTO: 10 * time.Second}, req: report.Requests{Total: 10, OK: 10}, host: quiet,
			faults: []report.Fault{{Kind: "node-kill", Target: "a", StartS: 5, RTOS: 4}, {Kind: "kafka-leader-move", Target: "payments", StartS: 333, RTOS: 35}},
			want:   map[string]string{"rto": report.StatusFail}, detail: "after kafka-leader-move on payments at 333.0s (rto 35.0s)"},
		{name: "a fault that never happened is not held to the rto", slos: SLOs{RTO: 10 * time.Second}, req: report.Requests{Total: 10, OK: 10}, host: quiet,
			faults: []report.Fault{{Kind: "redis-failover", Target: "redis", InjectError: "no healthy replica"}},
			want:   map[string]string{"rto": report.StatusPass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := &report.Report{Requests: tc.req, Host: tc.host, LatencyMS: report.Latency{P99: tc.p99}, Faults: tc.faults}
			if rep.Requests.ByStatus == nil {
				rep.Requests.ByStatus = map[string]int{}
			}
			if tc.slos.RPO == 0 && tc.name == "lost payments are never excused" {
				rep.Recovery.RPOLostPayments = 1
			}
			for _, f := range tc.faults {
				rep.Recovery.RTOS = max(rep.Recovery.RTOS, f.RTOS)
			}
			judgeSLOs(tc.slos, rep)
			got := map[string]string{}
			var details []string
			for _, s := range rep.SLOs {
				got[s.Name] = s.Status
				details = append(details, s.Detail)
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("slo %s: %q, want %q (all %+v)", name, got[name], want, rep.SLOs)
				}
			}
			if tc.detail != "" && !strings.Contains(strings.Join(details, "\n"), tc.detail) {
				t.Errorf("details %q lack %q", details, tc.detail)
			}
		})
	}
}

func TestJudgeHost(t *testing.T) {
	tests := []struct {
		name      string
		st        hoststat.Stats
		p         loadgen.Pacing
		saturated bool
		reason    string
	}{
		{name: "quiet", st: hoststat.Stats{Cores: 2, HostBusy: 0.3, SchedP99: time.Millisecond, Wall: 30 * time.Second, ProcessCPU: 12 * time.Second}, p: loadgen.Pacing{Due: 100, Fired: 100, LateP99: time.Millisecond}},
		{name: "host CPU", st: hoststat.Stats{Cores: 2, HostBusy: 0.97}, saturated: true, reason: "host CPU 97%"},
		{name: "late load generator", st: hoststat.Stats{Cores: 2, HostBusy: 0.5}, p: loadgen.Pacing{LateP99: 80 * time.Millisecond}, saturated: true, reason: "late by 80 ms"},
		{name: "scheduler latency", st: hoststat.Stats{Cores: 2, HostBusy: 0.5, SchedP99: 30 * time.Millisecond}, saturated: true, reason: "scheduler latency"},
		{name: "host CPU unknown", st: hoststat.Stats{Cores: 2, HostBusy: -1}},
		{name: "never sent counted", st: hoststat.Stats{Cores: 2}, p: loadgen.Pacing{Due: 120, Fired: 100}},
		// A failover held every worker: hits went out seconds late on a
		// quiet host. The system's wait, reported, not the host's.
		{name: "every worker busy", st: hoststat.Stats{Cores: 2, HostBusy: 0.53, SchedP99: 3 * time.Millisecond}, p: loadgen.Pacing{LateP99: 2 * time.Millisecond, PoolFull: 4000, PoolFullLateMax: 3300 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := judgeHost(tc.st, tc.p)
			if h.Saturated != tc.saturated || !strings.Contains(h.Reason, tc.reason) {
				t.Fatalf("host %+v: want saturated %v with %q", h, tc.saturated, tc.reason)
			}
			if h.LoadS != tc.st.Wall.Seconds() || h.ProcessCPUS != tc.st.ProcessCPU.Seconds() {
				t.Fatalf("load_s %v process_cpu_s %v: want the span's %v and %v", h.LoadS, h.ProcessCPUS, tc.st.Wall, tc.st.ProcessCPU)
			}
			if h.NotSent != max(tc.p.Due-tc.p.Fired, 0) {
				t.Fatalf("not sent %d, want %d", h.NotSent, tc.p.Due-tc.p.Fired)
			}
			if h.LoadgenPoolFull != tc.p.PoolFull || h.LoadgenPoolFullLateMaxMS != report.MS(tc.p.PoolFullLateMax) {
				t.Fatalf("pool full %d (latest %v ms), want %d (%v)", h.LoadgenPoolFull, h.LoadgenPoolFullLateMaxMS, tc.p.PoolFull, tc.p.PoolFullLateMax)
			}
		})
	}
}
