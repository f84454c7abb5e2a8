// Package capacity finds the highest payments/s a topology sustains within
// its SLOs, with every AZ and with one lost, models the curve, says which
// tier gives out first, and sizes for a target peak and for log retention.
// Every step is an ordinary run with its own report.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/scenarios"
)

// Phases of the search.
const (
	PhaseAllAZs    = "all-azs"
	PhaseOneAZDown = "one-az-down"
)

// Config is one capacity search.
type Config struct {
	// Scenario is the load (mix, accounts, topology, SLOs); its faults
	// and rates are replaced by each step's.
	Scenario scenarios.Scenario
	// Step is how long each step's rate is held and judged.
	Step time.Duration
	// Settle is how long a one-AZ-down step runs with the AZ lost before
	// its judged window: the failover and the clients' recovery.
	Settle time.Duration
	// Precision is the relative gap between the highest rate sustained and
	// the lowest not sustained at which the search stops (0.05: 5%).
	Precision float64
	// Start is the first step's rate; Growth the factor between steps
	// until one is not sustained.
	Start, Growth float64
	// MaxSteps bounds each phase's steps.
	MaxSteps int
	// Out holds a directory per step.
	Out string
	// Profile takes a CPU profile of each step (paysim's process: in
	// embedded mode the whole stack).
	Profile bool
	// Run runs one step's scenario into out and returns its report.
	Run func(ctx context.Context, sc scenarios.Scenario, out string) (*report.Report, error)
	// OnStep hears each step as it ends.
	OnStep func(Step)
}

// Step is one rate held for a step and how it went.
type Step struct {
	Phase string  `json:"phase"`
	Rate  float64 `json:"rate"`
	// The judged window: the whole load after a second of warm-up, or for
	// a one-AZ-down step the time after the AZ was lost and settled.
	FromS      float64 `json:"from_s"`
	ToS        float64 `json:"to_s"`
	OKRPS      float64 `json:"ok_rps"`
	AnsweredPS float64 `json:"answered_per_s"` // ok and definite 4xx answers a second
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	MeanMS     float64 `json:"mean_ms"`
	ErrorShare float64 `json:"error_share"` // unknown outcomes among requests
	// CPUUsed and HostCPUBusy are the run's, over its whole load phase.
	CPUUsed         float64 `json:"cpu_used"`
	HostCPUBusy     float64 `json:"host_cpu_busy"`
	CPUMSPerPayment float64 `json:"cpu_ms_per_payment"` // paysim's CPU per ok operation
	Verdict         string  `json:"verdict"`            // the run's own
	Sustained       bool    `json:"sustained"`
	Why             string  `json:"why,omitempty"` // why not sustained
	// Retried is set on a step whose objectives held but whose host
	// saturated: the same rate ran once more and that step decides.
	Retried bool   `json:"retried,omitempty"`
	Dir     string `json:"dir"`
	Profile string `json:"profile,omitempty"`

	rep *report.Report
	// hostOnly: not sustained only because the host saturated; the
	// window's objectives held.
	hostOnly bool
}

// search is the state of one phase: the highest rate sustained and the
// lowest not.
type search struct {
	cfg   Config
	phase string
	steps []Step
}

// Search runs the all-AZs phase, then the one-AZ-down phase between 0 and
// the first's result. It returns the steps so far with any error (an
// interrupted search keeps what it measured).
func Search(ctx context.Context, cfg Config) (all, oneDown []Step, err error) {
	if cfg.Step <= 0 || cfg.Precision <= 0 || cfg.Growth <= 1 || cfg.Start <= 0 || cfg.MaxSteps <= 0 || cfg.Run == nil {
		return nil, nil, fmt.Errorf("capacity: bad config: step %v, precision %v, growth %v, start %v, max steps %d", cfg.Step, cfg.Precision, cfg.Growth, cfg.Start, cfg.MaxSteps)
	}
	if len(cfg.Scenario.Topology.AZs) < 2 {
		return nil, nil, errors.New("capacity: the topology needs at least two AZs to lose one")
	}
	s := &search{cfg: cfg, phase: PhaseAllAZs}
	lo, _, err := s.run(ctx, cfg.Start, 0)
	all = s.steps
	if err != nil || lo == 0 {
		return all, nil, err
	}
	// With an AZ lost the rate is at most the whole topology's: bisect
	// between half of it and it, or halve down from half.
	d := &search{cfg: cfg, phase: PhaseOneAZDown}
	_, _, err = d.run(ctx, lo*0.5, lo)
	return all, d.steps, err
}

// run searches from start: up by Growth until a step is not sustained
// (or, with ceiling set, bracketed below it), then bisects. It returns the
// highest rate sustained and the lowest not (0 when none).
func (s *search) run(ctx context.Context, start, ceiling float64) (lo, hi float64, err error) {
	hi = ceiling
	rate := start
	for len(s.steps) < s.cfg.MaxSteps {
		if lo > 0 && hi > 0 && (hi-lo)/lo <= s.cfg.Precision {
			break
		}
		rate = math.Round(rate)
		st, err := s.step(ctx, rate, true)
		if err != nil {
			return lo, hi, err
		}
		if st.Retried {
			if st, err = s.step(ctx, rate, false); err != nil {
				return lo, hi, err
			}
		}
		switch {
		case st.Sustained:
			lo = rate
		default:
			hi = rate
		}
		switch {
		case lo == 0: // nothing sustained yet: go down
			rate = rate / s.cfg.Growth
			if rate < 1 {
				return 0, hi, nil
			}
		case hi == 0: // nothing failed yet: go up
			rate = rate * s.cfg.Growth
		default:
			rate = (lo + hi) / 2
			if math.Round(rate) == lo || math.Round(rate) == hi {
				return lo, hi, nil
			}
		}
	}
	return lo, hi, nil
}

// step runs one rate and judges it; mayRetry lets it mark the step to be
// run again.
func (s *search) step(ctx context.Context, rate float64, mayRetry bool) (Step, error) {
	sc := s.cfg.Scenario
	sc.Faults, sc.Nemesis, sc.Stop, sc.Failpoints = nil, nil, nil, nil
	sc.Load.Pacer = nil
	sc.Load.Rate = vegeta.Rate{Freq: int(rate), Per: time.Second}
	sc.Load.Duration = s.cfg.Step
	from := time.Second // warm-up
	if s.phase == PhaseOneAZDown {
		// Lose the first AZ after a few seconds (a fault needs traffic
		// before it to be judged), let the failover settle, then judge.
		lost := 3 * time.Second
		from = lost + s.cfg.Settle
		sc.Load.Duration = from + s.cfg.Step
		sc.Faults = []chaos.Entry{{Fault: chaos.AZPower{AZ: sc.Topology.AZs[0]}, At: lost, For: sc.Load.Duration}}
		// The run's own SLOs would count the failover: the RTO must fit
		// the settle time; latency and availability are judged here, on
		// the window after it.
		sc.SLOs = scenarios.SLOs{RTO: s.cfg.Settle, RPO: sc.SLOs.RPO}
	}
	slos := s.cfg.Scenario.SLOs
	dir := filepath.Join(s.cfg.Out, "steps", fmt.Sprintf("%02d-%s-%.0f", len(s.steps)+1, s.phase, rate))
	st := Step{Phase: s.phase, Rate: rate, Dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("capacity: %w", err)
	}
	stop, prof, err := s.profile(dir)
	if err != nil {
		return st, err
	}
	rep, runErr := s.cfg.Run(ctx, sc, dir)
	if perr := stop(); perr != nil && runErr == nil {
		runErr = perr
	}
	st.Profile = prof
	if rep == nil {
		return st, fmt.Errorf("capacity: step %.0f/s: %w", rate, errors.Join(runErr, errors.New("no report")))
	}
	st.rep = rep
	st.Verdict = rep.Verdict
	if rep.Host != nil {
		st.CPUUsed, st.HostCPUBusy = rep.Host.CPUUsed, rep.Host.HostCPUBusy
		if rep.Requests.OK > 0 {
			// The load phase's CPU: the run's setup and checks are not
			// the payments'.
			st.CPUMSPerPayment = rep.Host.ProcessCPUS * 1000 / float64(rep.Requests.OK)
		}
	}
	if err := judge(&st, rep, dir, from, sc.Load.Duration, slos); err != nil {
		return st, err
	}
	// Near the knee the load generator's lateness sits at its threshold
	// and one step decides by chance: a step whose objectives held on a
	// saturated host is run once more, within the step bound, and the
	// second step decides.
	if mayRetry && st.hostOnly && len(s.steps)+1 < s.cfg.MaxSteps && runErr == nil {
		st.Retried = true
		st.Why += " (the objectives held: run again)"
	}
	s.steps = append(s.steps, st)
	if s.cfg.OnStep != nil {
		s.cfg.OnStep(st)
	}
	if runErr != nil { // interrupted, or the run could not be judged
		return st, runErr
	}
	return st, nil
}

// profile starts a CPU profile of the step when asked; stop ends it.
func (s *search) profile(dir string) (stop func() error, path string, err error) {
	if !s.cfg.Profile {
		return func() error { return nil }, "", nil
	}
	path = filepath.Join(dir, "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		return nil, "", fmt.Errorf("capacity: profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		return func() error { return nil }, "", nil // already profiling (--cpuprofile): go without
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, path, nil
}

// judge measures the step's window from its history and decides whether
// the rate was sustained: the run passed (every invariant held) on a host
// that did not saturate, and in the window the answers kept up with the
// offered rate (97%), the p99 and the availability met the scenario's
// SLOs. A run judged inconclusive, or passed on a saturated host, is not
// sustained: at 823/s a 30 s step held p99 178 ms with the host 98% busy,
// and the same rate for 60 s is a coin toss.
func judge(st *Step, rep *report.Report, dir string, from, to time.Duration, slos scenarios.SLOs) error {
	evs, err := readHistory(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return err
	}
	w := scenarios.Measure(evs, from, to)
	st.FromS, st.ToS = w.FromS, w.ToS
	st.OKRPS, st.P50MS, st.P99MS, st.MeanMS = w.OKRPS, w.P50MS, w.P99MS, w.MeanMS
	if span := (to - from).Seconds(); span > 0 {
		st.AnsweredPS = float64(w.OK+w.Failed) / span
	}
	if w.Requests > 0 {
		st.ErrorShare = float64(w.Errors) / float64(w.Requests)
	}
	var why []string
	saturated := rep.Host != nil && rep.Host.Saturated
	if rep.Verdict != report.VerdictPass {
		why = append(why, fmt.Sprintf("run %s: %v", rep.Verdict, rep.Reasons))
	} else if saturated {
		// The objectives held, but on cores so busy that the load
		// generator was starved: not a rate this machine keeps up.
		why = append(why, "host saturated: "+rep.Host.Reason)
	}
	judged := len(why)
	if st.AnsweredPS < 0.97*st.Rate {
		why = append(why, fmt.Sprintf("answered %.1f/s of %.0f/s offered", st.AnsweredPS, st.Rate))
	}
	if slos.P99 > 0 && st.P99MS > report.MS(slos.P99) {
		why = append(why, fmt.Sprintf("p99 %.1f ms over %v", st.P99MS, slos.P99))
	}
	if slos.Availability > 0 && 1-st.ErrorShare < slos.Availability {
		why = append(why, fmt.Sprintf("availability %.4f under %.4f", 1-st.ErrorShare, slos.Availability))
	}
	st.Sustained = len(why) == 0
	st.hostOnly = saturated && judged == len(why) && rep.Verdict != report.VerdictFail
	if !st.Sustained {
		st.Why = strings.Join(why, "; ")
	}
	return nil
}

func readHistory(path string) ([]loadgen.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capacity: history: %w", err)
	}
	defer f.Close()
	evs, err := loadgen.ReadHistory(f)
	if err != nil {
		return nil, fmt.Errorf("capacity: history: %w", err)
	}
	return evs, nil
}
