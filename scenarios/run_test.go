package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim/payments"
)

// smallBaseline is the baseline on 210 accounts at rate per second for d.
func smallBaseline(t *testing.T, name string, rate int, d time.Duration) Scenario {
	t.Helper()
	sc := builtin(t, "baseline")
	sc.Name = name
	sc.Accounts = payments.Accounts{Users: 200, Merchants: 10, InitialBalance: 50_000}
	sc.Load.Rate = vegeta.Rate{Freq: rate, Per: time.Second}
	sc.Load.Duration = d
	return sc
}

// TestStopConditionAbortsHealsAndReports breaks every commit and checks the
// stop condition ends the run early, heals the fault and still reports.
func TestStopConditionAbortsHealsAndReports(t *testing.T) {
	sc := smallBaseline(t, "stop-test", 100, 40*time.Second)
	sc.Load.Poisson = true
	sc.Faults = []chaos.Entry{{Fault: chaos.Failpoint{Point: payments.FPBeforeCommit, Term: "return(true)"}, At: 3 * time.Second, For: 30 * time.Second}}
	sc.Stop = &chaos.StopCondition{MaxErrorRate: 0.5, For: 2 * time.Second}
	out := t.TempDir()
	rep, err := Run(context.Background(), sc, Options{Out: out})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.Drain == nil || !rep.Drain.Complete {
		t.Errorf("drain %+v: want it complete before the checks", rep.Drain)
	}
	if rep.StoppedBy == "" || rep.Verdict != report.VerdictFail {
		t.Fatalf("stopped_by %q verdict %q: want a stop and a fail", rep.StoppedBy, rep.Verdict)
	}
	if len(rep.Faults) != 1 || rep.Faults[0].EndS == 0 || rep.Faults[0].EndS > 15 {
		t.Fatalf("faults %+v: want the failpoint healed soon after the stop", rep.Faults)
	}
	if rep.Requests.Total == 0 || rep.Requests.Total > 2000 {
		t.Fatalf("%d requests: want the load cut short (40s at 100/s is 4000)", rep.Requests.Total)
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk report.Report
	if err := json.Unmarshal(raw, &onDisk); err != nil || onDisk.StoppedBy == "" || len(onDisk.Invariants) == 0 || onDisk.Arrivals != "poisson" {
		t.Fatalf("report.json: err %v, stopped_by %q, %d invariants, arrivals %q", err, onDisk.StoppedBy, len(onDisk.Invariants), onDisk.Arrivals)
	}
	for _, inv := range rep.Invariants {
		if !inv.OK {
			t.Errorf("invariant %s failed after the stop: %s %v", inv.Name, inv.Detail, inv.Examples)
		}
	}
}

// TestManualFaultsOnlyWhileTheLoadRuns: a fault injected from the live handle
// during the load is healed and reported; once the load is over (the checks
// tear the stack down) the handle refuses new ones.
func TestManualFaultsOnlyWhileTheLoadRuns(t *testing.T) {
	sc := smallBaseline(t, "manual-test", 50, 3*time.Second)
	var l Live
	var during error
	injected := false
	rep, err := Run(context.Background(), sc, Options{Out: t.TempDir(),
		OnLive: func(live Live) { l = live },
		OnTick: func(loadgen.Tick) {
			if !injected {
				injected = true
				during = l.Inject(chaos.NodePause{Node: "kafka-0-" + sc.Topology.AZs[0]})
			}
		},
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if during != nil {
		t.Fatalf("inject during the load: %v", during)
	}
	if len(rep.Faults) != 1 || !rep.Faults[0].Manual || rep.Faults[0].EndS == 0 {
		t.Fatalf("faults %+v: want the manual fault healed and reported", rep.Faults)
	}
	after := l.Inject(chaos.NodePause{Node: "kafka-0-" + sc.Topology.AZs[0]})
	if !errors.Is(after, errLoadOver) {
		t.Fatalf("inject after the run: %v, want %v", after, errLoadOver)
	}
	if len(l.Active()) != 0 {
		t.Fatalf("active after the run: %+v", l.Active())
	}
}
