package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"paysim/sim"
)

// Nemesis is a seeded random fault schedule: every Every (a random span in
// [EveryMin, EveryMax]) it starts a fault of one of Kinds on a random
// target, lasting a random span in [ForMin, ForMax], with at most
// MaxConcurrent at once. Faults end by the run's end minus Quiet, so the
// run can show recovery. The same seed gives the same schedule.
type Nemesis struct {
	Kinds              []string
	EveryMin, EveryMax time.Duration
	ForMin, ForMax     time.Duration
	MaxConcurrent      int
	Quiet              time.Duration
}

// nemesisKinds are the kinds a nemesis can draw: each needs only a target.
var nemesisKinds = []string{"az-outage", "node-kill", "node-pause", "node-restart", "partition", "latency", "packet-loss", "db-failover", "redis-failover", "kafka-broker-loss", "kafka-leader-move", "app-crash"}

// NemesisKinds lists the kinds a nemesis can use.
func NemesisKinds() []string { return slices.Clone(nemesisKinds) }

// Validate checks the nemesis's own settings.
func (n Nemesis) Validate() error {
	if len(n.Kinds) == 0 {
		return specErr("kinds", "at least one kind")
	}
	for _, k := range n.Kinds {
		if !slices.Contains(nemesisKinds, k) {
			return specErr("kinds", "%q cannot be drawn by a nemesis (have %v)", k, nemesisKinds)
		}
	}
	if n.EveryMin < time.Second || n.EveryMax < n.EveryMin {
		return specErr("every", "want 1s <= min <= max, got %v-%v", n.EveryMin, n.EveryMax)
	}
	if n.ForMin < 0 || n.ForMax < n.ForMin {
		return specErr("for", "want 0 <= min <= max, got %v-%v", n.ForMin, n.ForMax)
	}
	if n.MaxConcurrent < 1 {
		return specErr("max_concurrent", "want >= 1, got %d", n.MaxConcurrent)
	}
	return nil
}

// Schedule draws the schedule for a run of length d on topo.
func (n Nemesis) Schedule(seed uint64, d time.Duration, topo sim.Topology, failpoints map[string]string) ([]Entry, []Spec, error) {
	if err := n.Validate(); err != nil {
		return nil, nil, err
	}
	if n.ForMax == 0 {
		n.ForMin, n.ForMax = 5*time.Second, 15*time.Second
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e656d65736973)) // "nemesis"
	span := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)).Truncate(100*time.Millisecond)
	}
	end := d - n.Quiet
	var entries []Entry
	var specs []Spec
	var running []time.Duration // end times of scheduled faults
	const maxDraws = 10_000     // bounds the walk whatever the run's length
	for at, draws := span(n.EveryMin, n.EveryMax), 0; at < end && draws < maxDraws; at, draws = at+span(n.EveryMin, n.EveryMax), draws+1 {
		running = slices.DeleteFunc(running, func(e time.Duration) bool { return e <= at })
		if len(running) >= n.MaxConcurrent {
			continue
		}
		dur := min(span(n.ForMin, n.ForMax), end-at)
		if dur <= 0 {
			break
		}
		s := n.draw(rng, topo)
		f, err := Build(s, topo, failpoints)
		if err != nil {
			return nil, nil, fmt.Errorf("nemesis: %s: %w", s.Kind, err)
		}
		entries = append(entries, Entry{Fault: f, At: at, For: dur})
		specs = append(specs, s)
		running = append(running, at+dur)
	}
	return entries, specs, nil
}

// draw picks a kind and a target for it.
func (n Nemesis) draw(rng *rand.Rand, topo sim.Topology) Spec {
	kind := n.Kinds[rng.IntN(len(n.Kinds))]
	az := topo.AZs[rng.IntN(len(topo.AZs))]
	pick := func(svc sim.Service) string {
		var ids []string
		for _, p := range topo.PlannedNodes() {
			if p.Service == svc {
				ids = append(ids, p.ID)
			}
		}
		return ids[rng.IntN(len(ids))]
	}
	services := []sim.Service{sim.ServiceApp, sim.ServiceMySQL, sim.ServiceRedis, sim.ServiceKafka, sim.ServiceSearch}
	s := Spec{Kind: kind}
	switch kind {
	case "az-outage":
		s.Target, s.Variant = az, []string{"power", "network"}[rng.IntN(2)]
	case "node-kill", "node-pause", "node-restart":
		s.Target = pick(services[rng.IntN(len(services))])
	case "partition":
		rest := others(topo.AZs, []string{az})
		s.Target = az + "|" + strings.Join(rest, ",")
	case "latency":
		s.Target = az
		s.Latency = time.Duration(50+rng.IntN(200)) * time.Millisecond
		s.Jitter = s.Latency / 4
	case "packet-loss":
		s.Target, s.Loss = az, float64(5+rng.IntN(20))/100
	case "db-failover", "redis-failover":
		s.Variant = []string{"planned", "unplanned"}[rng.IntN(2)]
	case "kafka-broker-loss":
		s.Target = pick(sim.ServiceKafka)
	case "app-crash":
		s.Target = pick(sim.ServiceApp)
	}
	return s
}
