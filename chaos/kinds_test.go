package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/internal/testwait"
	"paysim/sim"
	"paysim/sim/payments"
	"paysim/sim/stack"
	"paysim/sim/stack/stacktest"
)

// fastTopology fails primaries over in a second so tests see both sides.
func fastTopology() sim.Topology {
	t := sim.DefaultTopology()
	t.MySQL.FailoverAfter = time.Second
	t.Redis.FailoverAfter = time.Second
	return t
}

var keySeq atomic.Int64

// topup writes through one app instance directly and returns how long it took.
func topup(s *stack.Stack, appID string, timeout time.Duration) (time.Duration, error) {
	n, ok := s.Node(appID)
	if !ok {
		return 0, fmt.Errorf("no node %s", appID)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.Status().Addr+"/v1/topups", strings.NewReader(`{"account_id":"u-1","amount":1}`))
	req.Header.Set("Idempotency-Key", fmt.Sprintf("chaos-test-%d-%d", time.Now().UnixNano(), keySeq.Add(1)))
	start := time.Now()
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

func primary(s *stack.Stack, svc sim.Service) string {
	for _, n := range s.Nodes() {
		if st := n.Status(); st.Service == svc && st.Role == sim.RolePrimary {
			return st.ID
		}
	}
	return ""
}

func leaders(t *testing.T, s *stack.Stack) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Endpoints().Kafka.Bootstrap...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(ctx, sim.TopicPayments)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range md.Topics[sim.TopicPayments].Partitions.Sorted() {
		fmt.Fprintf(&b, "%d:%d ", p.Partition, p.Leader)
	}
	return b.String()
}

// TestEveryKindHasAnObservableEffect builds each kind from a Spec, injects
// it into a fresh stack and checks what a client (or the cluster's own
// metadata) sees, then that healing restores it. A fault that changes
// nothing fails here.
func TestEveryKindHasAnObservableEffect(t *testing.T) {
	topo := fastTopology()
	a, b, c := topo.AZs[0], topo.AZs[1], topo.AZs[2]
	appA, appB := "app-"+a+"-0", "app-"+b+"-0"
	fast := func(s *stack.Stack, app string) bool {
		d, err := topup(s, app, 5*time.Second)
		return err == nil && d < 150*time.Millisecond
	}
	fails := func(s *stack.Stack, app string) bool {
		_, err := topup(s, app, 1500*time.Millisecond)
		return err != nil
	}
	slow := func(s *stack.Stack, app string, min time.Duration) bool {
		d, err := topup(s, app, 5*time.Second)
		return err != nil || d >= min
	}
	drTopo := fastTopology()
	drTopo.DR = &sim.DRTopology{Region: "ap-northeast-3", ReplicationLag: 200 * time.Millisecond, PromoteAfter: time.Second}
	tests := []struct {
		spec   Spec
		topo   *sim.Topology                             // default: topo
		before func(t *testing.T, s *stack.Stack) string // a fingerprint taken before the fault
		broken func(t *testing.T, s *stack.Stack, before string) bool
		healed func(t *testing.T, s *stack.Stack, before string) bool // default: !broken
	}{
		{spec: Spec{Kind: "az-outage", Target: a, Variant: "network"},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool {
				n, _ := s.Node("mysql-" + a)
				return n.Status().State == sim.StateIsolated && fails(s, appA) && primary(s, sim.ServiceMySQL) != "mysql-"+a
			},
			healed: func(t *testing.T, s *stack.Stack, _ string) bool {
				n, _ := s.Node("mysql-" + a)
				return n.Status().State == sim.StateUp && fast(s, appA)
			}},
		{spec: Spec{Kind: "node-restart", Target: "redis-0-" + a}}, // broken: the primary lost its memory
		{spec: Spec{Kind: "partition", Target: a + "|" + b + "," + c},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool {
				n, _ := s.Node("mysql-" + a)
				return n.Status().State == sim.StateIsolated && primary(s, sim.ServiceMySQL) != "mysql-"+a
			}},
		{spec: Spec{Kind: "partition", Target: b + "->" + a},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool { return fails(s, appB) && fast(s, appA) }},
		{spec: Spec{Kind: "latency", Target: b + "<->" + a, Latency: 300 * time.Millisecond},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool {
				return slow(s, appB, 300*time.Millisecond) && fast(s, appA)
			}},
		{spec: Spec{Kind: "latency", Target: a, Latency: 300 * time.Millisecond},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool { return slow(s, appB, 300*time.Millisecond) }},
		{spec: Spec{Kind: "packet-loss", Target: "mysql-" + a, Loss: 1},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool { return slow(s, appB, 200*time.Millisecond) }},
		{spec: Spec{Kind: "bandwidth", Target: a, Bandwidth: 200},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool { return slow(s, appB, 200*time.Millisecond) }},
		{spec: Spec{Kind: "db-failover", Variant: "planned"},
			before: func(t *testing.T, s *stack.Stack) string { return primary(s, sim.ServiceMySQL) },
			broken: func(t *testing.T, s *stack.Stack, p string) bool {
				return primary(s, sim.ServiceMySQL) != p && fast(s, appB)
			},
			healed: func(t *testing.T, s *stack.Stack, p string) bool { return fast(s, appB) }},
		{spec: Spec{Kind: "db-failover", Variant: "unplanned"},
			before: func(t *testing.T, s *stack.Stack) string { return primary(s, sim.ServiceMySQL) },
			broken: func(t *testing.T, s *stack.Stack, p string) bool {
				n, _ := s.Node(p)
				return n.Status().State == sim.StateDown && primary(s, n.Status().Service) != p // failed over
			},
			healed: func(t *testing.T, s *stack.Stack, p string) bool {
				n, _ := s.Node(p)
				return n.Status().State == sim.StateUp && fast(s, appB)
			}},
		{spec: Spec{Kind: "redis-failover", Variant: "planned"},
			before: func(t *testing.T, s *stack.Stack) string { return primary(s, sim.ServiceRedis) },
			broken: func(t *testing.T, s *stack.Stack, p string) bool {
				return primary(s, sim.ServiceRedis) != p && fast(s, appB)
			},
			healed: func(t *testing.T, s *stack.Stack, p string) bool { return fast(s, appB) }},
		{spec: Spec{Kind: "redis-failover"},
			before: func(t *testing.T, s *stack.Stack) string { return primary(s, sim.ServiceRedis) },
			broken: func(t *testing.T, s *stack.Stack, p string) bool {
				n, _ := s.Node(p)
				return n.Status().State == sim.StateDown && primary(s, n.Status().Service) != p // failed over
			},
			healed: func(t *testing.T, s *stack.Stack, p string) bool {
				n, _ := s.Node(p)
				return n.Status().State == sim.StateUp && n.Status().Role == sim.RoleReplica
			}},
		{spec: Spec{Kind: "kafka-broker-loss", Count: 1},
			before: func(t *testing.T, s *stack.Stack) string { return "" },
			broken: func(t *testing.T, s *stack.Stack, _ string) bool {
				n, _ := s.Node(fmt.Sprintf("kafka-2-%s", c))
				return n.Status().State == sim.StateDown
			}},
		{spec: Spec{Kind: "kafka-leader-move"},
			broken: func(t *testing.T, s *stack.Stack, before string) bool { return leaders(t, s) != before },
			healed: func(t *testing.T, s *stack.Stack, _ string) bool { return fast(s, appB) }},
		{spec: Spec{Kind: "app-crash", Target: appB},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool { return fails(s, appB) && fast(s, appA) }},
		{spec: Spec{Kind: "region-loss", Target: drTopo.Region}, topo: &drTopo,
			before: func(t *testing.T, s *stack.Stack) string {
				// A region lost before its first copy leaves an empty DR ledger.
				testwait.For(t, 5*time.Second, "the DR copy to be seeded", func() bool {
					n, _ := s.Node(drTopo.DR.DRNodeID())
					return strings.Contains(n.Status().Detail, "lag <=")
				})
				return ""
			},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool {
				for _, az := range drTopo.AZs {
					if n, _ := s.Node("mysql-" + az); n.Status().State != sim.StateDown {
						return false
					}
				}
				_, err := topup(s, appB, 5*time.Second)
				return primary(s, sim.ServiceMySQL) == drTopo.DR.DRNodeID() && err == nil
			},
			healed: func(t *testing.T, s *stack.Stack, _ string) bool {
				_, err := topup(s, appA, 5*time.Second)
				return err == nil
			}},
		{spec: Spec{Kind: "failpoint", Failpoint: "before-commit", Term: "sleep(400)"},
			broken: func(t *testing.T, s *stack.Stack, _ string) bool { return slow(s, appB, 400*time.Millisecond) }},
	}
	for _, tc := range tests {
		t.Run(tc.spec.Kind+"/"+tc.spec.Target+tc.spec.Variant, func(t *testing.T) {
			tp := topo
			if tc.topo != nil {
				tp = *tc.topo
			}
			f, err := Build(tc.spec, tp, payments.FailpointNames())
			if err != nil {
				t.Fatal(err)
			}
			ab, err := stack.Abilities(stack.ModeEmbedded)
			if err != nil {
				t.Fatal(err)
			}
			if m := ab.Missing(f.Needs()); len(m) > 0 {
				t.Fatalf("%s cannot run in embedded mode: needs %v", f.Name(), m)
			}
			s := stacktest.WithTopology(t, tp)
			testwait.For(t, 10*time.Second, "the stack to serve writes", func() bool { return fast(s, appA) && fast(s, appB) })
			var before string
			switch {
			case tc.before != nil:
				before = tc.before(t, s)
			case tc.spec.Kind == "kafka-leader-move":
				before = leaders(t, s)
			}
			if tc.spec.Kind == "node-restart" {
				tc.broken = redisLostMemory(t, s, "redis-0-"+a)
			}
			if tc.broken(t, s, before) {
				t.Fatal("effect visible before the fault")
			}
			ctx := context.Background()
			if err := f.Inject(ctx, s); err != nil {
				t.Fatal(err)
			}
			healed := false
			defer func() {
				if !healed {
					_ = f.Heal(ctx, s)
				}
			}()
			testwait.For(t, 10*time.Second, fmt.Sprintf("%s on %s to show", f.Name(), f.Target()), func() bool { return tc.broken(t, s, before) })
			healed = true
			if err := f.Heal(ctx, s); err != nil {
				t.Fatal(err)
			}
			restored := tc.healed
			if restored == nil {
				restored = func(t *testing.T, s *stack.Stack, b string) bool { return !tc.broken(t, s, b) }
				if tc.spec.Kind == "node-restart" {
					restored = func(*testing.T, *stack.Stack, string) bool { return fast(s, appA) }
				}
			}
			testwait.For(t, 15*time.Second, "healing to restore service", func() bool { return restored(t, s, before) })
		})
	}
}

var errNil = redis.Nil

func redisCmd(addr string, args ...any) error {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return cl.Do(ctx, args...).Err()
}

// redisLostMemory writes a key to the Redis primary now and returns a check
// that the key is gone (the node restarted empty).
func redisLostMemory(t *testing.T, s *stack.Stack, id string) func(*testing.T, *stack.Stack, string) bool {
	t.Helper()
	n, _ := s.Node(id)
	addr := n.Status().Addr
	if err := redisCmd(addr, "SET", "chaos-restart-probe", "1"); err != nil {
		t.Fatal(err)
	}
	return func(*testing.T, *stack.Stack, string) bool {
		return redisCmd(addr, "GET", "chaos-restart-probe") == errNil
	}
}
