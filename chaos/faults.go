package chaos

import (
	"context"
	"fmt"

	"paysim/sim"
)

// nodesWhere returns the cluster's nodes matching pick.
func nodesWhere(c Cluster, pick func(sim.NodeStatus) bool) []sim.Node {
	var out []sim.Node
	for _, n := range c.Nodes() {
		if pick(n.Status()) {
			out = append(out, n)
		}
	}
	return out
}

// AZPower is the AZ power-loss variant of az-outage: every node and app
// instance in the AZ dies and stays dead until the fault heals; primaries
// there fail over through their clusters' control planes.
type AZPower struct {
	needsNothing
	AZ string
}

// Name is the fault kind.
func (f AZPower) Name() string { return "az-outage" }

// Target is the AZ.
func (f AZPower) Target() string { return f.AZ }

// Inject kills every node in the AZ.
func (f AZPower) Inject(ctx context.Context, c Cluster) error {
	nodes := nodesWhere(c, func(s sim.NodeStatus) bool { return s.AZ == f.AZ })
	if len(nodes) == 0 {
		return fmt.Errorf("az-outage: no node in AZ %q", f.AZ)
	}
	return killAll(ctx, nodes)
}

// Heal restarts every node of the AZ that is down.
func (f AZPower) Heal(ctx context.Context, c Cluster) error {
	return reviveAll(ctx, nodesWhere(c, func(s sim.NodeStatus) bool { return s.AZ == f.AZ }))
}

// NodeKill kills one node until the fault heals.
type NodeKill struct {
	needsNothing
	Node string
}

// Name is the fault kind.
func (f NodeKill) Name() string { return "node-kill" }

// Target is the node id.
func (f NodeKill) Target() string { return f.Node }

// Inject kills the node.
func (f NodeKill) Inject(ctx context.Context, c Cluster) error {
	n, err := findNode(c, f.Node)
	if err != nil {
		return err
	}
	return n.Kill(ctx)
}

// Heal restarts the node if it is down.
func (f NodeKill) Heal(ctx context.Context, c Cluster) error {
	n, err := findNode(c, f.Node)
	if err != nil {
		return err
	}
	if n.Status().State != sim.StateDown {
		return nil
	}
	return n.Restart(ctx)
}

// NodePause makes a node accept connections and answer nothing.
type NodePause struct {
	Node    string
	Service sim.Service // the node's
}

// Needs is a node that can pause.
func (f NodePause) Needs() []sim.Need {
	return []sim.Need{{Service: f.Service, Ability: sim.AbilityPause}}
}

// Name is the fault kind.
func (f NodePause) Name() string { return "node-pause" }

// Target is the node id.
func (f NodePause) Target() string { return f.Node }

// Inject pauses the node.
func (f NodePause) Inject(ctx context.Context, c Cluster) error {
	p, err := pauser(c, f.Node)
	if err != nil {
		return err
	}
	return p.Pause(ctx)
}

// Heal resumes the node.
func (f NodePause) Heal(ctx context.Context, c Cluster) error {
	p, err := pauser(c, f.Node)
	if err != nil {
		return err
	}
	return p.Resume(ctx)
}

// Latency delays every byte from a node by Delay (toxiproxy latency toxic).
type Latency struct {
	Node    string
	Service sim.Service // the node's
	Delay   int         // milliseconds, as toxiproxy takes it
	Jitter  int         // milliseconds
}

// Name is the fault kind.
func (f Latency) Name() string { return "latency" }

// Needs is a node with a path that takes toxics.
func (f Latency) Needs() []sim.Need {
	return []sim.Need{{Service: f.Service, Ability: sim.AbilityShape}}
}

// Target is the node id.
func (f Latency) Target() string { return f.Node }

const latencyToxic = "chaos-latency"

// Inject adds the latency toxic.
func (f Latency) Inject(ctx context.Context, c Cluster) error {
	s, err := shaper(c, f.Node)
	if err != nil {
		return err
	}
	return s.AddToxic(ctx, sim.Toxic{Name: latencyToxic, Type: "latency", Stream: "downstream",
		Attributes: map[string]any{"latency": f.Delay, "jitter": f.Jitter}})
}

// Heal removes the toxic.
func (f Latency) Heal(ctx context.Context, c Cluster) error {
	s, err := shaper(c, f.Node)
	if err != nil {
		return err
	}
	return s.RemoveToxic(ctx, latencyToxic)
}

func findNode(c Cluster, id string) (sim.Node, error) {
	for _, n := range c.Nodes() {
		if n.Status().ID == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no node %q", id)
}

func pauser(c Cluster, id string) (sim.Pauser, error) {
	n, err := findNode(c, id)
	if err != nil {
		return nil, err
	}
	p, ok := n.(sim.Pauser)
	if !ok {
		return nil, fmt.Errorf("node %q cannot be paused", id)
	}
	return p, nil
}

func shaper(c Cluster, id string) (sim.Shaper, error) {
	n, err := findNode(c, id)
	if err != nil {
		return nil, err
	}
	s, ok := n.(sim.Shaper)
	if !ok {
		return nil, fmt.Errorf("node %q has no network path to impair", id)
	}
	return s, nil
}
