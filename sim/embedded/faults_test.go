package embedded

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"paysim/internal/testwait"
	"strings"
	"testing"
	"time"

	"paysim/sim"
)

func esDo(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func TestSearchNodeLossKeepsDataSearchable(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	url := s.Endpoints().Elasticsearch.URL
	if code, _ := esDo(t, http.MethodPut, url+"/logs/_doc/1?refresh=true", `{"msg":"payment committed"}`); code != http.StatusCreated {
		t.Fatalf("index: HTTP %d", code)
	}
	// Kill the node the domain endpoint points at.
	if err := nodeOf(t, s, sim.ServiceSearch, 0).Kill(ctx); err != nil {
		t.Fatal(err)
	}
	var hits float64
	testwait.For(t, 5*time.Second, "search through the domain endpoint", func() bool {
		code, body := esDo(t, http.MethodPost, url+"/logs/_search", `{"query":{"match":{"msg":"payment"}}}`)
		if code != http.StatusOK {
			return false
		}
		hits = body["hits"].(map[string]any)["total"].(map[string]any)["value"].(float64)
		return true
	})
	if hits != 1 {
		t.Fatalf("hits after losing a node: %v, want 1", hits)
	}
	if _, h := esDo(t, http.MethodGet, url+"/_cluster/health", ""); h["number_of_nodes"] != float64(2) || h["status"] != "yellow" {
		t.Fatalf("health after losing a node: %v", h)
	}
}

func TestLatencyToxicSlowsTheNodesPath(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	c := newRedisClient(t, s.Endpoints().Redis.Addr)
	c.Options().ReadTimeout = 2 * time.Second
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	primary := nodeOf(t, s, sim.ServiceRedis, 0)
	if err := primary.AddToxic(ctx, sim.Toxic{Name: "slow", Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": 150}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("PING through a 150ms latency toxic took %v", took)
	}
	if err := primary.RemoveToxic(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "fast path after healing", func() bool {
		start := time.Now()
		return c.Ping(ctx).Err() == nil && time.Since(start) < 100*time.Millisecond
	})
}

func TestIsolatedReplicaStopsReplication(t *testing.T) {
	s := newStack(t, func(tp *sim.Topology) { tp.Redis.ReplicationLag = 10 * time.Millisecond })
	ctx := context.Background()
	c := newRedisClient(t, s.Endpoints().Redis.Addr)
	replica := nodeOf(t, s, sim.ServiceRedis, 1)
	if err := replica.Isolate(ctx); err != nil {
		t.Fatal(err)
	}
	if st := replica.Status().State; st != sim.StateIsolated {
		t.Fatalf("replica state %s, want isolated", st)
	}
	if err := c.Set(ctx, "while-isolated", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 2*time.Second, "write queued for the isolated replica", func() bool { return s.redis.link.Pending() > 0 })
	direct := newRedisClient(t, replica.Status().Addr)
	if err := direct.Ping(ctx).Err(); err == nil {
		t.Fatal("an isolated replica answered a client")
	}
	if err := replica.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	reader := newRedisClient(t, s.Endpoints().Redis.Reader)
	testwait.For(t, 5*time.Second, "replication to resume", func() bool { return reader.Get(ctx, "while-isolated").Val() == "1" })
}
