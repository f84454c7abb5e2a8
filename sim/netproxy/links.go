package netproxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"paysim/sim"
)

// Links is the region's network between AZs as clients in one AZ see it:
// impairments on the path from an AZ to the nodes of another (or the same)
// AZ. Clients dial through Dialer(az); an impairment applies to new and
// existing connections alike, and costs nothing while none is active.
//
// Written by hand rather than with a toxiproxy proxy per (AZ, node) pair:
// that mesh would add a copy hop to every connection of every app instance,
// while a dialer-level wrapper leaves the data path untouched when the links
// are healthy and lets a fault reach connections opened before it.
type Links struct {
	resolve func(addr string) (az, node string)
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)

	mu      sync.RWMutex
	faults  map[string]linkFault // by fault id
	changed chan struct{}        // closed and replaced on every change
	active  atomic.Bool          // any fault at all
}

type linkFault struct {
	from, to map[string]bool
	imp      sim.LinkImpairment
}

// NewLinks returns a healthy network; resolve maps a dialed address to the
// AZ and id of the node behind it at dial time (endpoints: their current
// target). dial opens the connections (nil: a net.Dialer); a Server's
// DialContext skips the hop through its proxies.
func NewLinks(resolve func(addr string) (az, node string), dial func(ctx context.Context, network, addr string) (net.Conn, error)) *Links {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &Links{resolve: resolve, dial: dial, faults: map[string]linkFault{}, changed: make(chan struct{})}
}

// Impair adds (or replaces) fault id: traffic from any AZ in from to any
// node named in to, or in an AZ named in to, gets imp. One-way: the reverse
// path is untouched.
func (l *Links) Impair(id string, from, to []string, imp sim.LinkImpairment) error {
	if len(from) == 0 || len(to) == 0 {
		return fmt.Errorf("links: %s: empty AZ group", id)
	}
	f := linkFault{from: set(from), to: set(to), imp: imp}
	l.mu.Lock()
	l.faults[id] = f
	l.notifyLocked()
	l.mu.Unlock()
	return nil
}

// Restore removes fault id; unknown ids are ignored.
func (l *Links) Restore(id string) {
	l.mu.Lock()
	delete(l.faults, id)
	l.notifyLocked()
	l.mu.Unlock()
}

// Between is the combined impairment from AZ from to node (in AZ to).
func (l *Links) Between(from, to, node string) sim.LinkImpairment {
	if !l.active.Load() {
		return sim.LinkImpairment{}
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out sim.LinkImpairment
	for _, f := range l.faults {
		if f.from[from] && (f.to[to] || f.to[node]) {
			out = out.Combine(f.imp)
		}
	}
	return out
}

func (l *Links) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
	l.active.Store(len(l.faults) > 0)
}

func (l *Links) changes() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changed
}

// dialTimeout bounds a dial across a cut link, like an unanswered SYN.
const dialTimeout = 3 * time.Second

// redialEvery is how often a dial held by a cut link looks up the address
// again, as a client's connect retries do.
const redialEvery = 250 * time.Millisecond

// Dialer returns the dial function for clients in AZ from.
func (l *Links) Dialer(from string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		to, node := l.resolve(addr)
		deadline := time.Now().Add(dialTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		for l.Between(from, to, node).Cut {
			// A client retries its connect, and an endpoint that moved in
			// the meantime (a failover) answers from its new node.
			wake := time.Now().Add(redialEvery)
			if wake.After(deadline) {
				wake = deadline
			}
			if err := l.wait(ctx.Done(), nil, wake); err != nil && (!errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(deadline)) {
				return nil, &net.OpError{Op: "dial", Net: network, Addr: nil, Err: err}
			}
			to, node = l.resolve(addr)
		}
		c, err := l.dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &linkConn{Conn: c, l: l, from: from, to: to, node: node, done: make(chan struct{})}, nil
	}
}

// wait blocks until the links change, done closes or deadline passes.
func (l *Links) wait(done, closed <-chan struct{}, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-l.changes():
		return nil
	case <-done:
		return context.Canceled
	case <-closed:
		return net.ErrClosed
	case <-timeout:
		return os.ErrDeadlineExceeded
	}
}

// retransmitTimeout is what a lost segment costs a TCP reader (Linux's
// minimum RTO): TCP never loses bytes, it delays them.
const retransmitTimeout = 200 * time.Millisecond

// linkConn is a client connection subject to its link's impairments.
type linkConn struct {
	net.Conn
	l        *Links
	from, to string // client AZ, server AZ
	node     string // server node id

	readDeadline, writeDeadline atomic.Int64 // unix nanos; 0 = none
	wrote                       atomic.Bool  // a request is awaiting its first response bytes
	done                        chan struct{}
	closeOnce                   sync.Once
}

func (c *linkConn) SetDeadline(t time.Time) error {
	c.readDeadline.Store(nanos(t))
	c.writeDeadline.Store(nanos(t))
	return c.Conn.SetDeadline(t)
}

func (c *linkConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(nanos(t))
	return c.Conn.SetReadDeadline(t)
}

func (c *linkConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(nanos(t))
	return c.Conn.SetWriteDeadline(t)
}

func (c *linkConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// blockWhileCut holds the caller while the link is cut, up to the deadline.
func (c *linkConn) blockWhileCut(deadline *atomic.Int64) (sim.LinkImpairment, error) {
	for {
		imp := c.l.Between(c.from, c.to, c.node)
		if !imp.Cut {
			return imp, nil
		}
		var dl time.Time
		if ns := deadline.Load(); ns != 0 {
			dl = time.Unix(0, ns)
		}
		if err := c.l.wait(nil, c.done, dl); err != nil {
			return imp, &net.OpError{Op: "read", Net: "tcp", Err: err}
		}
	}
}

func (c *linkConn) Write(b []byte) (int, error) {
	if _, err := c.blockWhileCut(&c.writeDeadline); err != nil {
		return 0, err
	}
	c.wrote.Store(true)
	return c.Conn.Write(b)
}

func (c *linkConn) Read(b []byte) (int, error) {
	if _, err := c.blockWhileCut(&c.readDeadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if n == 0 || !c.l.active.Load() {
		return n, err
	}
	// Bytes that arrived while the link went down are held until it heals.
	imp, cerr := c.blockWhileCut(&c.readDeadline)
	if cerr != nil {
		return 0, cerr
	}
	delay := time.Duration(0)
	if c.wrote.Swap(false) { // latency once per round trip
		delay += imp.Latency
		if imp.Jitter > 0 {
			delay += time.Duration(rand.Int64N(int64(imp.Jitter)))
		}
	}
	if imp.Loss > 0 && rand.Float64() < imp.Loss {
		delay += retransmitTimeout
	}
	if imp.Bandwidth > 0 {
		delay += time.Duration(float64(n) / float64(imp.Bandwidth) * float64(time.Second))
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
		}
	}
	return n, err
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
