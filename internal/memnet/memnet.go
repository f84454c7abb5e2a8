// Package memnet connects a client in paysim's process to a server in the
// same process without the kernel: a listener wrapped by Network.Listen
// accepts its TCP connections as before and, besides them, connections that
// Network.DialContext makes for its address out of two in-memory buffers.
//
// Loopback TCP cost the embedded stack a fifth of its CPU per payment in
// socket system calls (issue 19). Every fault still acts where it did: the
// netproxy direct path wraps these connections as it wrapped TCP ones, and
// a node that closes a connection, or stops, is seen by its clients as over
// TCP (EOF, refused dials).
//
// Written here rather than taken from grpc's test/bufconn, the one kept
// library of its kind: a bufconn listener keeps every connection it ever
// made until it closes (a soak's reconnects would grow without bound),
// closing it closes the connections it accepted (TCP keeps them, and a
// graceful shutdown needs them), and its connections all share one address.
package memnet

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// Network is the set of in-process listeners one stack can reach by
// address. The zero value is not usable; call New.
type Network struct {
	mu  sync.RWMutex
	lns map[string]*Listener
	// next numbers the connections, for their distinct client addresses.
	next atomic.Uint32
	// dialer dials what is not registered.
	dialer net.Dialer
}

// New returns an empty network.
func New() *Network { return &Network{lns: map[string]*Listener{}} }

// Listen wraps ln: the returned listener accepts ln's connections and the
// in-memory ones dialed to ln's address, until it is closed. Closing it
// closes ln and, as for TCP, leaves the accepted connections open.
func (n *Network) Listen(ln net.Listener) net.Listener {
	l := &Listener{tcp: ln, n: n, addr: ln.Addr().String(), mem: make(chan net.Conn, acceptBacklog),
		acc: make(chan accepted), done: make(chan struct{})}
	n.mu.Lock()
	n.lns[l.addr] = l
	n.mu.Unlock()
	go l.acceptTCP()
	return l
}

// ListenWith returns listen whose listeners n wraps (see Listen).
func (n *Network) ListenWith(listen func(addr string) (net.Listener, error)) func(addr string) (net.Listener, error) {
	return func(addr string) (net.Listener, error) {
		ln, err := listen(addr)
		if err != nil {
			return nil, err
		}
		return n.Listen(ln), nil
	}
}

// Conns is how many in-memory connections n has made.
func (n *Network) Conns() uint32 { return n.next.Load() }

// Registered reports whether addr is served by a listener on n.
func (n *Network) Registered(addr string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, ok := n.lns[addr]
	return ok
}

// DialContext connects to addr in memory when a listener on n serves it,
// and over the network otherwise. It has net.Dialer's DialContext's shape.
func (n *Network) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.RLock()
	l := n.lns[addr]
	n.mu.RUnlock()
	if l == nil || (network != "tcp" && network != "tcp4") {
		return n.dialer.DialContext(ctx, network, addr)
	}
	return l.dial(ctx)
}

func (n *Network) forget(l *Listener) {
	n.mu.Lock()
	if n.lns[l.addr] == l {
		delete(n.lns, l.addr)
	}
	n.mu.Unlock()
}

// acceptBacklog is how many in-memory connections wait for Accept, as a
// TCP listen backlog does: Linux's default somaxconn, which Go's listeners
// ask for. The load generator opens up to 1,024 connections to the
// balancer at once (a spike, or its pool refilling after a fault); a
// smaller queue would refuse dials that TCP accepts.
const acceptBacklog = 4096

// Listener is a TCP listener that also accepts in-memory connections.
type Listener struct {
	tcp  net.Listener
	n    *Network
	addr string
	mem  chan net.Conn // dialed, not yet accepted
	acc  chan accepted // from the TCP listener
	done chan struct{}
	once sync.Once
	mu   sync.Mutex // orders dial's send against Close's drain
}

type accepted struct {
	c   net.Conn
	err error
}

func (l *Listener) acceptTCP() {
	for {
		c, err := l.tcp.Accept()
		select {
		case l.acc <- accepted{c, err}:
		case <-l.done:
			if c != nil {
				_ = c.Close()
			}
			return
		}
		if err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// Accept waits for the next connection, in memory or over TCP.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.tcp.Addr(), Err: net.ErrClosed}
	default:
	}
	select {
	case c := <-l.mem:
		return c, nil
	case a := <-l.acc:
		return a.c, a.err
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.tcp.Addr(), Err: net.ErrClosed}
	}
}

// Close stops accepting: later dials are refused, and connections dialed
// but not yet accepted are closed (their clients see a reset).
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		l.n.forget(l)
		l.mu.Lock()
		close(l.done)
		l.mu.Unlock()
		err = l.tcp.Close()
		for {
			select {
			case c := <-l.mem:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return err
}

// Addr is the TCP listener's address, which in-memory dials name too.
func (l *Listener) Addr() net.Addr { return l.tcp.Addr() }

func (l *Listener) dial(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	laddr := l.tcp.Addr()
	id := l.n.next.Add(1)
	// A distinct client address per connection, as TCP's ephemeral ports
	// give: 127.x.y.z, port 1 (no real socket has it).
	caddr := &net.TCPAddr{IP: net.IPv4(127, byte(id>>16), byte(id>>8), byte(id)), Port: 1}
	client, server := Pipe(caddr, laddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return nil, refused(laddr)
	default:
	}
	select {
	case l.mem <- server:
		return client, nil
	default: // backlog full: a real listen queue drops the SYN, the dial fails
		return nil, refused(laddr)
	}
}

func refused(a net.Addr) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: a, Err: syscall.ECONNREFUSED}
}
