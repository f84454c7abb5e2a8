package sim

import "slices"

// Ability is a way a stack, or the nodes of one of its services, can be
// broken beyond what every Node can do (Kill and Restart). Faults state the
// abilities they need (chaos.Fault.Needs); each mode's backend declares the
// ones it has, so that a scenario is judged against a mode before it runs.
type Ability string

// The abilities faults need.
const (
	AbilityPause      Ability = "pause"       // the service's nodes are Pausers
	AbilityIsolate    Ability = "isolate"     // the service's nodes are Isolators
	AbilityShape      Ability = "shape"       // the service's nodes are Shapers (toxics on their path)
	AbilitySwitchover Ability = "switchover"  // the stack switches the service's primary over on demand
	AbilityLeaderMove Ability = "leader-move" // the stack re-elects Kafka partition leaders
	AbilityNetwork    Ability = "network"     // the stack impairs the links between AZs (a Network)
	AbilityFailpoint  Ability = "failpoint"   // the app instances take failpoint terms
	AbilityRegionLoss Ability = "region-loss" // the stack promotes a DR copy when the region is lost
	AbilityLag        Ability = "lag"         // the stack makes one of the service's replicas apply commits late
)

// Need is an ability a fault needs: of the nodes of Service, or of the
// stack itself when Service is empty.
type Need struct {
	Service Service
	Ability Ability
}

// String is "SERVICE nodes ABILITY" or "the stack ABILITY".
func (n Need) String() string {
	if n.Service == "" {
		return "the stack: " + string(n.Ability)
	}
	return string(n.Service) + " nodes: " + string(n.Ability)
}

// Abilities is what a mode offers: per service, its nodes' abilities, and
// under the empty service, the stack's own.
type Abilities map[Service][]Ability

// Has says whether the need is met.
func (a Abilities) Has(n Need) bool { return slices.Contains(a[n.Service], n.Ability) }

// Missing lists the needs that are not met.
func (a Abilities) Missing(needs []Need) []Need {
	var out []Need
	for _, n := range needs {
		if !a.Has(n) {
			out = append(out, n)
		}
	}
	return out
}
