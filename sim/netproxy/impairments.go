package netproxy

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"paysim/sim"
)

// Impairments is a node's toxics: a sim.Shaper to embed in a node type.
// They act on the node's own front proxy, when it has one, and on every
// Endpoint that points at the node now, moving with the Endpoints. The zero
// value is ready to use (a node without a front).
type Impairments struct {
	mu      sync.Mutex
	front   *Proxy
	toxics  []sim.Toxic
	proxies map[*Proxy]bool // the Endpoints' proxies pointing here
}

// NewImpairments returns the impairments of a node behind front (nil: none).
func NewImpairments(front *Proxy) *Impairments { return &Impairments{front: front} }

// Target is what an Endpoint can point at: a node that embeds Impairments,
// whose toxics then follow the Endpoint there.
type Target interface {
	follow(p *Proxy)
	unfollow(p *Proxy)
}

func (im *Impairments) proxiesLocked() []*Proxy {
	var out []*Proxy
	if im.front != nil {
		out = append(out, im.front)
	}
	for p := range im.proxies {
		out = append(out, p)
	}
	return out
}

// AddToxic impairs the node's path with t.
func (im *Impairments) AddToxic(_ context.Context, t sim.Toxic) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, p := range im.proxiesLocked() {
		if err := p.AddToxic(t); err != nil {
			return err
		}
	}
	im.toxics = append(im.toxics, t)
	return nil
}

// RemoveToxic heals one impairment by name.
func (im *Impairments) RemoveToxic(ctx context.Context, name string) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, p := range im.proxiesLocked() {
		if err := p.RemoveToxic(ctx, name); err != nil {
			return err
		}
	}
	im.toxics = slices.DeleteFunc(im.toxics, func(t sim.Toxic) bool { return t.Name == name })
	return nil
}

// Toxics is the toxics in force, oldest first.
func (im *Impairments) Toxics() []sim.Toxic {
	im.mu.Lock()
	defer im.mu.Unlock()
	return slices.Clone(im.toxics)
}

// follow starts applying the toxics to p.
func (im *Impairments) follow(p *Proxy) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.proxies == nil {
		im.proxies = map[*Proxy]bool{}
	}
	im.proxies[p] = true
	for _, t := range im.toxics {
		_ = p.AddToxic(t)
	}
}

// unfollow takes the toxics off p.
func (im *Impairments) unfollow(p *Proxy) {
	im.mu.Lock()
	defer im.mu.Unlock()
	delete(im.proxies, p)
	for _, t := range im.toxics {
		_ = p.RemoveToxic(context.Background(), t.Name)
	}
}

// Endpoint is a stable cluster address (Aurora writer Endpoint, ElastiCache
// primary Endpoint, search domain Endpoint) that follows its current target
// node; the target's impairments apply to it too.
type Endpoint[T Target] struct {
	proxy  *Proxy
	mu     sync.Mutex
	target T
	// addr resolves the backend address of a target node.
	addr func(T) string
}

// NewEndpoint starts a cluster endpoint pointing at target; addr gives a
// node's backend address.
func NewEndpoint[T Target](px *Server, name string, target T, addr func(T) string) (*Endpoint[T], error) {
	p, err := px.New(name, addr(target))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", name, err)
	}
	e := &Endpoint[T]{proxy: p, addr: addr}
	e.Point(target)
	return e, nil
}

// Addr is the endpoint's stable address.
func (e *Endpoint[T]) Addr() string { return e.proxy.Addr() }

// Close stops the endpoint.
func (e *Endpoint[T]) Close() { e.proxy.Close() }

// Target is the node the Endpoint forwards to.
func (e *Endpoint[T]) Target() T {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.target
}

// Point re-targets the Endpoint, its connections dropping, and moves the
// impairments from the old node's to the new node's.
func (e *Endpoint[T]) Point(to T) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var none T
	if any(e.target) != any(none) {
		e.target.unfollow(e.proxy)
	}
	_ = e.proxy.SetUpstream(e.addr(to))
	to.follow(e.proxy)
	e.target = to
}
