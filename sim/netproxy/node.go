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

	mu        sync.Mutex
	endpoints map[*Endpoint]bool
	toxics    []sim.Toxic
	state     sim.State
	detached  bool

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
	n := &Node{id: id, svc: svc, az: az, reg: reg, be: be, front: front, endpoints: map[*Endpoint]bool{}, state: sim.StateUp}
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
	for _, t := range n.activeToxics() {
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

// AddToxic impairs the Node's path and every Endpoint now targeting it.
func (n *Node) AddToxic(_ context.Context, t sim.Toxic) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.frontsLocked() {
		if err := p.AddToxic(t); err != nil {
			return fmt.Errorf("%s: %w", n.id, err)
		}
	}
	n.toxics = append(n.toxics, t)
	return nil
}

// RemoveToxic heals one impairment by name.
func (n *Node) RemoveToxic(ctx context.Context, name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.frontsLocked() {
		if err := p.RemoveToxic(ctx, name); err != nil {
			return fmt.Errorf("%s: %w", n.id, err)
		}
	}
	kept := n.toxics[:0]
	for _, t := range n.toxics {
		if t.Name != name {
			kept = append(kept, t)
		}
	}
	n.toxics = kept
	return nil
}

func (n *Node) activeToxics() []sim.Toxic {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sim.Toxic(nil), n.toxics...)
}

func (n *Node) frontsLocked() []*Proxy {
	out := []*Proxy{n.front}
	for e := range n.endpoints {
		out = append(out, e.proxy)
	}
	return out
}

// Endpoint is a stable cluster address (Aurora writer Endpoint, ElastiCache
// primary Endpoint, search domain Endpoint) that follows its current target
// Node; the target's impairments apply to it too.
type Endpoint struct {
	name   string
	proxy  *Proxy
	mu     sync.Mutex
	target *Node
	// addr resolves the backend address of a target Node.
	addr func(*Node) string
}

// NewEndpoint starts a cluster endpoint pointing at target; addr gives a
// node's backend address.
func NewEndpoint(px *Server, name string, target *Node, addr func(*Node) string) (*Endpoint, error) {
	p, err := px.New(name, addr(target))
	if err != nil {
		return nil, err
	}
	e := &Endpoint{name: name, proxy: p, addr: addr}
	e.Point(target)
	return e, nil
}

// Addr is the endpoint's stable address.
func (e *Endpoint) Addr() string { return e.proxy.Addr() }

// Close stops the endpoint.
func (e *Endpoint) Close() { e.proxy.Close() }

// Target is the Node the Endpoint forwards to.
func (e *Endpoint) Target() *Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.target
}

// Point re-targets the Endpoint, moving impairments from the old Node's to the new Node's.
func (e *Endpoint) Point(to *Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.target; old != nil {
		old.mu.Lock()
		delete(old.endpoints, e)
		for _, t := range old.toxics {
			_ = e.proxy.RemoveToxic(context.Background(), t.Name)
		}
		old.mu.Unlock()
	}
	_ = e.proxy.SetUpstream(e.addr(to))
	to.mu.Lock()
	to.endpoints[e] = true
	for _, t := range to.toxics {
		_ = e.proxy.AddToxic(t)
	}
	to.mu.Unlock()
	e.target = to
}
