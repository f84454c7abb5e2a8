package memnet

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// maxBuffered is how many bytes one direction of a connection holds before
// its writer waits for the reader, as a socket's buffers do.
const maxBuffered = 256 << 10

// keepBuffer is the largest buffer a drained direction keeps: an idle
// connection holds little, a busy one reuses its buffer.
const keepBuffer = 16 << 10

// Pipe returns the two ends of an in-memory, buffered, full-duplex
// connection: a write on one is read on the other, deadlines and Close
// behave as on a TCP connection (a closed peer reads as EOF, writing to it
// fails with EPIPE). The client end's local address is caddr, the server
// end's saddr.
func Pipe(caddr, saddr net.Addr) (client, server net.Conn) {
	up, down := newStream(), newStream()
	c := &conn{rd: down, wr: up, laddr: caddr, raddr: saddr, done: make(chan struct{})}
	s := &conn{rd: up, wr: down, laddr: saddr, raddr: caddr, done: make(chan struct{})}
	return c, s
}

// stream is one direction of a connection.
type stream struct {
	mu      sync.Mutex
	buf     []byte // unread bytes are buf[r:]
	r       int
	wclosed bool // the writer closed: the reader sees EOF once drained
	rclosed bool // the reader closed: writes fail
	data    chan struct{}
	space   chan struct{}
}

func newStream() *stream {
	return &stream{data: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

type conn struct {
	rd, wr       *stream
	laddr, raddr net.Addr
	rdl, wdl     deadline
	done         chan struct{} // closed by Close
	once         sync.Once
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Read reads what the peer wrote, waiting for some.
func (c *conn) Read(b []byte) (int, error) {
	s := c.rd
	for {
		if c.closed() {
			return 0, c.opErr("read", net.ErrClosed)
		}
		wait := c.rdl.wait()
		if isClosed(wait) { // a passed deadline fails even with data waiting, as net's does
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		s.mu.Lock()
		if s.r < len(s.buf) {
			n := copy(b, s.buf[s.r:])
			s.r += n
			if s.r == len(s.buf) {
				s.r, s.buf = 0, s.buf[:0]
				if cap(s.buf) > keepBuffer {
					s.buf = nil
				}
			}
			s.mu.Unlock()
			notify(s.space)
			return n, nil
		}
		eof := s.wclosed
		s.mu.Unlock()
		if eof {
			return 0, io.EOF
		}
		if len(b) == 0 {
			return 0, nil
		}
		select {
		case <-s.data:
		case <-wait:
		case <-c.done:
		}
	}
}

// Write queues b for the peer, waiting while its buffer is full.
func (c *conn) Write(b []byte) (int, error) {
	s := c.wr
	n := 0
	for {
		if c.closed() {
			return n, c.opErr("write", net.ErrClosed)
		}
		wait := c.wdl.wait()
		if isClosed(wait) {
			return n, c.opErr("write", os.ErrDeadlineExceeded)
		}
		s.mu.Lock()
		if s.rclosed {
			s.mu.Unlock()
			return n, c.opErr("write", syscall.EPIPE)
		}
		if room := maxBuffered - (len(s.buf) - s.r); room > 0 && len(b) > 0 {
			if s.r > 0 && len(s.buf)+min(room, len(b)) > cap(s.buf) {
				s.buf = s.buf[:copy(s.buf, s.buf[s.r:])] // compact before growing
				s.r = 0
			}
			k := min(room, len(b))
			s.buf = append(s.buf, b[:k]...)
			b, n = b[k:], n+k
			s.mu.Unlock()
			notify(s.data)
			continue
		}
		s.mu.Unlock()
		if len(b) == 0 {
			return n, nil
		}
		select {
		case <-s.space:
		case <-wait:
		case <-c.done:
		}
	}
}

// Close closes both directions: the peer reads EOF once it has read what
// was written, and its writes fail.
func (c *conn) Close() error {
	err := c.opErr("close", net.ErrClosed)
	c.once.Do(func() {
		err = nil
		close(c.done)
		c.wr.mu.Lock()
		c.wr.wclosed = true
		c.wr.mu.Unlock()
		notify(c.wr.data)
		c.rd.mu.Lock()
		c.rd.rclosed = true
		c.rd.buf, c.rd.r = nil, 0 // unread data is gone, as with a reset
		c.rd.mu.Unlock()
		notify(c.rd.space)
	})
	return err
}

// CloseWrite half-closes the connection: the peer reads EOF once drained.
func (c *conn) CloseWrite() error {
	c.wr.mu.Lock()
	c.wr.wclosed = true
	c.wr.mu.Unlock()
	notify(c.wr.data)
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return c.laddr }
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

func (c *conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *conn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// deadline is a settable point in time whose channel closes when it passes.
// Its timer is made once and reset: clients set a deadline around every
// request (go-redis, the MySQL driver), and a timer made for each was a
// measurable share of a payment's CPU.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer   // runs fire; nil until a deadline in the future is set
	at     time.Time     // the deadline armed is for
	armed  chan struct{} // the channel fire closes; nil: none pending
	cancel chan struct{} // closed once the deadline passed; nil: none set yet
}

// set moves the deadline to t (zero: none).
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop() // a firing already under way finds armed changed (fire)
	}
	d.armed = nil
	if d.cancel == nil || isClosed(d.cancel) {
		d.cancel = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.cancel)
		return
	}
	d.at, d.armed = t, d.cancel
	if d.timer == nil {
		d.timer = time.AfterFunc(dur, d.fire)
	} else {
		d.timer.Reset(dur)
	}
}

// fire closes the armed channel once its deadline has passed. A firing for
// a deadline since moved (it began before set stopped the timer), or one
// early by the clock, arms the timer again for what is left.
func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed == nil {
		return
	}
	if left := time.Until(d.at); left > 0 {
		d.timer.Reset(left)
		return
	}
	close(d.armed)
	d.armed = nil
}

// wait returns a channel closed once the deadline has passed.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	return d.cancel
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
