package netproxy

import (
	"context"
	"testing"
	"time"

	"paysim/sim"
)

// node is a Target with no front of its own (as a container node), at addr.
type node struct {
	Impairments
	addr string
}

// TestEndpointCarriesItsTargetsImpairments: a node's toxics act on the
// Endpoints that point at it, over TCP and over the direct path, and move
// with them when they are pointed elsewhere.
func TestEndpointCarriesItsTargetsImpairments(t *testing.T) {
	const delay = 150 * time.Millisecond
	a, b := &node{addr: newEcho(t)}, &node{addr: newEcho(t)}
	px := NewServer()
	e, err := NewEndpoint(px, "ep", a, func(n *node) string { return n.addr })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	latency := func(name string) sim.Toxic {
		return sim.Toxic{Name: name, Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": delay.Milliseconds()}}
	}
	steps := []struct {
		name string
		do   func() error
		slow bool
	}{
		{"no toxic", func() error { return nil }, false},
		{"latency on the target", func() error { return a.AddToxic(context.Background(), latency("a-slow")) }, true},
		{"pointed at a healthy node", func() error { e.Point(b); return nil }, false},
		{"latency on the new target", func() error { return b.AddToxic(context.Background(), latency("b-slow")) }, true},
		{"healed", func() error { return b.RemoveToxic(context.Background(), "b-slow") }, false},
		{"back to the node still impaired", func() error { e.Point(a); return nil }, true},
		{"that node healed", func() error { return a.RemoveToxic(context.Background(), "a-slow") }, false},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for _, via := range []struct {
			name string
			dial dialFunc
		}{{"tcp", tcpDial}, {"direct", px.DialContext}} {
			got, took, err := roundTripVia(via.dial, e.Addr(), 5*time.Second)
			if err != nil || got != "ping\n" {
				t.Fatalf("%s (%s): reply %q, %v", st.name, via.name, got, err)
			}
			if slow := took >= delay; slow != st.slow {
				t.Errorf("%s (%s): a round trip took %v (latency %v expected: %v)", st.name, via.name, took, delay, st.slow)
			}
		}
	}
	if got := a.Toxics(); len(got) != 0 {
		t.Errorf("toxics left on a: %v", got)
	}
}
