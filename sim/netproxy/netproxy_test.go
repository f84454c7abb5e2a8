package netproxy

import (
	"bufio"
	"context"
	"errors"
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
	p, err := NewServer().New("test", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// roundTrip sends one line through addr and returns the reply and elapsed time.
func roundTrip(addr string, timeout time.Duration) (string, time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, timeout)
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
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, newEcho(t))
			if tc.toxic != nil {
				if err := p.AddToxic(*tc.toxic); err != nil {
					t.Fatal(err)
				}
			}
			if tc.disable {
				p.Disable()
			}
			reply, took, err := roundTrip(p.Addr(), 400*time.Millisecond)
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
			if reply, _, err := roundTrip(p.Addr(), time.Second); err != nil || reply != "ping\n" {
				t.Fatalf("after heal: reply %q err %v", reply, err)
			}
		})
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
