// Package scenarios is the scenario model (topology overrides, load, faults,
// SLOs) and the runner that brings a stack up, drives load, checks the
// invariants and writes the report.
package scenarios

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"paysim"
	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// Scenario is one runnable drill.
type Scenario struct {
	Name        string
	Description string
	Mode        string
	Seed        int64
	Topology    sim.Topology
	Accounts    payments.Accounts
	Load        Load
	SLOs        SLOs
	// Faults are injected on the load's clock.
	Faults []chaos.Entry
	// Nemesis, if set, adds a seeded random schedule (seeded by Seed).
	Nemesis *chaos.Nemesis
	// Stop, if set, aborts the run (healing every fault) when the steady
	// state is lost.
	Stop *chaos.StopCondition
	// Scalable scenarios have their rates multiplied by --scale.
	Scalable bool
	// Failpoints are enabled while the load runs: failpoint name -> term
	// (pingcap/failpoint syntax, e.g. "10%return(true)", "sleep(2000)").
	Failpoints map[string]string
	// Images overrides services' images when the scenario runs in
	// containers mode.
	Images sim.Images
}

// Load is the traffic a scenario drives.
type Load struct {
	Rate     vegeta.Rate
	Pacer    vegeta.Pacer // overrides Rate when set (ramp, step, spike)
	Duration time.Duration
	Mix      loadgen.Weights
	// DoubleRefund is the share of full refunds a merchant asks for twice.
	DoubleRefund float64
	// MerchantSkew is the Zipf exponent over merchants (> 1); 0 keeps the
	// load generator's default.
	MerchantSkew float64
	// Poisson makes requests arrive at random (exponential gaps at the same
	// mean rate) rather than evenly spaced.
	Poisson bool
}

// arrivalsName is how the load's requests arrive, as the scenario file and
// report.json name it.
func (l Load) arrivalsName() string {
	if l.Poisson {
		return report.ArrivalsPoisson
	}
	return report.ArrivalsEven
}

// SLOs are the objectives a run is judged by; zero values are not checked.
type SLOs struct {
	Availability float64       // fraction of operations with a definite answer (not 5xx/timeout)
	OKRatio      float64       // fraction of operations answered 2xx
	P99          time.Duration // end-to-end p99 latency
	RTO          time.Duration
	RPO          int // acknowledged payments lost
}

// Schedule is every fault the run will inject: the fixed ones, then the
// nemesis's draw.
func (s Scenario) Schedule() ([]chaos.Entry, error) {
	out := slices.Clone(s.Faults)
	if s.Nemesis != nil {
		drawn, _, err := s.Nemesis.Schedule(uint64(s.Seed), s.Load.Duration, s.Topology, payments.FailpointNames())
		if err != nil {
			return nil, err
		}
		out = append(out, drawn...)
	}
	return out, nil
}

// Scale multiplies every rate of the load by f (at least 1/s each).
func (l *Load) Scale(f float64) {
	sr := func(r vegeta.Rate) vegeta.Rate {
		if r.Freq == 0 {
			return r
		}
		r.Freq = max(1, int(float64(r.Freq)*f+0.5))
		return r
	}
	l.Rate = sr(l.Rate)
	switch p := l.Pacer.(type) {
	case loadgen.SpikePacer:
		p.Base, p.Peak = sr(p.Base), sr(p.Peak)
		l.Pacer = p
	case loadgen.StepPacer:
		p.Start, p.Step, p.Max = sr(p.Start), sr(p.Step), sr(p.Max)
		l.Pacer = p
	}
}

// pacer is the load's schedule of mean rates.
func (l Load) pacer() vegeta.Pacer {
	if l.Pacer != nil {
		return l.Pacer
	}
	return l.Rate
}

// arrivals is the pacer the load generator follows: the schedule itself, or
// random arrivals around it drawn from seed.
func (l Load) arrivals(seed int64) (vegeta.Pacer, error) {
	if !l.Poisson {
		return l.pacer(), nil
	}
	return loadgen.NewPoisson(l.pacer(), uint64(seed))
}

// Builtin decodes the catalogue compiled into the binary (the repo-root
// scenarios.yaml); its first scenario is the default.
func Builtin() (*Catalogue, error) {
	return Decode("scenarios.yaml (built in)", []byte(paysim.CatalogueYAML))
}

// LoadFile decodes a scenarios file from disk.
func LoadFile(path string) (*Catalogue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenarios file: %w", err)
	}
	return Decode(path, data)
}

// Find returns the named scenario of the catalogue.
func (c *Catalogue) Find(name string) (Scenario, error) { return Find(c.Scenarios, name) }

// Find returns the named scenario.
func Find(all []Scenario, name string) (Scenario, error) {
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q (have %v)", name, names)
}

// CanRunIn says why the scenario cannot run in mode, or nil: a fault, a
// failpoint or a kind its nemesis would schedule needs an ability the mode
// lacks (--mode changes a validated scenario's mode).
func (sc Scenario) CanRunIn(mode string) error {
	ab, err := stack.Abilities(mode)
	if err != nil {
		return err
	}
	for _, e := range sc.Faults {
		if m := ab.Missing(e.Fault.Needs()); len(m) > 0 {
			return fmt.Errorf("the %s fault on %s cannot run in %s mode: it needs %s", e.Fault.Name(), e.Fault.Target(), mode, needList(m))
		}
	}
	if len(sc.Failpoints) > 0 && !ab.Has(sim.Need{Ability: sim.AbilityFailpoint}) {
		return fmt.Errorf("failpoints cannot run in %s mode", mode)
	}
	if sc.Nemesis != nil {
		sched, _, err := sc.Nemesis.Schedule(uint64(sc.Seed), sc.Load.Duration, sc.Topology, payments.FailpointNames())
		if err != nil {
			return err
		}
		if bad := cannotRun(sched, ab); len(bad) > 0 {
			return fmt.Errorf("its nemesis schedules %s, which cannot run in %s mode", strings.Join(bad, ", "), mode)
		}
	}
	return nil
}
