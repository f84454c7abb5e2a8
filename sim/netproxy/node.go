package netproxy

import (
	"context"
	"fmt"
	"sync"

	"paysim/sim"
)

// Backend is the process behind a Node's proxy.
type Backend interface {
	Kill()
	Start() error
}

// FuncBackend adapts a pair of closures to Backend.
type FuncBackend struct {
	KillFn  func()
	StartFn func() error
}

// Kill calls KillFn.
func (f FuncBackend) Kill() { f.KillFn() }

// Start calls StartFn.
func (f FuncBackend) Start() error { return f.StartFn() }

// Node is one process with a toxiproxy proxy in front of it. Every
// fault goes through here, so the registry, the proxy and the owning
// cluster's reaction (failover, leader moves) stay in step.
type Node struct {
	id  string
	svc sim.Service
	az  string
	reg *sim.Registry
	be  Backend

	// front is the Node's own address; endpoints (writer, primary, domain)
	// that currently target this Node are impaired with it.
	front *Proxy

	*Impairments // the front's toxics and its Endpoints'

	mu       sync.Mutex
	state    sim.State
	detached bool

	// onChange lets the owning cluster react to a state change (failover).
	OnChange func(n *Node)
}

var (
	_ sim.Node     = (*Node)(nil)
	_ sim.Pauser   = (*Node)(nil)
	_ sim.Isolator = (*Node)(nil)
	_ sim.Shaper   = (*Node)(nil)
	_ sim.Detacher = (*Node)(nil)
)

// NewNode registers a node (state up) behind its front proxy.
func NewNode(reg *sim.Registry, id string, svc sim.Service, az string, role sim.Role, be Backend, front *Proxy) *Node {
	n := &Node{id: id, svc: svc, az: az, reg: reg, be: be, front: front, Impairments: NewImpairments(front), state: sim.StateUp}
	reg.Add(sim.NodeStatus{ID: id, Service: svc, AZ: az, Role: role, State: sim.StateUp, Addr: front.Addr()})
	return n
}

// Status reports the Node's live state.
func (n *Node) Status() sim.NodeStatus {
	s, _ := n.reg.Get(n.id)
	return s
}

// State is the node's fault state.
func (n *Node) State() sim.State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state
}

// Healthy reports whether the node is up and reachable.
func (n *Node) Healthy() bool { return n.State() == sim.StateUp }

// SetRole records a role change (promotion, demotion).
func (n *Node) SetRole(r sim.Role) { n.reg.Update(n.id, func(s *sim.NodeStatus) { s.Role = r }) }

// SetDetail records a short note for the TUI (leadership, lag).
func (n *Node) SetDetail(d string) { n.reg.Update(n.id, func(s *sim.NodeStatus) { s.Detail = d }) }

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// AZ is the node's availability zone.
func (n *Node) AZ() string { return n.az }

// Front is the node's own proxy.
func (n *Node) Front() *Proxy { return n.front }

func (n *Node) setState(st sim.State) {
	n.mu.Lock()
	n.state = st
	n.mu.Unlock()
	n.reg.Update(n.id, func(s *sim.NodeStatus) { s.State = st })
	if n.OnChange != nil {
		n.OnChange(n)
	}
}

// Kill stops the process and closes its address.
func (n *Node) Kill(context.Context) error {
	if n.State() == sim.StateDown {
		return nil
	}
	n.front.Disable()
	n.be.Kill()
	n.setState(sim.StateDown)
	return nil
}

// Restart starts a killed Node on its old address; on a running Node it is
// a kill followed by a start.
func (n *Node) Restart(ctx context.Context) error {
	if n.State() != sim.StateDown {
		if err := n.Kill(ctx); err != nil {
			return err
		}
	}
	if err := n.be.Start(); err != nil {
		return fmt.Errorf("%s: restart: %w", n.id, err)
	}
	if err := n.front.Enable(); err != nil {
		return fmt.Errorf("%s: restart: %w", n.id, err)
	}
	n.setState(n.restState())
	return nil
}

// restState is the state a Node returns to: isolated if its network is still cut.
func (n *Node) restState() sim.State {
	n.mu.Lock()
	detached := n.detached
	n.mu.Unlock()
	if detached {
		return sim.StateIsolated
	}
	for _, t := range n.Toxics() {
		switch t.Name {
		case toxicIsolate:
			return sim.StateIsolated
		case toxicPause:
			return sim.StatePaused
		}
	}
	return sim.StateUp
}

const (
	toxicPause   = "paysim-pause"
	toxicIsolate = "paysim-isolate"
)

// Pause makes the Node accept connections but answer nothing.
func (n *Node) Pause(ctx context.Context) error {
	if err := n.AddToxic(ctx, sim.Toxic{Name: toxicPause, Type: "timeout", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}); err != nil {
		return err
	}
	if n.State() == sim.StateUp {
		n.setState(sim.StatePaused)
	}
	return nil
}

// Resume undoes Pause; connections that were stalled are closed.
func (n *Node) Resume(ctx context.Context) error {
	if err := n.RemoveToxic(ctx, toxicPause); err != nil {
		return err
	}
	if n.State() == sim.StatePaused {
		n.setState(n.restState())
	}
	return nil
}

// Isolate cuts the Node off the network in both directions; it keeps running.
func (n *Node) Isolate(ctx context.Context) error {
	if err := n.AddToxic(ctx, sim.Toxic{Name: toxicIsolate, Type: "timeout", Attributes: map[string]any{"timeout": 0}}); err != nil {
		return err
	}
	if n.State() != sim.StateDown {
		n.setState(sim.StateIsolated)
	}
	return nil
}

// Reconnect undoes Isolate.
func (n *Node) Reconnect(ctx context.Context) error {
	if err := n.RemoveToxic(ctx, toxicIsolate); err != nil {
		return err
	}
	if n.State() == sim.StateIsolated {
		n.setState(n.restState())
	}
	return nil
}

// Detach cuts the Node off from its cluster's control plane: it shows as
// isolated (so its cluster fails it over) but its address stays open to the
// clients the region's Links still let through.
func (n *Node) Detach(context.Context) error {
	n.mu.Lock()
	n.detached = true
	n.mu.Unlock()
	if n.State() != sim.StateDown {
		n.setState(sim.StateIsolated)
	}
	return nil
}

// Attach undoes Detach.
func (n *Node) Attach(context.Context) error {
	n.mu.Lock()
	n.detached = false
	n.mu.Unlock()
	if n.State() == sim.StateIsolated {
		n.setState(n.restState())
	}
	return nil
}
