// Package stacktest starts a small full stack for tests in other packages.
package stacktest

import (
	"context"
	"testing"
	"time"

	"paysim/sim"
	"paysim/sim/lb"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// New starts the embedded stack with 20 users and 3 merchants of 10,000 yen
// and fast health checks, and tears it down when the test ends.
func New(t testing.TB) *stack.Stack {
	t.Helper()
	return WithTopology(t, sim.DefaultTopology())
}

// WithTopology is New on a given topology.
func WithTopology(t testing.TB, topo sim.Topology) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := stack.Up(ctx, stack.Config{
		Topology: topo,
		Accounts: payments.Accounts{Users: 20, Merchants: 3, InitialBalance: 10_000},
		Dir:      t.TempDir(),
		LB:       lb.Config{Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("stack up: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return s
}
