// Package netproxy puts a TCP proxy in front of every node, so the chaos
// engine can cut, pause or impair a node's network path while the address
// clients hold stays the same.
//
// The proxy is written by hand rather than with toxiproxy: toxiproxy pipes
// every connection through three goroutines and two channels per direction
// even with no toxic installed, and on two cores that pipeline was a fifth
// of paysim's CPU at 400 payments/s (every app request crosses three to
// five proxies). Here a healthy connection costs one goroutine per direction
// doing read/write, and the two toxiproxy toxic types paysim uses (latency
// with jitter, and timeout, its blackhole) keep toxiproxy's semantics and
// attribute names.
package netproxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"paysim/sim"
)

// Server makes the proxies of one stack, shares their copy buffers and
// knows them by address, for DialContext.
type Server struct {
	bufs *sync.Pool // *[]byte of 32 KiB, as io.Copy uses

	mu      sync.RWMutex
	proxies map[string]*Proxy // by listen address
}

// NewServer returns a proxy server.
func NewServer() *Server {
	return &Server{bufs: &sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}, proxies: map[string]*Proxy{}}
}

// DialContext dials addr; when addr is one of this server's proxies, the
// connection goes straight to its upstream with DialDirect (same faults, no
// extra hop). It has net.Dialer's shape, for clients' dial hooks.
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
	name string
	bufs *sync.Pool

	mu       sync.Mutex
	listen   string // fixed once the first listener has its port
	upstream string
	ln       net.Listener
	conns    map[*tracked]struct{}
	toxics   map[string][]toxic // sim toxic name -> one per stream
	nextID   uint64

	// imp is what the proxy's connections do to their bytes now.
	imp atomic.Pointer[impairment]
}

// toxic is one installed impairment on one stream.
type toxic struct {
	id         uint64 // stable across rebuilds, for per-connection draws
	typ        string
	downstream bool
	toxicity   float64
	latency    time.Duration
	jitter     time.Duration
	timeout    time.Duration // timeout toxic: close after this; 0 = never
}

// impairment is the combined effect of the installed toxics on each stream.
type impairment struct {
	toxics [2][]toxic // [upstream, downstream]
}

// New starts a proxy on a fresh loopback port forwarding to upstream.
func (s *Server) New(name, upstream string) (*Proxy, error) {
	return s.NewAt(name, "127.0.0.1:0", upstream)
}

// NewAt starts a proxy listening on listen (a loopback host:port).
func (s *Server) NewAt(name, listen, upstream string) (*Proxy, error) {
	p := &Proxy{name: name, bufs: s.bufs, listen: listen, upstream: upstream, conns: map[*tracked]struct{}{},
		toxics: map[string][]toxic{}}
	p.imp.Store(&impairment{})
	if err := p.Enable(); err != nil {
		return nil, fmt.Errorf("proxy %s: start: %w", name, err)
	}
	s.mu.Lock()
	s.proxies[p.Addr()] = p
	s.mu.Unlock()
	return p, nil
}

// Addr is the address clients connect to; it never changes.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listen
}

// Upstream is where the proxy currently forwards.
func (p *Proxy) Upstream() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upstream
}

// Enabled reports whether the proxy is listening.
func (p *Proxy) Enabled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln != nil
}

// SetUpstream re-points the proxy; existing connections drop, as they do when
// a DNS-based endpoint flips and the old target goes away.
func (p *Proxy) SetUpstream(addr string) error {
	p.mu.Lock()
	if addr == p.upstream {
		p.mu.Unlock()
		return nil
	}
	p.upstream = addr
	conns := p.takeConnsLocked()
	p.mu.Unlock()
	closeAll(conns)
	return nil
}

// Disable closes the listener and drops every connection (connection refused).
func (p *Proxy) Disable() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	conns := p.takeConnsLocked()
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	closeAll(conns)
}

// Enable listens again on the same address.
func (p *Proxy) Enable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	ln, err := listenRetry(p.listen)
	if err != nil {
		return fmt.Errorf("proxy %s: enable: %w", p.name, err)
	}
	p.ln, p.listen = ln, ln.Addr().String()
	go p.serve(ln)
	return nil
}

// listenRetry listens on addr, retrying briefly while a just-closed
// listener's port is still being released.
func listenRetry(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

// Close stops the proxy for good.
func (p *Proxy) Close() { p.Disable() }

func (p *Proxy) takeConnsLocked() []*tracked {
	out := slices.Collect(maps.Keys(p.conns))
	clear(p.conns)
	return out
}

func closeAll(conns []*tracked) {
	for _, c := range conns {
		c.close()
	}
}

// serve accepts clients until ln closes.
func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			p.mu.Lock()
			live := p.ln == ln
			p.mu.Unlock()
			if !live || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like: back off
			continue
		}
		go p.handle(ln, c)
	}
}

// upstreamDialTimeout bounds the dial to the node behind the proxy.
const upstreamDialTimeout = 5 * time.Second

// handle connects one client to the upstream and pipes both ways.
func (p *Proxy) handle(ln net.Listener, client net.Conn) {
	p.mu.Lock()
	upstream, live := p.upstream, p.ln == ln
	p.mu.Unlock()
	if !live {
		_ = client.Close()
		return
	}
	server, err := net.DialTimeout("tcp", upstream, upstreamDialTimeout)
	if err != nil {
		_ = client.Close()
		return
	}
	c := &pipe{tracked: p.newTracked(client, server), client: client, server: server}
	if !p.register(c.tracked, func() bool { return p.ln == ln && p.upstream == upstream }) {
		return
	}
	go c.copy(server, client, 0)
	c.copy(client, server, 1)
}

// register adds c to the proxy's connections if still(), under the lock,
// holds; otherwise it closes c. It arms c's timeout toxics.
func (p *Proxy) register(c *tracked, still func() bool) bool {
	p.mu.Lock()
	if !still() { // disabled or re-pointed meanwhile
		p.mu.Unlock()
		c.close()
		return false
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	c.armTimeouts(p.imp.Load())
	return true
}

// DialDirect opens a connection to the proxy's upstream without the TCP hop
// through its listener, for clients in this process: the proxy's faults
// (disable, re-point, toxics) act on it exactly as on a proxied connection.
func (p *Proxy) DialDirect(ctx context.Context) (net.Conn, error) {
	p.mu.Lock()
	upstream, ln := p.upstream, p.ln
	p.mu.Unlock()
	if ln == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	ctx, cancel := context.WithTimeout(ctx, upstreamDialTimeout)
	defer cancel()
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", upstream)
	if err != nil {
		return nil, err
	}
	c := &directConn{Conn: server, tracked: p.newTracked(server)}
	c.wrote.Store(true) // a server speaking first still pays the latency
	if !p.register(c.tracked, func() bool { return p.ln == ln && p.upstream == upstream }) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return c, nil
}

// tracked is one connection's fault state, shared by proxied and direct
// connections.
type tracked struct {
	p         *Proxy
	closers   []net.Conn
	done      chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	picks map[uint64]bool // toxicity draws, per toxic id, for this connection
	timer []*time.Timer   // timeout toxics' close timers
}

func (p *Proxy) newTracked(conns ...net.Conn) *tracked {
	return &tracked{p: p, closers: conns, done: make(chan struct{})}
}

func (c *tracked) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		for _, x := range c.closers {
			_ = x.Close()
		}
		c.mu.Lock()
		for _, t := range c.timer {
			t.Stop()
		}
		c.mu.Unlock()
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
}

// affected draws, once per connection and toxic, whether t applies.
func (c *tracked) affected(t *toxic) bool {
	if t.toxicity >= 1 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.picks == nil {
		c.picks = map[uint64]bool{}
	}
	hit, ok := c.picks[t.id]
	if !ok {
		hit = rand.Float64() < t.toxicity
		c.picks[t.id] = hit
	}
	return hit
}

// armTimeouts starts the close timers of timeout toxics with a timeout.
func (c *tracked) armTimeouts(imp *impairment) {
	for dir := range imp.toxics {
		for k := range imp.toxics[dir] {
			t := &imp.toxics[dir][k]
			if t.typ != "timeout" || t.timeout <= 0 || !c.affected(t) {
				continue
			}
			c.mu.Lock()
			c.timer = append(c.timer, time.AfterFunc(t.timeout, c.close))
			c.mu.Unlock()
		}
	}
}

// effect is what the toxics now do to bytes on stream dir (0 up, 1 down):
// drop them (timeout) or hold them for lat (latency plus jitter).
func (c *tracked) effect(dir int) (drop bool, lat time.Duration) {
	imp := c.p.imp.Load()
	for k := range imp.toxics[dir] {
		t := &imp.toxics[dir][k]
		if !c.affected(t) {
			continue
		}
		switch t.typ {
		case "timeout":
			drop = true
		case "latency":
			lat += t.latency
			if t.jitter > 0 {
				lat += time.Duration(rand.Int64N(2*int64(t.jitter)+1)) - t.jitter
			}
		}
	}
	return drop, max(lat, 0)
}

// sleep waits d unless the connection closes first.
func (c *tracked) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// directConn is a connection opened by DialDirect.
type directConn struct {
	net.Conn
	*tracked
	wrote atomic.Bool // a request awaits its answer: the next read pays latency
}

// Write sends b upstream, or drops it while a timeout toxic holds the stream.
func (c *directConn) Write(b []byte) (int, error) {
	drop, lat := c.effect(0)
	if lat > 0 && !c.sleep(lat) {
		return 0, net.ErrClosed
	}
	if drop {
		return len(b), nil
	}
	c.wrote.Store(true)
	return c.Conn.Write(b)
}

// Read receives from upstream; latency is paid once per round trip, and a
// timeout toxic drops what arrives.
func (c *directConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if n == 0 {
			return n, err
		}
		drop, lat := c.effect(1)
		if drop {
			if err != nil {
				return 0, err
			}
			continue
		}
		if lat > 0 && c.wrote.Swap(false) && !c.sleep(lat) {
			return 0, net.ErrClosed
		}
		return n, err
	}
}

// Close closes the connection and forgets it.
func (c *directConn) Close() error {
	c.close()
	return nil
}

// pipe is one proxied connection.
type pipe struct {
	*tracked
	client, server net.Conn
}

// chunk is bytes read at a time, waiting for their latency.
type chunk struct {
	b   *[]byte
	n   int
	due time.Time
}

// copy moves bytes from src to dst for stream dir (0 up, 1 down) until
// either side closes. Latency, once a toxic asks for it, hands chunks to a
// writer goroutine so that bytes read together leave together.
func (c *pipe) copy(dst, src net.Conn, dir int) {
	var delayed chan chunk
	defer func() {
		if delayed != nil {
			close(delayed) // the writer delivers what is due, then closes
			return
		}
		c.close()
	}()
	bufs := c.p.bufs
	for {
		bp := bufs.Get().(*[]byte)
		n, err := src.Read(*bp)
		if n > 0 {
			drop, lat := c.effect(dir)
			switch {
			case drop: // the timeout toxic drops data on the ground
				bufs.Put(bp)
			case delayed == nil && lat <= 0:
				_, werr := dst.Write((*bp)[:n])
				bufs.Put(bp)
				if werr != nil {
					return
				}
			default:
				if delayed == nil {
					delayed = make(chan chunk, 64)
					go c.writeDelayed(dst, delayed)
				}
				select {
				case delayed <- chunk{b: bp, n: n, due: time.Now().Add(lat)}:
				case <-c.done:
					return
				}
			}
		} else {
			bufs.Put(bp)
		}
		if err != nil {
			return
		}
	}
}

// writeDelayed writes chunks once they are due, in order.
func (c *pipe) writeDelayed(dst net.Conn, in <-chan chunk) {
	defer c.close()
	bufs := c.p.bufs
	for ch := range in {
		if d := time.Until(ch.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-c.done:
				t.Stop()
				return
			}
		}
		_, err := dst.Write((*ch.b)[:ch.n])
		bufs.Put(ch.b)
		if err != nil {
			return
		}
	}
}

// AddToxic installs an impairment on new and existing connections; an empty
// Stream means both directions. Types: latency (attributes latency and
// jitter, in ms) and timeout (timeout in ms; 0 holds the connection open
// and drops its data until the toxic is removed, which closes it).
func (p *Proxy) AddToxic(t sim.Toxic) error {
	streams := []string{t.Stream}
	if t.Stream == "" {
		streams = []string{"upstream", "downstream"}
	}
	tox := t.Toxicity
	if tox <= 0 {
		tox = 1
	}
	var out []toxic
	for _, st := range streams {
		x := toxic{typ: t.Type, toxicity: tox}
		switch st {
		case "upstream":
		case "downstream":
			x.downstream = true
		default:
			return fmt.Errorf("toxic %q: stream %q (want upstream, downstream or empty)", t.Name, st)
		}
		var err error
		switch t.Type {
		case "latency":
			if x.latency, err = msAttr(t.Attributes, "latency"); err == nil {
				x.jitter, err = msAttr(t.Attributes, "jitter")
			}
		case "timeout":
			x.timeout, err = msAttr(t.Attributes, "timeout")
		default:
			err = fmt.Errorf("unknown toxic type %q (want latency or timeout)", t.Type)
		}
		if err != nil {
			return fmt.Errorf("toxic %q: %w", t.Name, err)
		}
		out = append(out, x)
	}
	p.mu.Lock()
	if _, ok := p.toxics[t.Name]; ok {
		p.mu.Unlock()
		return fmt.Errorf("toxic %q: already on %s", t.Name, p.name)
	}
	for k := range out {
		p.nextID++
		out[k].id = p.nextID
	}
	p.toxics[t.Name] = out
	imp := p.rebuildLocked()
	conns := slices.Collect(maps.Keys(p.conns))
	p.mu.Unlock()
	if t.Type == "timeout" {
		for _, c := range conns {
			c.armTimeouts(imp)
		}
	}
	return nil
}

// RemoveToxic heals one impairment; removing an absent one is not an error.
// Removing a timeout toxic closes the connections it held, as toxiproxy does.
func (p *Proxy) RemoveToxic(_ context.Context, name string) error {
	p.mu.Lock()
	removed, ok := p.toxics[name]
	if !ok {
		p.mu.Unlock()
		return nil
	}
	delete(p.toxics, name)
	p.rebuildLocked()
	var conns []*tracked
	if removed[0].typ == "timeout" {
		for c := range p.conns {
			if slices.ContainsFunc(removed, func(t toxic) bool { return c.affected(&t) }) {
				conns = append(conns, c)
			}
		}
	}
	p.mu.Unlock()
	closeAll(conns)
	return nil
}

// rebuildLocked recomputes the combined impairment, in name order.
func (p *Proxy) rebuildLocked() *impairment {
	imp := &impairment{}
	for _, name := range slices.Sorted(maps.Keys(p.toxics)) {
		for _, t := range p.toxics[name] {
			dir := 0
			if t.downstream {
				dir = 1
			}
			imp.toxics[dir] = append(imp.toxics[dir], t)
		}
	}
	p.imp.Store(imp)
	return imp
}

// Toxics lists the active impairments by name.
func (p *Proxy) Toxics() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.toxics))
}

// msAttr reads a millisecond attribute (absent = 0) as toxiproxy takes it.
func msAttr(attrs map[string]any, key string) (time.Duration, error) {
	v, ok := attrs[key]
	if !ok {
		return 0, nil
	}
	var ms float64
	switch x := v.(type) {
	case int:
		ms = float64(x)
	case int64:
		ms = float64(x)
	case float64:
		ms = x
	case time.Duration:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("attribute %s: %q is not a number of milliseconds", key, x)
		}
		ms = f
	default:
		return 0, fmt.Errorf("attribute %s: %T is not a number of milliseconds", key, v)
	}
	if ms < 0 || math.IsNaN(ms) || ms > float64(math.MaxInt64/int64(time.Millisecond)) {
		return 0, fmt.Errorf("attribute %s: %v ms out of range", key, v)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}
