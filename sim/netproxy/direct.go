package netproxy

import (
	"context"
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

// The direct path: a client in paysim's process dials a proxy's upstream
// itself and the proxy's faults act on that connection in the client's
// Read and Write. Written by hand because toxiproxy has no in-process dial:
// its proxies cost every app request three to five extra TCP hops, which at
// 400 payments/s on two cores was a fifth of the CPU (baseline 30 s at
// 400/s: 54 -> 43 CPU seconds, p99 149 -> 57 ms). It applies the two toxic
// types paysim injects, latency (+ jitter) and timeout; while a toxic of
// another type is on the proxy, direct dials go through its listener.

// toxic is one installed impairment on one stream, as the direct path
// applies it.
type toxic struct {
	id         uint64 // stable for per-connection toxicity draws
	typ        string
	downstream bool
	foreign    bool // a type only the proxy applies
	toxicity   float64
	latency    time.Duration
	jitter     time.Duration
	timeout    time.Duration // timeout toxic: close after this; 0 = never
}

// impairment is the toxics in force on each stream: [upstream, downstream].
type impairment struct {
	toxics  [2][]toxic
	foreign bool
}

// upstreamDialTimeout bounds a direct dial.
const upstreamDialTimeout = 5 * time.Second

func refused() error { return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED} }

// DialDirect opens a connection to the proxy's upstream without the TCP hop
// through its listener: disabling or re-pointing the proxy drops it, and
// its latency and timeout toxics act on it as on a proxied connection.
func (p *Proxy) DialDirect(ctx context.Context) (net.Conn, error) {
	if !p.Enabled() {
		return nil, refused()
	}
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, upstreamDialTimeout)
	defer cancel()
	if p.imp.Load().foreign {
		return d.DialContext(ctx, "tcp", p.Addr())
	}
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	server, err := p.upstream(ctx, "tcp", p.Upstream())
	if err != nil {
		return nil, err
	}
	c := &directConn{Conn: server, tracked: &tracked{p: p, conn: server, done: make(chan struct{})}}
	c.wrote.Store(true) // a server speaking first still pays the latency
	p.mu.Lock()
	if p.gen != gen { // disabled or re-pointed while dialing
		p.mu.Unlock()
		_ = server.Close()
		return nil, refused()
	}
	p.direct[c.tracked] = struct{}{}
	p.mu.Unlock()
	c.armTimeouts(p.imp.Load())
	return c, nil
}

// dropDirect closes every direct connection.
func (p *Proxy) dropDirect() {
	p.mu.Lock()
	p.gen++
	conns := slices.Collect(maps.Keys(p.direct))
	p.mu.Unlock()
	closeAll(conns)
}

func closeAll(conns []*tracked) {
	for _, c := range conns {
		c.close()
	}
}

// addDirectLocked records toxic t for the direct path and returns the
// connections to close: all of them when t is a type it cannot apply (they
// reconnect through the proxy).
func (p *Proxy) addDirectLocked(t sim.Toxic, streams []string, toxicity float64) []*tracked {
	var out []toxic
	for _, st := range streams {
		p.nextID++
		x := toxic{id: p.nextID, typ: t.Type, downstream: st == "downstream", toxicity: toxicity}
		var err error
		switch t.Type {
		case "latency":
			if x.latency, err = msAttr(t.Attributes, "latency"); err == nil {
				x.jitter, err = msAttr(t.Attributes, "jitter")
			}
		case "timeout":
			x.timeout, err = msAttr(t.Attributes, "timeout")
		default:
			x.foreign = true
		}
		if err != nil {
			x.foreign = true // toxiproxy took it; let the proxy apply it
		}
		out = append(out, x)
	}
	p.parsed[t.Name] = out
	imp := p.rebuildLocked()
	conns := slices.Collect(maps.Keys(p.direct))
	if imp.foreign {
		p.gen++
		return conns
	}
	if t.Type == "timeout" {
		for _, c := range conns {
			c.armTimeouts(imp)
		}
	}
	return nil
}

// removeDirectLocked forgets toxic name and returns the connections to
// close: removing a timeout toxic closes those it held, as toxiproxy does.
func (p *Proxy) removeDirectLocked(name string) []*tracked {
	removed := p.parsed[name]
	delete(p.parsed, name)
	p.rebuildLocked()
	var out []*tracked
	for c := range p.direct {
		for k := range removed {
			if removed[k].typ == "timeout" && c.affected(&removed[k]) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// rebuildLocked recomputes the toxics in force, in name order.
func (p *Proxy) rebuildLocked() *impairment {
	imp := &impairment{}
	for _, name := range slices.Sorted(maps.Keys(p.parsed)) {
		for _, t := range p.parsed[name] {
			if t.foreign {
				imp.foreign = true
				continue
			}
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

// tracked is one direct connection's fault state.
type tracked struct {
	p         *Proxy
	conn      net.Conn
	done      chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	picks map[uint64]bool // toxicity draws, per toxic id
	timer []*time.Timer   // timeout toxics' close timers
}

func (c *tracked) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.conn.Close()
		c.mu.Lock()
		for _, t := range c.timer {
			t.Stop()
		}
		c.mu.Unlock()
		c.p.mu.Lock()
		delete(c.p.direct, c)
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
