package embedded

import (
	"context"
	"testing"
	"time"

	"paysim/sim"
	"paysim/sim/netproxy"
)

// newStack starts an embedded stack for one test and tears it down after.
func newStack(t *testing.T, mutate ...func(*sim.Topology)) *Stack {
	t.Helper()
	topo := sim.DefaultTopology()
	topo.MySQL.FailoverAfter = 500 * time.Millisecond
	topo.Redis.FailoverAfter = 300 * time.Millisecond
	for _, m := range mutate {
		m(&topo)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, topo, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return s
}

func nodeOf(t *testing.T, s *Stack, svc sim.Service, idx int) *netproxy.Node {
	t.Helper()
	st := s.Registry().ByService(svc)
	if idx >= len(st) {
		t.Fatalf("no %s node %d", svc, idx)
	}
	n, ok := s.Node(st[idx].ID)
	if !ok {
		t.Fatalf("node %s missing", st[idx].ID)
	}
	return n.(*netproxy.Node)
}
