package embedded

import (
	"context"
	"fmt"
	"sync"

	"paysim/sim"
	"paysim/sim/netproxy"
)

// backend is the process behind a node's proxy.
type backend interface {
	kill()
	start() error
}

// funcBackend adapts a pair of closures to backend.
type funcBackend struct {
	killFn  func()
	startFn func() error
}

func (f funcBackend) kill()        { f.killFn() }
func (f funcBackend) start() error { return f.startFn() }

// node is one embedded process with a toxiproxy proxy in front of it. Every
// fault goes through here, so the registry, the proxy and the owning
// cluster's reaction (failover, leader moves) stay in step.
type node struct {
	id  string
	svc sim.Service
	az  string
	reg *sim.Registry
	be  backend

	// front is the node's own address; endpoints (writer, primary, domain)
	// that currently target this node are impaired with it.
	front *netproxy.Proxy

	mu        sync.Mutex
	endpoints map[*endpoint]bool
	toxics    []sim.Toxic
	state     sim.State

	// onChange lets the owning cluster react to a state change (failover).
	onChange func(n *node)
}

var (
	_ sim.Node     = (*node)(nil)
	_ sim.Pauser   = (*node)(nil)
	_ sim.Isolator = (*node)(nil)
	_ sim.Shaper   = (*node)(nil)
)

func newNode(reg *sim.Registry, id string, svc sim.Service, az string, role sim.Role, be backend, front *netproxy.Proxy) *node {
	n := &node{id: id, svc: svc, az: az, reg: reg, be: be, front: front, endpoints: map[*endpoint]bool{}, state: sim.StateUp}
	reg.Add(sim.NodeStatus{ID: id, Service: svc, AZ: az, Role: role, State: sim.StateUp, Addr: front.Addr()})
	return n
}

// Status reports the node's live state.
func (n *node) Status() sim.NodeStatus {
	s, _ := n.reg.Get(n.id)
	return s
}

func (n *node) State() sim.State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state
}

// healthy reports whether the node is up and reachable.
func (n *node) healthy() bool { return n.State() == sim.StateUp }

func (n *node) setRole(r sim.Role) { n.reg.Update(n.id, func(s *sim.NodeStatus) { s.Role = r }) }

func (n *node) setDetail(d string) { n.reg.Update(n.id, func(s *sim.NodeStatus) { s.Detail = d }) }

func (n *node) setState(st sim.State) {
	n.mu.Lock()
	n.state = st
	n.mu.Unlock()
	n.reg.Update(n.id, func(s *sim.NodeStatus) { s.State = st })
	if n.onChange != nil {
		n.onChange(n)
	}
}

// Kill stops the process and closes its address.
func (n *node) Kill(context.Context) error {
	if n.State() == sim.StateDown {
		return nil
	}
	n.front.Disable()
	n.be.kill()
	n.setState(sim.StateDown)
	return nil
}

// Restart starts a killed node on its old address; on a running node it is
// a kill followed by a start.
func (n *node) Restart(ctx context.Context) error {
	if n.State() != sim.StateDown {
		if err := n.Kill(ctx); err != nil {
			return err
		}
	}
	if err := n.be.start(); err != nil {
		return fmt.Errorf("%s: restart: %w", n.id, err)
	}
	if err := n.front.Enable(); err != nil {
		return fmt.Errorf("%s: restart: %w", n.id, err)
	}
	n.setState(n.restState())
	return nil
}

// restState is the state a node returns to: isolated if its network is still cut.
func (n *node) restState() sim.State {
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

// Pause makes the node accept connections but answer nothing.
func (n *node) Pause(ctx context.Context) error {
	if err := n.AddToxic(ctx, sim.Toxic{Name: toxicPause, Type: "timeout", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}); err != nil {
		return err
	}
	if n.State() == sim.StateUp {
		n.setState(sim.StatePaused)
	}
	return nil
}

// Resume undoes Pause; connections that were stalled are closed.
func (n *node) Resume(ctx context.Context) error {
	if err := n.RemoveToxic(ctx, toxicPause); err != nil {
		return err
	}
	if n.State() == sim.StatePaused {
		n.setState(n.restState())
	}
	return nil
}

// Isolate cuts the node off the network in both directions; it keeps running.
func (n *node) Isolate(ctx context.Context) error {
	if err := n.AddToxic(ctx, sim.Toxic{Name: toxicIsolate, Type: "timeout", Attributes: map[string]any{"timeout": 0}}); err != nil {
		return err
	}
	if n.State() != sim.StateDown {
		n.setState(sim.StateIsolated)
	}
	return nil
}

// Reconnect undoes Isolate.
func (n *node) Reconnect(ctx context.Context) error {
	if err := n.RemoveToxic(ctx, toxicIsolate); err != nil {
		return err
	}
	if n.State() == sim.StateIsolated {
		n.setState(n.restState())
	}
	return nil
}

// AddToxic impairs the node's path and every endpoint now targeting it.
func (n *node) AddToxic(_ context.Context, t sim.Toxic) error {
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
func (n *node) RemoveToxic(ctx context.Context, name string) error {
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

func (n *node) activeToxics() []sim.Toxic {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sim.Toxic(nil), n.toxics...)
}

func (n *node) frontsLocked() []*netproxy.Proxy {
	out := []*netproxy.Proxy{n.front}
	for e := range n.endpoints {
		out = append(out, e.proxy)
	}
	return out
}

// endpoint is a stable cluster address (Aurora writer endpoint, ElastiCache
// primary endpoint, search domain endpoint) that follows its current target
// node; the target's impairments apply to it too.
type endpoint struct {
	name   string
	proxy  *netproxy.Proxy
	mu     sync.Mutex
	target *node
	// addr resolves the backend address of a target node.
	addr func(*node) string
}

func newEndpoint(px *netproxy.Server, name string, target *node, addr func(*node) string) (*endpoint, error) {
	p, err := px.New(name, addr(target))
	if err != nil {
		return nil, err
	}
	e := &endpoint{name: name, proxy: p, addr: addr}
	e.point(target)
	return e, nil
}

// Target is the node the endpoint forwards to.
func (e *endpoint) Target() *node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.target
}

// point re-targets the endpoint, moving impairments from the old node's to the new node's.
func (e *endpoint) point(to *node) {
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
