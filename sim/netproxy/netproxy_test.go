package netproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"paysim/sim"
)

// newEcho starts a line echo server on loopback.
func newEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T, upstream string) *Proxy {
	t.Helper()
	p, _ := newProxyOn(t, upstream)
	return p
}

func newProxyOn(t *testing.T, upstream string) (*Proxy, *Server) {
	t.Helper()
	s := NewServer()
	p, err := s.New("test", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, s
}

// roundTrip sends one line through addr over TCP and returns the reply and
// elapsed time.
func roundTrip(addr string, timeout time.Duration) (string, time.Duration, error) {
	return roundTripVia(tcpDial, addr, timeout)
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

var tcpDial dialFunc = (&net.Dialer{}).DialContext

// roundTripVia is roundTrip with the connection opened by dial.
func roundTripVia(dial dialFunc, addr string, timeout time.Duration) (string, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return line, time.Since(start), err
}

func TestProxyFaults(t *testing.T) {
	tests := []struct {
		name    string
		toxic   *sim.Toxic
		disable bool
		check   func(t *testing.T, reply string, took time.Duration, err error)
	}{
		{name: "clean path echoes", check: func(t *testing.T, reply string, _ time.Duration, err error) {
			if err != nil || reply != "ping\n" {
				t.Fatalf("reply %q err %v", reply, err)
			}
		}},
		{name: "latency delays the answer", toxic: &sim.Toxic{Name: "lat", Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": 150}},
			check: func(t *testing.T, reply string, took time.Duration, err error) {
				if err != nil || took < 150*time.Millisecond {
					t.Fatalf("reply %q took %v err %v, want >= 150ms", reply, took, err)
				}
			}},
		{name: "timeout toxic blackholes", toxic: &sim.Toxic{Name: "cut", Type: "timeout", Attributes: map[string]any{"timeout": 0}},
			check: func(t *testing.T, _ string, _ time.Duration, err error) {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("err %v, want a deadline exceeded", err)
				}
			}},
		{name: "disabled proxy refuses", disable: true, check: func(t *testing.T, _ string, _ time.Duration, err error) {
			if err == nil {
				t.Fatal("connected to a disabled proxy")
			}
		}},
	}
	for _, tc := range tests {
		for _, direct := range []bool{false, true} {
			name := tc.name + "/proxied"
			if direct {
				name = tc.name + "/direct"
			}
			t.Run(name, func(t *testing.T) {
				p, srv := newProxyOn(t, newEcho(t))
				dial := tcpDial
				if direct { // the in-process path skips the listener but not the faults
					dial = srv.DialContext
				}
				if tc.toxic != nil {
					if err := p.AddToxic(*tc.toxic); err != nil {
						t.Fatal(err)
					}
				}
				if tc.disable {
					p.Disable()
				}
				reply, took, err := roundTripVia(dial, p.Addr(), 400*time.Millisecond)
				tc.check(t, reply, took, err)
				// Healing restores the clean path on the same address.
				if tc.toxic != nil {
					if err := p.RemoveToxic(context.Background(), tc.toxic.Name); err != nil {
						t.Fatal(err)
					}
				}
				if err := p.Enable(); err != nil {
					t.Fatal(err)
				}
				if reply, _, err := roundTripVia(dial, p.Addr(), time.Second); err != nil || reply != "ping\n" {
					t.Fatalf("after heal: reply %q err %v", reply, err)
				}
			})
		}
	}
}

// TestFaultsReachOpenConnections: a connection opened before a fault (both
// paths) is dropped by a disable or a re-point, and blackholed by a timeout
// toxic, whose removal closes it.
func TestFaultsReachOpenConnections(t *testing.T) {
	tests := []struct {
		name  string
		fault func(p *Proxy) error
	}{
		{"disable", func(p *Proxy) error { p.Disable(); return nil }},
		{"re-point", func(p *Proxy) error { return p.SetUpstream(newEcho(t)) }},
		{"timeout toxic removed", func(p *Proxy) error {
			if err := p.AddToxic(sim.Toxic{Name: "cut", Type: "timeout", Attributes: map[string]any{"timeout": 0}}); err != nil {
				return err
			}
			return p.RemoveToxic(context.Background(), "cut")
		}},
	}
	for _, tc := range tests {
		for _, direct := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/direct=%v", tc.name, direct), func(t *testing.T) {
				p, srv := newProxyOn(t, newEcho(t))
				dial := tcpDial
				if direct {
					dial = srv.DialContext
				}
				c, err := dial(context.Background(), "tcp", p.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				r := bufio.NewReader(c)
				if _, err := c.Write([]byte("one\n")); err != nil {
					t.Fatal(err)
				}
				if line, err := r.ReadString('\n'); err != nil || line != "one\n" {
					t.Fatalf("before the fault: %q %v", line, err)
				}
				if err := tc.fault(p); err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				_, _ = c.Write([]byte("two\n"))
				if line, err := r.ReadString('\n'); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("open connection survived %s: %q %v", tc.name, line, err)
				}
			})
		}
	}
}

func TestProxySetUpstreamKeepsAddress(t *testing.T) {
	p := newProxy(t, "127.0.0.1:1")
	addr := p.Addr()
	if _, _, err := roundTrip(addr, 300*time.Millisecond); err == nil {
		t.Fatal("proxy to a dead upstream answered")
	}
	if err := p.SetUpstream(newEcho(t)); err != nil {
		t.Fatal(err)
	}
	if p.Addr() != addr {
		t.Fatalf("address moved from %s to %s", addr, p.Addr())
	}
	if reply, _, err := roundTrip(addr, time.Second); err != nil || reply != "ping\n" {
		t.Fatalf("reply %q err %v", reply, err)
	}
}

func TestAddToxicErrors(t *testing.T) {
	p := newProxy(t, newEcho(t))
	if err := p.AddToxic(sim.Toxic{Name: "x", Type: "no-such-toxic"}); err == nil {
		t.Fatal("unknown toxic type accepted")
	}
	if err := p.AddToxic(sim.Toxic{Name: "x", Type: "latency", Attributes: map[string]any{"latency": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddToxic(sim.Toxic{Name: "x", Type: "latency"}); err == nil {
		t.Fatal("duplicate toxic name accepted")
	}
	if got := p.Toxics(); len(got) != 1 || got[0] != "x" {
		t.Fatalf("toxics %v", got)
	}
}

// TestDirectFallsBackForOtherToxics: a toxic type the direct path cannot
// apply drops direct connections and routes new ones through the proxy.
func TestDirectFallsBackForOtherToxics(t *testing.T) {
	p, srv := newProxyOn(t, newEcho(t))
	ctx := context.Background()
	c, err := srv.DialContext(ctx, "tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() == p.Addr() {
		t.Fatal("a direct dial went through the proxy's listener")
	}
	if err := p.AddToxic(sim.Toxic{Name: "slow", Type: "bandwidth", Attributes: map[string]any{"rate": 1000}}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := bufio.NewReader(c).ReadString('\n'); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("direct connection survived a bandwidth toxic: %v", err)
	}
	c2, err := srv.DialContext(ctx, "tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.RemoteAddr().String() != p.Addr() {
		t.Fatalf("with a bandwidth toxic, dial reached %s, want the proxy %s", c2.RemoteAddr(), p.Addr())
	}
	if err := p.RemoveToxic(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	if reply, _, err := roundTripVia(srv.DialContext, p.Addr(), time.Second); err != nil || reply != "ping\n" {
		t.Fatalf("after heal: %q %v", reply, err)
	}
}
