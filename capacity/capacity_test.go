package capacity

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/scenarios"
	"paysim/sim"
)

// fakeStack answers like a system that holds up to limit/s with every AZ
// and limitDown/s with the first AZ lost: under it every operation is ok
// in 5 ms, over it latency climbs to a second. It writes the history a
// real run would, and the report.
type fakeStack struct {
	limit, limitDown float64
	saturateAt       float64 // over it the host saturates (objectives still met); 0: never
	saturateOnceAt   float64 // over it the first run at each rate saturates, the next does not; 0: never
	runs             []scenarios.Scenario
	interruptAt      int // the nth run is interrupted (0: never)
}

func (f *fakeStack) run(_ context.Context, sc scenarios.Scenario, dir string) (*report.Report, error) {
	f.runs = append(f.runs, sc)
	rate := float64(sc.Load.Rate.Freq)
	limit := f.limit
	if len(sc.Faults) > 0 {
		limit = f.limitDown
	}
	latency := 5.0
	if rate > limit {
		latency = 1000
	}
	saturated := rate > f.saturateAt && f.saturateAt > 0
	if f.saturateOnceAt > 0 && rate > f.saturateOnceAt {
		first := true
		for _, r := range f.runs[:len(f.runs)-1] {
			first = first && (r.Load.Rate != sc.Load.Rate || len(r.Faults) != len(sc.Faults))
		}
		saturated = saturated || first
	}
	hf, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return nil, err
	}
	enc := json.NewEncoder(hf)
	n := int(rate * sc.Load.Duration.Seconds())
	for i := range n {
		t := time.Duration(float64(i) / rate * float64(time.Second))
		_ = enc.Encode(loadgen.Event{Type: loadgen.EventInvoke, Op: "payment", TNS: int64(t)})
		_ = enc.Encode(loadgen.Event{Type: loadgen.EventOK, Op: "payment", Status: 201, LatencyMS: latency, TNS: int64(t) + int64(latency*1e6)})
	}
	if err := hf.Close(); err != nil {
		return nil, err
	}
	// The run lasts longer than its load (setup, checks): CPU per payment
	// is the load phase's CPU, 1 ms a payment here.
	load := sc.Load.Duration.Seconds()
	rep := &report.Report{Scenario: sc.Name, Verdict: report.VerdictPass, DurationS: load + 10,
		Requests: report.Requests{Total: n, OK: n}, Host: &report.Host{Cores: 2, CPUUsed: rate / 2000, HostCPUBusy: rate / 1500,
			LoadS: load, ProcessCPUS: float64(n) / 1000, Saturated: saturated, Reason: "host CPU 95%"},
		Logs: &report.Logs{BytesPerOK: 300}}
	if len(f.runs) == f.interruptAt {
		rep.Interrupted = true
		return rep, scenarios.ErrInterrupted
	}
	return rep, nil
}

func baseScenario() scenarios.Scenario {
	return scenarios.Scenario{Name: "baseline", Mode: "embedded",
		Topology: sim.Topology{AZs: []string{"az-a", "az-b", "az-c"}},
		SLOs:     scenarios.SLOs{Availability: 0.99, P99: 200 * time.Millisecond, RPO: 0},
		Faults:   []chaos.Entry{{Fault: chaos.AZPower{AZ: "az-b"}, At: time.Second, For: time.Second}}}
}

func TestSearch(t *testing.T) {
	tests := []struct {
		name             string
		limit, limitDown float64
		saturateAt, once float64
		start            float64
		wantAll, wantOne [2]float64 // the rate found lies in [lo, hi]
		maxRuns, retried int
	}{
		{"grows then bisects to 5%", 700, 430, 0, 0, 200, [2]float64{700 / 1.05, 700}, [2]float64{430 / 1.05, 430}, 18, 0},
		{"a start over the limit goes down", 150, 90, 0, 0, 400, [2]float64{150 / 1.05, 150}, [2]float64{90 / 1.05, 90}, 20, 0},
		// Each rate over 600 saturates twice: its first step is retried
		// (675 and 619/s), the second decides.
		{"a saturated host is not sustained though the objectives held", 900, 500, 600, 0, 200, [2]float64{600 / 1.05, 600}, [2]float64{500 / 1.05, 500}, 20, 2},
		// Over 350/s a rate's first step saturates: retried when its
		// objectives held (450, 675, 696; 392, 414, 425 with the AZ lost),
		// not when they failed too.
		{"a host saturated once at a rate is run again", 700, 430, 0, 350, 200, [2]float64{700 / 1.05, 700}, [2]float64{430 / 1.05, 430}, 24, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fakeStack{limit: tt.limit, limitDown: tt.limitDown, saturateAt: tt.saturateAt, saturateOnceAt: tt.once}
			var heard []Step
			cfg := Config{Scenario: baseScenario(), Step: 4 * time.Second, Settle: 3 * time.Second, Precision: 0.05,
				Start: tt.start, Growth: 1.5, MaxSteps: 12, Out: t.TempDir(), Run: fs.run, OnStep: func(s Step) { heard = append(heard, s) }}
			all, down, err := Search(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			res := Result{Precision: cfg.Precision, MaxSteps: cfg.MaxSteps}
			res.Analyze(all, down, &Reference{ReqPerS: 20000, CPUMSPerReq: 0.05}, Options{Target: 4000, InstanceCores: 1, AZs: 3, HotDays: 7, WarmDays: 30, Replicas: 1})
			for _, e := range res.Searches {
				if (e.EndedBy != EndPrecision && e.EndedBy != EndAdjacentRates) || e.Gap > cfg.Precision || e.Sustained == 0 || e.Failed <= e.Sustained {
					t.Fatalf("search %+v: want a bracket within the precision", e)
				}
			}
			if res.MaxRate < tt.wantAll[0] || res.MaxRate > tt.wantAll[1] || res.MaxRateOneAZDown < tt.wantOne[0] || res.MaxRateOneAZDown > tt.wantOne[1] {
				t.Fatalf("max_rate %.0f (want %v), one AZ down %.0f (want %v); steps %+v", res.MaxRate, tt.wantAll, res.MaxRateOneAZDown, tt.wantOne, res.Steps)
			}
			if len(fs.runs) > tt.maxRuns || len(heard) != len(fs.runs) {
				t.Fatalf("%d runs (bound %d), %d heard", len(fs.runs), tt.maxRuns, len(heard))
			}
			retried := 0
			for i, st := range heard {
				if math.Abs(st.CPUMSPerPayment-1) > 1e-9 {
					t.Fatalf("step at %.0f/s: %.3f CPU-ms per payment, want the load phase's 1", st.Rate, st.CPUMSPerPayment)
				}
				if st.Retried {
					retried++
					if st.Sustained || i+1 == len(heard) || heard[i+1].Rate != st.Rate || heard[i+1].Retried || !strings.Contains(st.Why, "run again") {
						t.Fatalf("step %d at %.0f/s retried (%s): want it not sustained and the next step at its rate, not retried", i, st.Rate, st.Why)
					}
				}
			}
			if retried != tt.retried {
				t.Fatalf("%d steps retried, want %d", retried, tt.retried)
			}
			for i, sc := range fs.runs {
				down := i >= len(all)
				switch {
				case !down && (len(sc.Faults) != 0 || sc.Load.Duration != cfg.Step || sc.SLOs.P99 != cfg.Scenario.SLOs.P99):
					t.Fatalf("all-AZ step %d: faults %v, duration %v, SLOs %+v: want none, the step, the scenario's", i, sc.Faults, sc.Load.Duration, sc.SLOs)
				case down && (len(sc.Faults) != 1 || sc.Faults[0].Fault.Target() != "az-a" || sc.Faults[0].Fault.Name() != "az-outage" ||
					sc.Load.Duration != 3*time.Second+cfg.Settle+cfg.Step || sc.SLOs.RTO != cfg.Settle || sc.SLOs.P99 != 0):
					t.Fatalf("one-AZ-down step %d: faults %v, duration %v, SLOs %+v", i, sc.Faults, sc.Load.Duration, sc.SLOs)
				}
			}
			if res.Ratios == nil || res.Ratios.MaxRateToReference != res.MaxRate/20000 || res.Limit == nil || !strings.Contains(res.Limit.Sentence, "not sustained") {
				t.Fatalf("ratios %+v limit %+v", res.Ratios, res.Limit)
			}
			if res.Sizing == nil || res.Sizing.HoldsAllAZs || res.Sizing.AppInstancesPerAZ < 1 || res.Sizing.AppInstancesPerAZOneDown < res.Sizing.AppInstancesPerAZ {
				t.Fatalf("sizing %+v", res.Sizing)
			}
			if r := res.LogRetention; r == nil || r.GBPerDay != 300*res.MaxRate*86400/1e9 || r.HotGB != r.GBPerDay*7*2 || r.WarmGB != r.GBPerDay*30 {
				t.Fatalf("retention %+v", r)
			}
			dir := t.TempDir()
			if err := res.Write(dir); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join(dir, File))
			if err != nil || !strings.Contains(string(raw), `"max_rate_one_az_down"`) {
				t.Fatalf("capacity.json: %v\n%s", err, raw)
			}
			page, err := os.ReadFile(filepath.Join(dir, HTMLFile))
			if err != nil || strings.Count(string(page), "<svg") != 2 || !strings.Contains(string(page), `id="chart-answered"`) ||
				!strings.Contains(string(page), "default-src 'none'") || strings.Contains(string(page), "<script") {
				t.Fatalf("capacity.html: %v: want the two knee charts, self-contained", err)
			}
		})
	}
}

func TestSearchInterrupted(t *testing.T) {
	fs := &fakeStack{limit: 700, limitDown: 400, interruptAt: 3}
	cfg := Config{Scenario: baseScenario(), Step: 4 * time.Second, Settle: 3 * time.Second, Precision: 0.05,
		Start: 200, Growth: 1.5, MaxSteps: 12, Out: t.TempDir(), Run: fs.run}
	all, down, err := Search(context.Background(), cfg)
	if !errors.Is(err, scenarios.ErrInterrupted) || len(all) != 3 || down != nil {
		t.Fatalf("err %v, %d and %d steps: want interrupted after the third, keeping it", err, len(all), len(down))
	}
}

func TestSearchBadConfig(t *testing.T) {
	one := baseScenario()
	one.Topology.AZs = one.Topology.AZs[:1]
	fs := &fakeStack{limit: 100}
	for name, cfg := range map[string]Config{
		"no step": {Scenario: baseScenario(), Precision: 0.05, Growth: 1.5, Start: 10, MaxSteps: 3, Run: fs.run},
		"one AZ":  {Scenario: one, Step: time.Second, Precision: 0.05, Growth: 1.5, Start: 10, MaxSteps: 3, Run: fs.run},
	} {
		if _, _, err := Search(context.Background(), cfg); err == nil || !strings.HasPrefix(err.Error(), "capacity: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(fs.runs) != 0 {
		t.Fatalf("a bad config ran %d steps", len(fs.runs))
	}
}

// TestSearchEnd runs searches that end each way and checks what
// capacity.json and the text say about it.
func TestSearchEnd(t *testing.T) {
	tests := []struct {
		name                string
		limit, growth       float64
		maxSteps, interrupt int
		wantAll, wantDown   string
		wantText            string
	}{
		{"the bisection reaches the precision", 700, 1.5, 12, 0, EndPrecision, EndPrecision, "every AZ 6"},
		{"the step bound cuts the bisection short", 700, 1.5, 5, 0, EndStepBound, EndStepBound, "the step bound ended it before the 5% precision"},
		{"every step held up to the bound", 1e6, 1.5, 3, 0, EndNothingFailed, EndStepBound, "held every step up to 450/s"},
		{"nothing held down to 1/s", 0, 2, 12, 0, EndNothingSustained, EndNotRun, "no rate down to 1/s held"},
		{"interrupted in the first search", 700, 1.5, 12, 3, EndInterrupted, EndInterrupted, ": interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fakeStack{limit: tt.limit, limitDown: tt.limit * 0.6, interruptAt: tt.interrupt}
			cfg := Config{Scenario: baseScenario(), Step: 2 * time.Second, Settle: time.Second, Precision: 0.05,
				Start: 200, Growth: tt.growth, MaxSteps: tt.maxSteps, Out: t.TempDir(), Run: fs.run}
			all, down, err := Search(context.Background(), cfg)
			res := Result{Precision: cfg.Precision, MaxSteps: cfg.MaxSteps, Interrupted: errors.Is(err, scenarios.ErrInterrupted)}
			if err != nil && !res.Interrupted {
				t.Fatal(err)
			}
			res.Analyze(all, down, nil, Options{})
			if len(res.Searches) != 2 || res.Searches[0].EndedBy != tt.wantAll || res.Searches[1].EndedBy != tt.wantDown {
				t.Fatalf("searches %+v: want %s then %s", res.Searches, tt.wantAll, tt.wantDown)
			}
			if e := res.Searches[0]; e.Steps != len(all) || (e.Sustained > 0 && e.Failed > 0 && e.Gap != (e.Failed-e.Sustained)/e.Sustained) {
				t.Fatalf("first search %+v over %d steps", e, len(all))
			}
			var out strings.Builder
			res.Text(&out)
			if !strings.Contains(out.String(), tt.wantText) {
				t.Fatalf("text lacks %q:\n%s", tt.wantText, out.String())
			}
		})
	}
}

// TestSearchRetryWithinBound: a step run again counts against --max-steps,
// and a rate is run again once at most.
func TestSearchRetryWithinBound(t *testing.T) {
	fs := &fakeStack{limit: 700, limitDown: 400, saturateAt: 100}
	cfg := Config{Scenario: baseScenario(), Step: 2 * time.Second, Settle: time.Second, Precision: 0.05,
		Start: 200, Growth: 1.5, MaxSteps: 3, Out: t.TempDir(), Run: fs.run}
	all, down, err := Search(context.Background(), cfg)
	if err != nil || len(all) != 3 || down != nil {
		t.Fatalf("err %v, %d and %d steps: want the bound's 3, nothing sustained", err, len(all), len(down))
	}
	// 200/s saturates twice (retried once), then 133/s, the last step
	// the bound allows, is not retried.
	want := []struct {
		rate    float64
		retried bool
	}{{200, true}, {200, false}, {133, false}}
	for i, w := range want {
		if st := all[i]; st.Rate != w.rate || st.Retried != w.retried || st.Sustained {
			t.Fatalf("step %d: %.0f/s retried %v sustained %v: want %.0f/s retried %v", i, st.Rate, st.Retried, st.Sustained, w.rate, w.retried)
		}
	}
}
