package redisnode

import (
	"net"
	"sync"
	"time"
)

// coalescingConn batches a client connection's replies into fewer writes.
// miniredis flushes after every command, so a pipeline of n commands costs
// n write syscalls; here replies are buffered and a writer goroutine sends
// whatever has piled up, so the replies to one pipeline usually leave in one
// segment. Written by hand: miniredis has no option for it. Order is kept:
// every socket write happens under wmu and takes the whole buffer.
type coalescingConn struct {
	net.Conn
	wake chan struct{} // cap 1: replies are waiting
	done chan struct{} // closed by Close

	mu     sync.Mutex // guards buf, err, closed
	buf    []byte
	err    error
	closed bool

	wmu sync.Mutex // held while writing to Conn
}

// maxPending is how much may wait for the writer before Write sends
// synchronously (backpressure on a client that does not read).
const maxPending = 1 << 20

// newCoalescingConn wraps c. Once quit closes (the node is killed), writes
// fail at once: a write blocked on a client that does not read holds
// miniredis's lock, and the kill needs that lock to close the clients.
func newCoalescingConn(c net.Conn, quit <-chan struct{}) *coalescingConn {
	cc := &coalescingConn{Conn: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go cc.loop()
	go func() {
		select {
		case <-quit:
			_ = c.SetWriteDeadline(time.Unix(1, 0))
		case <-cc.done:
		}
	}()
	return cc
}

// Write queues p for the writer goroutine.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	switch {
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return 0, err
	case c.closed:
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.buf = append(c.buf, p...)
	full := len(c.buf) > maxPending
	c.mu.Unlock()
	if full {
		c.send(nil)
		return len(p), c.failed()
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *coalescingConn) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// send writes everything buffered so far; spare is reused as the next buffer.
func (c *coalescingConn) send(spare []byte) []byte {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	out := c.buf
	c.buf = spare[:0]
	failed := c.err != nil
	c.mu.Unlock()
	if len(out) == 0 || failed {
		return out
	}
	if _, err := c.Conn.Write(out); err != nil {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
	return out
}

func (c *coalescingConn) loop() {
	var spare []byte
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		spare = c.send(spare)
	}
}

// Close sends what is still buffered (briefly: a client that does not read
// cannot hold it up) and closes the connection.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.done)
	_ = c.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	c.send(nil)
	return c.Conn.Close()
}
