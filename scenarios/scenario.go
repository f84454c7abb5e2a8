// Package scenarios is the scenario model (topology overrides, load, faults,
// SLOs) and the runner that brings a stack up, drives load, checks the
// invariants and writes the report.
package scenarios

import (
	"fmt"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"paysim/chaos"
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
	// Faults are injected on the load's clock.
	Faults []chaos.Entry
	// Nemesis, if set, adds a seeded random schedule (seeded by Seed).
	Nemesis *chaos.Nemesis
	// Stop, if set, aborts the run (healing every fault) when the steady
	// state is lost.
	Stop *chaos.StopCondition
	// Failpoints are enabled while the load runs: failpoint name -> term
	// (pingcap/failpoint syntax, e.g. "10%return(true)", "sleep(2000)").
	Failpoints map[string]string
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
	base := func(name, desc string) Scenario {
		return Scenario{
			Name: name, Description: desc, Mode: "embedded", Seed: 1,
			Topology: sim.DefaultTopology(), Accounts: payments.DefaultAccounts(),
			Load: Load{
				Rate:     vegeta.Rate{Freq: 200, Per: time.Second},
				Duration: time.Minute,
				Mix:      loadgen.Weights{Payment: 70, Topup: 10, Transfer: 15, Refund: 5},
			},
			SLOs: SLOs{Availability: 0.99, OKRatio: 0.95, P99: 200 * time.Millisecond},
		}
	}
	redelivery := base("redelivery", "the outbox relay fails after publishing 20% of its batches, so events are delivered again")
	redelivery.Failpoints = map[string]string{payments.FPAfterPublish: "20%return(true)"}
	commitThenFail := base("commit-then-fail", "10% of requests fail after their commit; clients retry with the same key")
	commitThenFail.Failpoints = map[string]string{payments.FPAfterCommit: "10%return(true)"}
	commitThenFail.SLOs = SLOs{OKRatio: 0.95}
	commitFails := base("commit-fails", "5% of commits fail; the service retries")
	commitFails.Failpoints = map[string]string{payments.FPBeforeCommit: "5%return(true)"}
	balanceReads := base("balance-reads", "a read-heavy mix: balance checks between payments")
	balanceReads.Load.Mix = loadgen.Weights{Payment: 50, Topup: 10, Transfer: 10, Refund: 5, Balance: 25}
	shipperRetry := base("shipper-retry", "20% of bulk requests from the log shipper to Elasticsearch fail")
	shipperRetry.Failpoints = map[string]string{payments.FPShipBulk: "20%return(true)"}
	doubleRefund := base("double-refund", "merchants click refund twice on half of their full refunds")
	doubleRefund.Load.Mix = loadgen.Weights{Payment: 60, Topup: 10, Transfer: 10, Refund: 20}
	doubleRefund.Load.DoubleRefund = 0.5
	doubleRefund.SLOs.OKRatio = 0.8 // the second refunds are refused, by design
	topo := sim.DefaultTopology()
	azOutage := base("az-outage", "power loss of the first AZ at 20s for 30s at steady load")
	azOutage.Faults = []chaos.Entry{{Fault: chaos.AZPower{AZ: topo.AZs[0]}, At: 20 * time.Second, For: 30 * time.Second}}
	azOutage.SLOs = SLOs{Availability: 0.8, RTO: topo.MySQL.FailoverAfter + 5*time.Second}
	hot := base("hot-merchant", "a campaign at a few merchants: most payments hit the same accounts at once")
	hot.Load.MerchantSkew = 3
	return []Scenario{
		base("baseline", "steady payment mix, no faults"),
		azOutage, hot, redelivery, commitThenFail, commitFails, balanceReads, shipperRetry, doubleRefund,
	}
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
