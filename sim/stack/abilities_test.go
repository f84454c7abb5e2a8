package stack_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"paysim/sim"
	"paysim/sim/stack"
	"paysim/sim/stack/stacktest"
)

// requireAbilitiesReal fails the test if s's mode declares an ability its
// live stack or nodes do not have: validation must never accept a fault
// that would fail at run time.
func requireAbilitiesReal(t *testing.T, s *stack.Stack, mode string) {
	t.Helper()
	declared, err := stack.Abilities(mode)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Nodes() {
		svc := n.Status().Service
		for _, ab := range declared[svc] {
			var ok bool
			switch ab {
			case sim.AbilityPause:
				_, ok = n.(sim.Pauser)
			case sim.AbilityIsolate:
				_, ok = n.(sim.Isolator)
			case sim.AbilityShape:
				_, ok = n.(sim.Shaper)
			case sim.AbilitySwitchover, sim.AbilityLag:
				ok = true // judged below, once per service
			default:
				t.Errorf("%s declares node ability %q that this test cannot check", svc, ab)
				continue
			}
			if !ok {
				t.Errorf("%s mode declares %s nodes can %s, but %s cannot", mode, svc, ab, n.Status().ID)
			}
		}
	}
	if slices.Contains(declared[sim.ServiceMySQL], sim.AbilityLag) {
		// A replica takes a lag and gives it back, through the stack.
		var replica string
		for _, n := range s.Registry().ByService(sim.ServiceMySQL) {
			if n.Role == sim.RoleReplica {
				replica = n.ID
			}
		}
		ctx := context.Background()
		if err := s.LagReplica(ctx, replica, time.Second); err != nil {
			t.Errorf("%s mode declares mysql replicas can lag, but %s cannot: %v", mode, replica, err)
		} else if err := s.LagReplica(ctx, replica, 0); err != nil {
			t.Errorf("%s: the lag could not be lifted: %v", replica, err)
		}
	}
	for _, ab := range declared[""] {
		switch ab {
		case sim.AbilityNetwork:
			if s.Network() == nil {
				t.Errorf("%s mode declares a region network, but the stack has none", mode)
			}
		case sim.AbilityFailpoint:
			if s.Failpoints() == nil {
				t.Errorf("%s mode declares failpoints, but the stack has none", mode)
			}
		case sim.AbilityLeaderMove, sim.AbilityRegionLoss:
			// The stack forwards them to its backend; their drills prove them.
		default:
			t.Errorf("stack ability %q that this test cannot check", ab)
		}
	}
}

func TestEmbeddedAbilitiesAreReal(t *testing.T) {
	requireAbilitiesReal(t, stacktest.New(t), stack.ModeEmbedded)
}

// TestDescribeEmbedded: every node says what it runs; in embedded mode
// none has an image, and each names the library standing in for its server.
func TestDescribeEmbedded(t *testing.T) {
	s := stacktest.New(t)
	got := s.Describe(context.Background())
	if len(got) != len(s.Nodes()) {
		t.Fatalf("%d nodes described, the stack has %d", len(got), len(s.Nodes()))
	}
	want := map[sim.Service]string{
		sim.ServiceMySQL: "go-mysql", sim.ServiceRedis: "miniredis", sim.ServiceKafka: "kfake",
		sim.ServiceSearch: "bleve", sim.ServiceApp: "paysim payments API",
	}
	for _, n := range got {
		if n.Image != "" || !strings.Contains(n.Version, want[n.Service]) || want[n.Service] == "" {
			t.Errorf("%s (%s): image %q version %q, want no image and a version naming %q", n.ID, n.Service, n.Image, n.Version, want[n.Service])
		}
	}
}
