package containers

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// relay forwards the connections it accepts to one address, each dialled
// through dial: how an app container in an AZ reaches one of the stack's
// endpoints on the host, with that AZ's view of the region's network
// (Links.Dialer) on the way. Written by hand as it is a plain byte copy
// whose only point is the dialer; the endpoints behind it are toxiproxy's.
type relay struct {
	ln   net.Listener
	to   string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ctx ends with Close: dials held by a cut link give up.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// relayDialTimeout bounds a relayed connection's dial, a client's connect
// timeout (a cut link holds a dial until then).
const relayDialTimeout = 10 * time.Second

// startRelay listens on listen and forwards to to.
func startRelay(listen, to string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*relay, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, to: to, dial: dial, conns: map[net.Conn]struct{}{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the address the relay listens on.
func (r *relay) Addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of descriptors: let some close
			continue
		}
		if !r.track(c) {
			c.Close()
			return
		}
		r.wg.Add(1)
		go r.forward(c)
	}
}

// track records c for Close; false once the relay is closed.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) untrack(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		delete(r.conns, c)
	}
}

// forward copies both ways between c and a connection to r.to until either
// side closes; then both close.
func (r *relay) forward(c net.Conn) {
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(r.ctx, relayDialTimeout)
	up, err := r.dial(ctx, "tcp", r.to)
	cancel()
	if err != nil {
		r.untrack(c)
		c.Close()
		return
	}
	if !r.track(up) {
		r.untrack(c)
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done // one side ended: the other goes with it, as through a proxy
	c.Close()
	up.Close()
	<-done
	r.untrack(c, up)
}

// Close stops accepting and closes every relayed connection.
func (r *relay) Close() {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.cancel()
	r.ln.Close()
	r.wg.Wait()
}
