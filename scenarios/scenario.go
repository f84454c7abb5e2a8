// Package scenarios is the scenario model (topology overrides, load, faults,
// SLOs) and the runner that brings a stack up, drives load, checks the
// invariants and writes the report.
package scenarios

import (
	"fmt"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"paysim/loadgen"
	"paysim/sim"
	"paysim/sim/payments"
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
}

// Load is the traffic a scenario drives.
type Load struct {
	Rate     vegeta.Rate
	Pacer    vegeta.Pacer // overrides Rate when set (ramp, step, spike)
	Duration time.Duration
	Mix      loadgen.Weights
}

// SLOs are the objectives a run is judged by; zero values are not checked.
type SLOs struct {
	Availability float64       // fraction of operations with a definite answer (not 5xx/timeout)
	OKRatio      float64       // fraction of operations answered 2xx
	P99          time.Duration // end-to-end p99 latency
	RTO          time.Duration
	RPO          int // acknowledged payments lost
}

// Pacer is the load's pacer.
func (l Load) pacer() vegeta.Pacer {
	if l.Pacer != nil {
		return l.Pacer
	}
	return l.Rate
}

// Builtin is the catalogue compiled into the binary until scenarios.yaml
// lands; the first entry is the default.
func Builtin() []Scenario {
	return []Scenario{{
		Name:        "baseline",
		Description: "steady payment mix, no faults",
		Mode:        "embedded",
		Seed:        1,
		Topology:    sim.DefaultTopology(),
		Accounts:    payments.DefaultAccounts(),
		Load: Load{
			Rate:     vegeta.Rate{Freq: 200, Per: time.Second},
			Duration: time.Minute,
			Mix:      loadgen.Weights{Payment: 70, Topup: 10, Transfer: 15, Refund: 5},
		},
		SLOs: SLOs{Availability: 0.99, OKRatio: 0.95, P99: 200 * time.Millisecond},
	}}
}

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
