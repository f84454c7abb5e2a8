package embedded

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"paysim/sim"
)

// TestStartOnlySomeServices: a stack asked for some services runs only
// those, registers them in the registry it was given, and refuses what
// needs the others instead of failing on them.
func TestStartOnlySomeServices(t *testing.T) {
	tests := []struct {
		name     string
		services []sim.Service
		want     []sim.Service // services present in the registry
	}{
		{"kafka and search (containers mode)", []sim.Service{sim.ServiceKafka, sim.ServiceSearch}, []sim.Service{sim.ServiceKafka, sim.ServiceSearch}},
		{"only the ledger", []sim.Service{sim.ServiceMySQL}, []sim.Service{sim.ServiceMySQL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := sim.DefaultTopology()
			reg := sim.NewRegistry()
			reg.Add(sim.NodeStatus{ID: "other-node", Service: sim.ServiceRedis}) // a node of the composing backend
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := Start(ctx, topo, Options{Dir: t.TempDir(), Services: tc.services, Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			if s.Registry() != reg {
				t.Fatal("the stack did not use the registry it was given")
			}
			got := map[sim.Service]int{}
			for _, n := range reg.Snapshot() {
				if n.ID != "other-node" {
					got[n.Service]++
				}
			}
			var gotSvcs []string
			for svc, n := range got {
				if n != len(topo.AZs) {
					t.Errorf("%s: %d nodes, want one per AZ", svc, n)
				}
				gotSvcs = append(gotSvcs, string(svc))
			}
			var want []string
			for _, svc := range tc.want {
				want = append(want, string(svc))
			}
			sort.Strings(gotSvcs)
			sort.Strings(want)
			if fmt.Sprint(gotSvcs) != fmt.Sprint(want) {
				t.Fatalf("services started: %v, want %v", gotSvcs, want)
			}
			if len(s.Nodes()) != len(topo.AZs)*len(tc.want) {
				t.Errorf("Nodes(): %d, want %d", len(s.Nodes()), len(topo.AZs)*len(tc.want))
			}
			ep := s.Endpoints()
			runs := func(svc sim.Service) bool { return got[svc] > 0 }
			if runs(sim.ServiceKafka) != (len(ep.Kafka.Bootstrap) > 0) || runs(sim.ServiceMySQL) != (ep.MySQL.Addr != "") ||
				runs(sim.ServiceSearch) != (ep.Elasticsearch.URL != "") || ep.Redis.Addr != "" {
				t.Errorf("endpoints %+v do not match the services started", ep)
			}
			for _, addr := range append(ep.Kafka.Bootstrap, ep.MySQL.Addr, strings.TrimPrefix(ep.Elasticsearch.URL, "http://")) {
				if addr == "" {
					continue
				}
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					t.Errorf("%s: %v", addr, err)
					continue
				}
				c.Close()
			}
			if err := s.Switchover(ctx, sim.ServiceRedis); err == nil {
				t.Error("a Redis switchover without Redis succeeded")
			}
			if err := s.LoseRegion(ctx); err == nil {
				t.Error("a region loss without the ledger and cache succeeded")
			}
			if err := s.MoveKafkaLeaders(ctx); (err == nil) != runs(sim.ServiceKafka) {
				t.Errorf("a Kafka leader move with Kafka %v: %v", runs(sim.ServiceKafka), err)
			}
		})
	}
}
