package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/pingcap/failpoint"

	"paysim/chaos"
	"paysim/check"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// Options controls one run.
type Options struct {
	Out        string                             // artifact directory (created)
	OnTick     func(loadgen.Tick)                 // per-second metrics, e.g. for the plain reporter
	Progress   func(step string, done, total int) // setup progress
	Events     io.Writer                          // human-readable run events; nil discards
	DrainBound time.Duration                      // bound on the pre-check drain; default 30s
	Bugs       []string                           // seeded bugs to switch on
	// OnFault hears every fault injected (true) or healed (false), scheduled or manual.
	OnFault func(r chaos.Record, injected bool)
	// OnLive is called once the stack is up, just before the load starts,
	// with a handle for a live UI; it must not block.
	OnLive func(Live)
}

// Live is a running scenario's handle for a UI: the live topology, load
// pause, and manual faults (healed at the end of the load at the latest).
type Live interface {
	// Nodes is the live status of every node, sorted by id.
	Nodes() []sim.NodeStatus
	// AZs are the topology's AZs in order.
	AZs() []string
	// Pause pauses (true) or resumes (false) the load.
	Pause(paused bool)
	// Paused reports whether the load is paused.
	Paused() bool
	// Inject starts a manual fault now; it heals by Heal or when the load ends.
	Inject(f chaos.Fault) error
	// Heal ends a manual fault started by Inject (matched by kind and target).
	Heal(kind, target string) error
	// Active lists the manual faults currently injected.
	Active() []chaos.Record
}

// ErrInterrupted marks a run stopped by Ctrl-C / SIGTERM; the report is partial.
var ErrInterrupted = errors.New("interrupted")

// Run brings the scenario's stack up, drives its load, drains, checks every
// invariant and writes report.json and history.jsonl. It always returns a
// report, partial if ctx was cancelled (the error is then ErrInterrupted);
// everything it started is torn down before it returns.
func Run(ctx context.Context, sc Scenario, opt Options) (rep *report.Report, err error) {
	if opt.DrainBound == 0 {
		opt.DrainBound = 30 * time.Second
	}
	events := opt.Events
	if events == nil {
		events = io.Discard
	}
	started := time.Now()
	rep = &report.Report{
		Scenario: sc.Name, Mode: orDefault(sc.Mode, stack.ModeEmbedded), Seed: sc.Seed, StartedAt: started.UTC(),
		TargetRate: sc.Load.pacer().Rate(0), Faults: []report.Fault{}, Invariants: []report.Invariant{}, SLOs: []report.SLO{}, Timeline: []report.Point{},
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return rep, fmt.Errorf("out dir: %w", err)
	}
	defer func() {
		rep.DurationS = time.Since(started).Seconds()
		if err != nil {
			rep.Error = err.Error()
			rep.Interrupted = errors.Is(err, ErrInterrupted)
		}
		rep.Decide()
		if werr := rep.WriteJSON(opt.Out); werr != nil && err == nil {
			err = werr
		}
	}()

	rep.Bugs = opt.Bugs
	fps := &failpoint.Failpoints{}
	if err := payments.EnableBugs(fps, opt.Bugs); err != nil {
		return rep, err
	}
	// The stack keeps its state in a temporary directory of its own,
	// memory-backed where possible, and removes it on Close.
	st, err := stack.Up(ctx, stack.Config{
		Mode: sc.Mode, Topology: sc.Topology, Accounts: sc.Accounts, Failpoints: fps,
		Progress: opt.Progress,
	})
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("%w during setup: %v", ErrInterrupted, err)
		}
		return rep, fmt.Errorf("setup: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil { // a no-op once the checks released it
			err = teardownErr(cerr)
		}
	}()
	rep.SetupS = time.Since(started).Seconds()
	fmt.Fprintf(events, "stack up in %.2fs: %d nodes, API %s\n", rep.SetupS, len(st.Nodes()), st.Endpoints().API.URL)

	hf, err := os.Create(filepath.Join(opt.Out, "history.jsonl"))
	if err != nil {
		return rep, fmt.Errorf("history: %w", err)
	}
	defer hf.Close()
	for name, term := range sc.Failpoints {
		if err := fps.Enable(name, term); err != nil {
			return rep, fmt.Errorf("failpoint %s: %w", name, err)
		}
		fmt.Fprintf(events, "failpoint %s = %s\n", name, term)
	}
	schedule, err := sc.Schedule()
	if err != nil {
		return rep, fmt.Errorf("schedule: %w", err)
	}
	// The load and the faults run on their own context so a stop condition
	// can end them without looking like Ctrl-C.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	onTick := opt.OnTick
	var stoppedBy string
	if sc.Stop != nil {
		watch := chaos.NewStopWatch(*sc.Stop)
		onTick = func(t loadgen.Tick) {
			if opt.OnTick != nil {
				opt.OnTick(t)
			}
			if reason, trip := watch.Observe(t.T+time.Second, time.Second, t.Requests, t.Errors); trip && stoppedBy == "" {
				stoppedBy = reason
				fmt.Fprintf(events, "stop condition: %s; aborting and healing\n", reason)
				stopLoad()
			}
		}
	}
	loadStart := time.Now()
	runner, err := loadgen.NewRunner(loadgen.Config{
		Targets:  []string{st.Endpoints().API.URL},
		Pacer:    sc.Load.pacer(),
		Duration: sc.Load.Duration,
		Mix: loadgen.MixConfig{
			Weights: sc.Load.Mix, Users: sc.Accounts.Users, Merchants: sc.Accounts.Merchants,
			DoubleRefund: sc.Load.DoubleRefund, MerchantSkew: sc.Load.MerchantSkew,
		},
		Seed:    uint64(sc.Seed),
		RunID:   fmt.Sprintf("%s-%d-%d", sc.Name, sc.Seed, started.Unix()),
		Retry:   loadgen.DefaultRetryPolicy(),
		History: hf,
		OnTick:  onTick,
		Epoch:   loadStart,
	})
	if err != nil {
		return rep, fmt.Errorf("load: %w", err)
	}
	lv := &live{st: st, runner: runner, epoch: loadStart, onFault: opt.OnFault}
	if opt.OnLive != nil {
		opt.OnLive(lv)
	}
	faultsDone := make(chan []chaos.Record, 1)
	go func() {
		recs, ferr := chaos.Run(loadCtx, st, loadStart, schedule, func(r chaos.Record, injected bool) {
			what := "healed"
			if injected {
				what = "injected"
			}
			fmt.Fprintf(events, "fault %s %s on %s at %.1fs\n", r.Kind, what, r.Target, time.Since(loadStart).Seconds())
			if opt.OnFault != nil {
				opt.OnFault(r, injected)
			}
		})
		if ferr != nil {
			fmt.Fprintf(events, "faults: %v\n", ferr)
		}
		faultsDone <- recs
	}()
	sum, lerr := runner.Run(loadCtx)
	loadEnd := time.Since(loadStart)
	stopLoad() // faults still waiting to start will not
	manual := lv.healAll()
	for name := range sc.Failpoints {
		_ = fps.Disable(name) // faults heal before the drain and the checks
	}
	fillTraffic(rep, sum)
	faultRecs := <-faultsDone
	defer func() { fillManual(rep, manual) }()
	fillFaults(rep, faultRecs)
	if err := writeSchedule(opt.Out, schedule, faultRecs); err != nil {
		return rep, err
	}
	rep.StoppedBy = stoppedBy
	interrupted := lerr != nil && ctx.Err() != nil
	if lerr != nil && !interrupted && stoppedBy == "" {
		return rep, fmt.Errorf("load: %w", lerr)
	}
	if err := hf.Sync(); err != nil {
		return rep, fmt.Errorf("history: %w", err)
	}

	// Drain and check on a fresh context: an interrupted run still reports
	// what it can, within a short bound. Loading the state takes longer the
	// more the run did: 30 s, and a second per 10,000 requests.
	checkBudget := 30*time.Second + time.Duration(sum.Total/10000)*time.Second
	cctx, cancel := context.WithTimeout(context.Background(), opt.DrainBound+checkBudget)
	defer cancel()
	bound := opt.DrainBound
	if interrupted {
		bound = min(bound, 3*time.Second)
	}
	if !interrupted {
		// A request whose client gave up (or was abandoned by a stop) may
		// still commit inside the app until its own timeout: let those land
		// before the drain, or their events would arrive after the checks.
		settle := payments.Config{}.WithDefaults().RequestTimeout
		if wait := time.Until(loadStart.Add(loadEnd + settle)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-cctx.Done():
			}
			t.Stop()
		}
	}
	ep := st.Endpoints()
	d := check.Drain(cctx, check.DrainTarget{
		Ledger: st.Ledger(), Kafka: ep.Kafka.Bootstrap,
		Groups: st.Groups(), Busy: st.InFlight,
	}, bound)
	rep.Drain = &d
	fmt.Fprintf(events, "drain: complete=%v in %.2fs (bound %.0fs) %s\n", d.Complete, d.ActualS, d.BoundS, d.Pending)
	analysed := false
	history := func() ([]loadgen.Event, error) {
		hist, err := readHistory(filepath.Join(opt.Out, "history.jsonl"), rep.Requests.Total)
		if err == nil {
			analyseFaults(rep, schedule, faultRecs, hist, loadEnd, sc.Load.pacer().Rate)
			analysed = true
		}
		return hist, err
	}
	regionLost := false
	for _, r := range faultRecs {
		regionLost = regionLost || (r.Kind == "region-loss" && r.Start > 0)
	}
	if err := runChecks(cctx, st, history, rep, regionLost, sc.SLOs.RPO); err != nil {
		if !analysed { // the report still gets its fault windows
			_, _ = history()
		}
		return rep, err
	}
	judgeSLOs(sc.SLOs, rep)
	if interrupted {
		return rep, ErrInterrupted
	}
	return rep, nil
}

// readHistory reads the completions of history.jsonl: the checks and the
// fault windows judge outcomes, so the invoke events (half the file) stay
// on disk. completions sizes the slice (a long run's history is 100+ MB,
// and growing it by appends held two copies at once).
func readHistory(path string, completions int) ([]loadgen.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	hist := make([]loadgen.Event, 0, completions)
	err = loadgen.ScanHistory(f, func(e loadgen.Event) error {
		if e.Type != loadgen.EventInvoke {
			hist = append(hist, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return hist, nil
}

// runChecks runs every invariant. After a region loss, acknowledged
// payments the DR copy never received are the RPO: durability is judged
// against the allowed RPO, and the downstream checks against what the
// promoted ledger holds. The drained stack is torn down tier by tier as its
// state is read (the app tier and search after the log ids, then each
// service once loaded), so a long run's checks never hold the whole idle
// stack beside the ledger, and the history, the largest state, loads only
// once the stack is gone. The topic streams; each state is dropped once its
// checks are done.
func runChecks(ctx context.Context, st *stack.Stack, history func() ([]loadgen.Event, error), rep *report.Report, regionLost bool, allowedRPO int) error {
	defer collectOften()()
	var teardown []error
	release := func(svcs ...sim.Service) {
		for _, svc := range svcs {
			teardown = append(teardown, st.Release(svc))
		}
		debug.FreeOSMemory()
	}
	ep := st.Endpoints()
	logs, err := check.LoadLogIDs(ctx, ep.Elasticsearch.URL)
	if err != nil {
		return fmt.Errorf("checks: %w", err)
	}
	release(sim.ServiceApp, sim.ServiceSearch) // the app tier's log shipper has had until now
	led, err := check.LoadLedger(ctx, st.Ledger())
	if err != nil {
		return fmt.Errorf("checks: %w", err)
	}
	release(sim.ServiceMySQL)
	// Only conservation reads the per-transaction and per-account entry
	// sums; a long run's are tens of MB, freed before the topic streams.
	conservation, nonNegative := check.Conservation(led), check.NoNegative(led)
	led.EntrySum, led.EntryCount, led.AccountEntrySum = nil, nil, nil
	delivery, err := check.TopicEvents(ctx, ep.Kafka.Bootstrap, sim.TopicPayments, led, regionLost)
	if err != nil {
		return fmt.Errorf("checks: %w", err)
	}
	release(sim.ServiceKafka)
	cached, err := check.LoadCache(ctx, ep.Redis.Addr)
	if err != nil {
		return fmt.Errorf("checks: %w", err)
	}
	release(sim.ServiceRedis)
	cache := check.Cache(led, cached)
	hist, err := history()
	if err != nil {
		return errors.Join(err, teardownErr(errors.Join(teardown...)))
	}
	dur, lost := check.Durability(hist, led)
	if regionLost {
		dur.OK = lost <= allowedRPO
		dur.Detail = fmt.Sprintf("%d acknowledged payments lost with the primary region (asynchronous DR copy; rpo allows %d)", lost, allowedRPO)
		hist = check.WithoutLost(hist, led)
	}
	rep.Invariants = append(rep.Invariants,
		conservation,
		nonNegative,
		check.Idempotency(hist, led),
		dur,
		delivery,
		check.Logs(hist, led, logs),
		cache,
		check.Unknowns(hist, led),
	)
	rep.Recovery.RPOLostPayments = lost
	return teardownErr(errors.Join(teardown...))
}

// teardownErr prefixes a teardown error; nil stays nil.
func teardownErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("teardown: %w", err)
}

// checksGCPercent is GOGC while the checks run. They hold a long run's
// ledger and history beside the idle stack (about 550 MB live after 10
// minutes at 1,000/s), and the load's GOGC then let the heap reach the
// memory limit (GOGC=25: still 1.05 GB RSS). With the load over,
// collecting often costs no latency.
const checksGCPercent = 10

// collectOften returns the load's garbage to the OS and lowers GOGC to
// checksGCPercent (unless it is lower already, or off) until the returned
// function restores it.
func collectOften() (restore func()) {
	old := debug.SetGCPercent(checksGCPercent)
	if old < checksGCPercent {
		debug.SetGCPercent(old)
	}
	debug.FreeOSMemory()
	return func() { debug.SetGCPercent(old) }
}

// scheduledFault is one line of schedule.json: what was planned and what ran.
type scheduledFault struct {
	Kind   string  `json:"kind"`
	Target string  `json:"target"`
	AtS    float64 `json:"at_s"`
	ForS   float64 `json:"for_s"`
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	LateMS float64 `json:"late_ms"`
	Error  string  `json:"error,omitempty"`
}

// writeSchedule writes the fault schedule that ran to schedule.json.
func writeSchedule(dir string, plan []chaos.Entry, recs []chaos.Record) error {
	out := make([]scheduledFault, len(plan))
	for i, e := range plan {
		r := recs[i]
		out[i] = scheduledFault{Kind: r.Kind, Target: r.Target, AtS: e.At.Seconds(), ForS: e.For.Seconds(),
			StartS: r.Start.Seconds(), EndS: r.End.Seconds(), Error: r.Err}
		if r.Start > 0 {
			out[i].LateMS = report.MS(r.Start - e.At)
		}
	}
	raw, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schedule.json"), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	return nil
}

// fillManual adds faults injected by hand to the report.
func fillManual(rep *report.Report, recs []chaos.Record) {
	for _, r := range recs {
		rep.Faults = append(rep.Faults, report.Fault{Kind: r.Kind, Target: r.Target, StartS: r.Start.Seconds(), EndS: r.End.Seconds(), Manual: true})
	}
}

// fillFaults records each fault's window; analyseFaults adds the rest once
// the history is complete.
func fillFaults(rep *report.Report, recs []chaos.Record) {
	for _, r := range recs {
		rep.Faults = append(rep.Faults, report.Fault{Kind: r.Kind, Target: r.Target, StartS: r.Start.Seconds(), EndS: r.End.Seconds(), Error: r.Err})
	}
}

// fillTraffic copies the load summary into the report.
func fillTraffic(rep *report.Report, s loadgen.Summary) {
	rep.Requests = report.Requests{Total: s.Total, OK: s.OK, Failed: s.Failed, Unknown: s.Unknown, ByStatus: map[string]int{}}
	for code, n := range s.ByStatus {
		label := strconv.Itoa(code)
		if code == 0 {
			label = "no_response"
		}
		rep.Requests.ByStatus[label] = n
	}
	rep.ThroughputRPS = s.Throughput
	rep.LatencyMS = report.Latency{P50: report.MS(s.P50), P95: report.MS(s.P95), P99: report.MS(s.P99), Max: report.MS(s.Max)}
	for _, t := range s.Timeline {
		rep.Timeline = append(rep.Timeline, report.Point{TS: t.T.Seconds(), RPS: t.RPS, OK: t.OK, Errors: t.Errors, P99MS: report.MS(t.P99)})
	}
}

// judgeSLOs compares what the run achieved with the scenario's objectives.
func judgeSLOs(s SLOs, rep *report.Report) {
	total := float64(max(rep.Requests.Total, 1))
	if s.Availability > 0 {
		a := 1 - float64(rep.Requests.Unknown)/total
		rep.SLOs = append(rep.SLOs, report.SLO{Name: "availability", Target: pct(s.Availability), Actual: a, OK: a >= s.Availability})
	}
	if s.OKRatio > 0 {
		a := float64(rep.Requests.OK) / total
		rep.SLOs = append(rep.SLOs, report.SLO{Name: "ok_ratio", Target: pct(s.OKRatio), Actual: a, OK: a >= s.OKRatio})
	}
	if s.P99 > 0 {
		rep.SLOs = append(rep.SLOs, report.SLO{Name: "p99", Target: s.P99.String(), Actual: rep.LatencyMS.P99, OK: rep.LatencyMS.P99 <= report.MS(s.P99)})
	}
	if s.RTO > 0 {
		rep.SLOs = append(rep.SLOs, report.SLO{Name: "rto", Target: s.RTO.String(), Actual: rep.Recovery.RTOS, OK: rep.Recovery.RTOS <= s.RTO.Seconds()})
	}
	rep.SLOs = append(rep.SLOs, report.SLO{Name: "rpo", Target: strconv.Itoa(s.RPO), Actual: float64(rep.Recovery.RPOLostPayments), OK: rep.Recovery.RPOLostPayments <= s.RPO})
}

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + "%" }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
