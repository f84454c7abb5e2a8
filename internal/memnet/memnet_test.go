package memnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// TestConnConformance runs x/net's net.Conn conformance suite (basic I/O,
// ping-pong, racing reads and writes, past and future deadlines, Close
// unblocking I/O, concurrent method calls) on a connection dialed in memory.
func TestConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		n, ln := listen(t)
		c, err := n.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		s, err := ln.Accept()
		if err != nil {
			return nil, nil, nil, err
		}
		return c, s, func() { c.Close(); s.Close(); ln.Close() }, nil
	})
}

// TestBurstOfDialsWaitsForAccept: as many dials as the load generator's
// connection cap succeed before the server accepts any (a TCP listen queue
// holds them), then each is accepted; a closed listener refuses.
func TestBurstOfDialsWaitsForAccept(t *testing.T) {
	n, ln := listen(t)
	const burst = 1024
	conns := make([]net.Conn, 0, burst)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range burst {
		c, err := n.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial %d of %d before any accept: %v", i+1, burst, err)
		}
		conns = append(conns, c)
	}
	for i := range burst {
		s, err := ln.Accept()
		if err != nil {
			t.Fatalf("accept %d: %v", i+1, err)
		}
		s.Close()
	}
	ln.Close()
	if _, err := n.DialContext(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after close: %v, want connection refused", err)
	}
}

// listen returns a network with one listener on a loopback port.
func listen(t *testing.T) (*Network, net.Listener) {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := New()
	ln := n.Listen(tcp)
	t.Cleanup(func() { ln.Close() })
	return n, ln
}

// pair dials ln in memory and accepts the server end.
func pair(t *testing.T, n *Network, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	c, err := n.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// TestPeerClose: what TCP shows a peer when the other end closes.
func TestPeerClose(t *testing.T) {
	n, ln := listen(t)
	tests := []struct {
		name string
		run  func(t *testing.T, c, s net.Conn)
	}{
		{"the peer reads what was written, then EOF", func(t *testing.T, c, s net.Conn) {
			if _, err := c.Write([]byte("bye")); err != nil {
				t.Fatal(err)
			}
			c.Close()
			b, err := io.ReadAll(s)
			if err != nil || string(b) != "bye" {
				t.Fatalf("read %q, %v; want bye, EOF", b, err)
			}
		}},
		{"writing to a closed peer fails with EPIPE", func(t *testing.T, c, s net.Conn) {
			s.Close()
			if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("write after the peer closed: %v, want EPIPE", err)
			}
		}},
		{"a writer blocked on a full buffer wakes when the peer closes", func(t *testing.T, c, s net.Conn) {
			errc := make(chan error, 1)
			go func() { _, err := c.Write(make([]byte, 2*maxBuffered)); errc <- err }()
			time.AfterFunc(20*time.Millisecond, func() { s.Close() })
			select {
			case err := <-errc:
				if !errors.Is(err, syscall.EPIPE) {
					t.Fatalf("blocked write: %v, want EPIPE", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the write is still blocked 5 s after the peer closed")
			}
		}},
		{"own close: reads fail with net.ErrClosed", func(t *testing.T, c, s net.Conn) {
			c.Close()
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read after close: %v", err)
			}
			if err := c.Close(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("second close: %v, want net.ErrClosed", err)
			}
		}},
		{"a past read deadline times out at once", func(t *testing.T, c, s net.Conn) {
			c.SetReadDeadline(time.Now().Add(-time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read past its deadline: %v, want a timeout", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t, n, ln)
			tc.run(t, c, s)
		})
	}
}

// TestLargeTransfer: more than a buffer's worth crosses intact while the
// reader lags.
func TestLargeTransfer(t *testing.T) {
	n, ln := listen(t)
	c, s := pair(t, n, ln)
	want := bytes.Repeat([]byte("0123456789abcdef"), 5*maxBuffered/16+3)
	go func() { c.Write(want); c.Close() }()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want %d intact", len(got), err, len(want))
	}
}

// TestListener: TCP still works beside the in-memory dials, each in-memory
// client has its own address, and a closed listener refuses dials but keeps
// the connections it accepted.
func TestListener(t *testing.T) {
	n, ln := listen(t)
	addr := ln.Addr().String()
	if !n.Registered(addr) {
		t.Fatalf("%s is not registered", addr)
	}

	// Over TCP, through the same Accept.
	tc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	ts, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ts.(*net.TCPConn); !ok {
		t.Fatalf("a TCP dial was accepted as %T", ts)
	}
	ts.Close()

	c1, s1 := pair(t, n, ln)
	_, s2 := pair(t, n, ln)
	if s1.RemoteAddr().String() == s2.RemoteAddr().String() {
		t.Errorf("two in-memory clients share the address %s", s1.RemoteAddr())
	}
	if c1.RemoteAddr().String() != addr || s1.LocalAddr().String() != addr {
		t.Errorf("addresses %s -> %s, want the listener's %s", c1.LocalAddr(), c1.RemoteAddr(), addr)
	}

	// Queued but never accepted: closed with the listener.
	queued, err := n.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if n.Registered(addr) {
		t.Error("a closed listener is still registered")
	}
	if _, err := queued.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a queued connection after the listener closed reads %v, want EOF", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("accept after close: %v", err)
	}
	// Accepted connections outlive their listener, as over TCP.
	go s1.Write([]byte("still here"))
	b := make([]byte, 10)
	if _, err := io.ReadFull(c1, b); err != nil || string(b) != "still here" {
		t.Errorf("an accepted connection after the listener closed: %q, %v", b, err)
	}
	// Nothing listens now: the dial goes to TCP and is refused.
	if c, err := n.DialContext(context.Background(), "tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Errorf("dial after close: %v, want connection refused", err)
	}
}
