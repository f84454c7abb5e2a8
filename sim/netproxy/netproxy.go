// Package netproxy puts a toxiproxy proxy in front of every node, so the
// chaos engine can cut, pause or impair a node's network path while the
// address clients hold stays the same. Clients inside paysim's process skip
// the proxy's TCP hop with Server.DialContext and get the same faults
// (direct.go).
package netproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"paysim/internal/loopback"
	"paysim/sim"
)

// Server owns the toxiproxy proxies of one stack and knows them by address,
// for DialContext.
type Server struct {
	api *toxiproxy.ApiServer

	mu      sync.RWMutex
	proxies map[string]*Proxy // by listen address
	// upstream dials the proxies' upstreams on the direct path.
	upstream Dialer
}

// Dialer opens a connection; net.Dialer's DialContext has its shape.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// NewServer returns a proxy server with logging off.
func NewServer() *Server { return NewServerDialing(nil) }

// NewServerDialing is NewServer whose direct connections (DialDirect) reach
// their upstreams through upstream (nil: a net.Dialer), e.g. straight to a
// container's address where the upstream is the port Docker publishes.
func NewServerDialing(upstream Dialer) *Server {
	if upstream == nil {
		upstream = (&net.Dialer{}).DialContext
	}
	return &Server{api: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()), proxies: map[string]*Proxy{}, upstream: upstream}
}

// DialContext dials addr; when addr is one of this server's proxies, the
// connection goes straight to its upstream with DialDirect (same faults, no
// extra hop). It has net.Dialer's shape, for clients' dial hooks.
// Has says whether addr is one of the Server's proxies.
func (s *Server) Has(addr string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.proxies[addr] != nil
}

func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.RLock()
	p := s.proxies[addr]
	s.mu.RUnlock()
	if p != nil && (network == "tcp" || network == "tcp4") {
		return p.DialDirect(ctx)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Proxy is one stable listen address forwarding to a changeable upstream.
type Proxy struct {
	mu     sync.Mutex
	p      *toxiproxy.Proxy
	toxics map[string][]string // sim toxic name -> toxiproxy toxic names

	// The direct path (direct.go): connections opened by DialDirect and
	// the toxics as it applies them.
	direct map[*tracked]struct{}
	gen    uint64             // bumped when every direct connection drops
	parsed map[string][]toxic // sim toxic name -> one per stream
	nextID uint64
	imp    atomic.Pointer[impairment]
	// upstream dials the upstream on the direct path.
	upstream Dialer
}

// New starts a proxy on a fresh loopback port forwarding to upstream.
func (s *Server) New(name, upstream string) (*Proxy, error) {
	return s.NewAt(name, "127.0.0.1:0", upstream)
}

// NewAt starts a proxy listening on listen (a loopback host:port).
func (s *Server) NewAt(name, listen, upstream string) (*Proxy, error) {
	p, err := startProxy(s.api, name, listen, upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: start: %w", name, err)
	}
	px := &Proxy{p: p, toxics: map[string][]string{}, direct: map[*tracked]struct{}{}, parsed: map[string][]toxic{}, upstream: s.upstream}
	px.imp.Store(&impairment{})
	s.mu.Lock()
	s.proxies[px.Addr()] = px
	s.mu.Unlock()
	return px, nil
}

// startProxy starts a toxiproxy proxy. Any port on loopback becomes one
// below the ephemeral range (see package loopback), so the proxy can listen
// again after Disable; a port taken between the pick and the bind is picked
// again.
func startProxy(api *toxiproxy.ApiServer, name, listen, upstream string) (*toxiproxy.Proxy, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port != "0" {
		p := toxiproxy.NewProxy(api, name, listen, upstream)
		return p, p.Start()
	}
	for try := 0; ; try++ {
		addr, err := loopback.FreeAddr(host)
		if err != nil {
			return nil, err
		}
		p := toxiproxy.NewProxy(api, name, addr, upstream)
		if err := p.Start(); err == nil || try == 4 || !errors.Is(err, syscall.EADDRINUSE) {
			return p, err
		}
	}
}

// Addr is the address clients connect to; it never changes.
func (p *Proxy) Addr() string {
	p.p.Lock()
	defer p.p.Unlock()
	return p.p.Listen
}

// Upstream is where the proxy currently forwards.
func (p *Proxy) Upstream() string {
	p.p.Lock()
	defer p.p.Unlock()
	return p.p.Upstream
}

// Enabled reports whether the proxy is listening.
func (p *Proxy) Enabled() bool {
	p.p.Lock()
	defer p.p.Unlock()
	return p.p.Enabled
}

// SetUpstream re-points the proxy; existing connections drop, as they do when
// a DNS-based endpoint flips and the old target goes away.
func (p *Proxy) SetUpstream(addr string) error {
	p.p.Lock()
	in := &toxiproxy.Proxy{Name: p.p.Name, Listen: p.p.Listen, Upstream: addr, Enabled: p.p.Enabled}
	p.p.Unlock()
	if in.Upstream == p.Upstream() {
		return nil
	}
	if err := p.p.Update(in); err != nil {
		return fmt.Errorf("proxy %s: set upstream: %w", in.Name, err)
	}
	p.dropDirect()
	return nil
}

// Disable closes the listener and drops every connection (connection refused).
func (p *Proxy) Disable() {
	p.p.Stop()
	p.dropDirect()
}

// Enable listens again on the same address.
func (p *Proxy) Enable() error {
	if p.Enabled() {
		return nil
	}
	if err := p.p.Start(); err != nil {
		return fmt.Errorf("proxy %s: enable: %w", p.p.Name, err)
	}
	return nil
}

// Close stops the proxy for good.
func (p *Proxy) Close() { p.Disable() }

// AddToxic installs an impairment; an empty Stream means both directions.
func (p *Proxy) AddToxic(t sim.Toxic) error {
	var drop []*tracked
	defer func() { closeAll(drop) }() // after the unlock: closing takes p.mu
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.toxics[t.Name]; ok {
		return fmt.Errorf("toxic %q: already on %s", t.Name, p.p.Name)
	}
	streams := []string{t.Stream}
	if t.Stream == "" {
		streams = []string{"upstream", "downstream"}
	}
	tox := t.Toxicity
	if tox == 0 {
		tox = 1
	}
	var added []string
	for _, st := range streams {
		name := t.Name + "_" + st
		body, err := json.Marshal(map[string]any{
			"name": name, "type": t.Type, "stream": st, "toxicity": tox, "attributes": t.Attributes,
		})
		if err != nil {
			return fmt.Errorf("toxic %q: encode: %w", t.Name, err)
		}
		if _, err := p.p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			for _, a := range added {
				_ = p.p.Toxics.RemoveToxic(context.Background(), a)
			}
			return fmt.Errorf("toxic %q: add: %w", t.Name, err)
		}
		added = append(added, name)
	}
	p.toxics[t.Name] = added
	drop = p.addDirectLocked(t, streams, tox)
	return nil
}

// RemoveToxic heals one impairment; removing an absent one is not an error.
func (p *Proxy) RemoveToxic(ctx context.Context, name string) error {
	var drop []*tracked
	defer func() { closeAll(drop) }() // after the unlock: closing takes p.mu
	p.mu.Lock()
	defer p.mu.Unlock()
	names, ok := p.toxics[name]
	if !ok {
		return nil
	}
	delete(p.toxics, name)
	for _, n := range names {
		if err := p.p.Toxics.RemoveToxic(ctx, n); err != nil {
			return fmt.Errorf("toxic %q: remove: %w", name, err)
		}
	}
	drop = p.removeDirectLocked(name)
	return nil
}

// Toxics lists the active impairments by name.
func (p *Proxy) Toxics() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.toxics))
}
