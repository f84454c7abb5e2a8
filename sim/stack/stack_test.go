package stack_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"paysim/sim"
	"paysim/sim/stack"
	"paysim/sim/stack/stacktest"
)

func newFullStack(t *testing.T) *stack.Stack { return stacktest.New(t) }

type reply struct {
	status int
	body   string
}

func post(t *testing.T, s *stack.Stack, path, key, body string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Endpoints().API.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(raw)}
}

// ledgerState is what a rejected request must leave untouched.
type ledgerState struct {
	Balances  map[string]int64
	Entries   int
	Committed int
	Outbox    int
}

func snapshot(t *testing.T, db *sql.DB) ledgerState {
	t.Helper()
	st := ledgerState{Balances: map[string]int64{}}
	rows, err := db.Query("SELECT id, balance FROM accounts")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var b int64
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		st.Balances[id] = b
	}
	rows.Close()
	for q, dst := range map[string]*int{
		"SELECT COUNT(*) FROM ledger_entries":                      &st.Entries,
		"SELECT COUNT(*) FROM payments WHERE status = 'committed'": &st.Committed,
		"SELECT COUNT(*) FROM outbox":                              &st.Outbox,
	} {
		if err := db.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestBadInputGets4xxAndChangesNothing(t *testing.T) {
	s := newFullStack(t)
	// A real payment to refund against.
	paid := post(t, s, "/v1/payments", "setup-pay", `{"user_id":"u-1","merchant_id":"m-1","amount":1000}`)
	if paid.status != http.StatusCreated {
		t.Fatalf("setup payment: %d %s", paid.status, paid.body)
	}
	var p struct{ ID string }
	_ = json.Unmarshal([]byte(paid.body), &p)
	waitDrained(t, s)
	tests := []struct {
		name, path, key, body string
		status                int
	}{
		{"negative amount", "/v1/topups", "b1", `{"account_id":"u-1","amount":-1}`, 400},
		{"zero amount", "/v1/payments", "b2", `{"user_id":"u-1","merchant_id":"m-1","amount":0}`, 400},
		{"fractional amount", "/v1/transfers", "b3", `{"from":"u-1","to":"u-2","amount":10.5}`, 400},
		{"string amount", "/v1/topups", "b4", `{"account_id":"u-1","amount":"100"}`, 400},
		{"overflowing amount", "/v1/topups", "b5", `{"account_id":"u-1","amount":9223372036854775808}`, 400},
		{"missing idempotency key", "/v1/topups", "", `{"account_id":"u-1","amount":1}`, 400},
		{"malformed json", "/v1/payments", "b6", `{"user_id":"u-1",`, 400},
		{"duplicate field", "/v1/payments", "b7", `{"user_id":"u-1","merchant_id":"m-1","amount":1,"amount":9000}`, 400},
		{"oversized body", "/v1/topups", "b8", `{"account_id":"u-1","amount":1,"x":"` + strings.Repeat("a", 8000) + `"}`, 413},
		{"sql in a field", "/v1/payments", "b9", `{"user_id":"u-1'; DROP TABLE accounts; --","merchant_id":"m-1","amount":1}`, 400},
		{"script in a field", "/v1/transfers", "b10", `{"from":"<script>x</script>","to":"u-2","amount":1}`, 400},
		{"unknown account", "/v1/payments", "b11", `{"user_id":"u-999","merchant_id":"m-1","amount":1}`, 404},
		{"unknown merchant", "/v1/payments", "b12", `{"user_id":"u-1","merchant_id":"m-999","amount":1}`, 404},
		{"pay a user as a merchant", "/v1/payments", "b13", `{"user_id":"u-1","merchant_id":"u-2","amount":1}`, 422},
		{"merchant pays", "/v1/payments", "b14", `{"user_id":"m-1","merchant_id":"m-2","amount":1}`, 422},
		{"transfer to a merchant", "/v1/transfers", "b15", `{"from":"u-1","to":"m-1","amount":1}`, 422},
		{"transfer to oneself", "/v1/transfers", "b16", `{"from":"u-1","to":"u-1","amount":1}`, 422},
		{"insufficient funds", "/v1/payments", "b17", `{"user_id":"u-2","merchant_id":"m-1","amount":10001}`, 402},
		{"refund above paid", "/v1/refunds", "b18", `{"payment_id":"` + p.ID + `","amount":1001}`, 422},
		{"refund of unknown payment", "/v1/refunds", "b19", `{"payment_id":"pay-00000000000000000000","amount":1}`, 404},
		{"top-up of a merchant", "/v1/topups", "b20", `{"account_id":"m-1","amount":5}`, 422},
	}
	before := snapshot(t, s.Ledger())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, s, tc.path, tc.key, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
			}
			var e struct{ Error string }
			if json.Unmarshal([]byte(r.body), &e) != nil || e.Error == "" {
				t.Fatalf("no clear error message in %q", r.body)
			}
			if after := snapshot(t, s.Ledger()); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// waitDrained waits until the outbox relay has published everything.
func waitDrained(t *testing.T, s *stack.Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var n int
		if err := s.Ledger().QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox").Scan(&n); err == nil && n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("outbox did not drain")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestConcurrentSameKeyHasOneEffect(t *testing.T) {
	s := newFullStack(t)
	before := snapshot(t, s.Ledger())
	const callers = 50
	replies := make([]reply, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			replies[i] = post(t, s, "/v1/payments", "same-key", `{"user_id":"u-3","merchant_id":"m-2","amount":700}`)
		}()
	}
	close(start)
	wg.Wait()
	for i, r := range replies {
		if r.status != http.StatusCreated || r.body != replies[0].body {
			t.Fatalf("caller %d got %d %s, caller 0 got %d %s", i, r.status, r.body, replies[0].status, replies[0].body)
		}
	}
	after := snapshot(t, s.Ledger())
	if got := before.Balances["u-3"] - after.Balances["u-3"]; got != 700 {
		t.Fatalf("u-3 charged %d, want exactly 700", got)
	}
	if got := after.Balances["m-2"] - before.Balances["m-2"]; got != 700 {
		t.Fatalf("m-2 credited %d, want exactly 700", got)
	}
	if after.Entries-before.Entries != 2 || after.Committed-before.Committed != 1 {
		t.Fatalf("entries +%d committed +%d, want +2 and +1", after.Entries-before.Entries, after.Committed-before.Committed)
	}
}

func TestBalancerDropsDeadInstance(t *testing.T) {
	s := newFullStack(t)
	ctx := context.Background()
	app, ok := s.Node("app-" + sim.DefaultTopology().AZs[0] + "-0")
	if !ok {
		t.Fatal("no app node")
	}
	if err := app.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	waitHealthy := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		for {
			h := 0
			for _, st := range s.Balancer().Status() {
				if st.Healthy {
					h++
				}
			}
			if h == n {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("balancer never reached %d healthy targets: %+v", n, s.Balancer().Status())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitHealthy(2)
	for i := 0; i < 20; i++ {
		r := post(t, s, "/v1/topups", fmt.Sprintf("lb-%d", i), `{"account_id":"u-1","amount":1}`)
		if r.status != http.StatusCreated {
			t.Fatalf("request %d with a dead instance: %d %s", i, r.status, r.body)
		}
	}
	for _, n := range s.Nodes() {
		if n.Status().Service == sim.ServiceApp {
			_ = n.Kill(ctx)
		}
	}
	waitHealthy(0)
	if r := post(t, s, "/v1/topups", "lb-none", `{"account_id":"u-1","amount":1}`); r.status != http.StatusServiceUnavailable {
		t.Fatalf("no healthy target: %d %s, want 503", r.status, r.body)
	}
	if err := app.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitHealthy(1)
	if r := post(t, s, "/v1/topups", "lb-back", `{"account_id":"u-1","amount":1}`); r.status != http.StatusCreated {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
}

// TestReplayAfterCacheLossAnswersFromLedger: once Redis has forgotten a key
// (its short TTL, a flush, a failover), a replay still gets the first
// answer from the ledger's unique key and moves no money.
func TestReplayAfterCacheLossAnswersFromLedger(t *testing.T) {
	s := newFullStack(t)
	const body = `{"user_id":"u-4","merchant_id":"m-3","amount":900}`
	first := post(t, s, "/v1/payments", "replay-key", body)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	before := snapshot(t, s.Ledger())
	rdb := redis.NewClient(&redis.Options{Addr: s.Endpoints().Redis.Addr})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	again := post(t, s, "/v1/payments", "replay-key", body)
	if again != first {
		t.Fatalf("replay got %d %s, first %d %s", again.status, again.body, first.status, first.body)
	}
	after := snapshot(t, s.Ledger())
	if after.Entries != before.Entries || after.Committed != before.Committed || after.Balances["u-4"] != before.Balances["u-4"] {
		t.Fatalf("replay changed the ledger: %+v -> %+v", before.Committed, after.Committed)
	}
}

// TestPaymentPathIsInMemory: in embedded mode a payment reaches the app
// instance and the nodes over in-memory connections, not loopback TCP, and
// the nodes still answer TCP (the ledger client of the checks uses it).
func TestPaymentPathIsInMemory(t *testing.T) {
	s := newFullStack(t)
	if r := post(t, s, "/v1/payments", "mem-key", `{"user_id":"u-5","merchant_id":"m-2","amount":100}`); r.status != http.StatusCreated {
		t.Fatalf("payment: %d %s", r.status, r.body)
	}
	// One connection from the balancer to an instance and at least one each
	// from an instance to the ledger and to Redis.
	if n := s.MemConns(); n < 3 {
		t.Fatalf("%d in-memory connections after a payment, want the balancer's and the instance's", n)
	}
	if st := snapshot(t, s.Ledger()); st.Committed == 0 {
		t.Fatal("the ledger over TCP shows no committed payment")
	}
	// The load generator dials the balancer with the stack's Dial: in
	// memory, while TCP clients (post above, curl) still reach it.
	stackDial := s.Dial()
	if stackDial == nil {
		t.Fatal("an embedded stack has no in-memory Dial")
	}
	var dialed []net.Conn
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := stackDial(ctx, network, addr)
		if err == nil {
			dialed = append(dialed, c)
		}
		return c, err
	}
	cl := &http.Client{Transport: &http.Transport{DialContext: dial}}
	t.Cleanup(cl.CloseIdleConnections)
	resp, err := cl.Get(s.Endpoints().API.URL + "/v1/accounts/u-5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("balance read through Dial: %s", resp.Status)
	}
	if len(dialed) != 1 {
		t.Fatalf("%d connections dialed for one request, want 1", len(dialed))
	}
	if _, tcp := dialed[0].(*net.TCPConn); tcp {
		t.Fatalf("Dial reached the balancer over TCP (%s -> %s), want in memory", dialed[0].LocalAddr(), dialed[0].RemoteAddr())
	}
}

// TestReleaseTearsDownOneTierAtATime: each released tier stops answering at
// once while the others keep serving; releasing again and Close still work.
func TestReleaseTearsDownOneTierAtATime(t *testing.T) {
	s := newFullStack(t)
	ep := s.Endpoints()
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	tiers := []struct {
		svc  sim.Service
		addr string
	}{
		{sim.ServiceApp, host(ep.API.URL)},
		{sim.ServiceSearch, host(ep.Elasticsearch.URL)},
		{sim.ServiceMySQL, ep.MySQL.Addr},
		{sim.ServiceKafka, ep.Kafka.Bootstrap[0]},
		{sim.ServiceRedis, ep.Redis.Addr},
	}
	answers := func(addr string) bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	for i, tier := range tiers {
		for _, later := range tiers[i:] {
			if !answers(later.addr) {
				t.Fatalf("before releasing %s: %s (%s) does not answer", tier.svc, later.svc, later.addr)
			}
		}
		if err := s.Release(tier.svc); err != nil {
			t.Fatalf("release %s: %v", tier.svc, err)
		}
		if answers(tier.addr) {
			t.Fatalf("released %s still answers on %s", tier.svc, tier.addr)
		}
		if tier.svc == sim.ServiceMySQL {
			if err := s.Ledger().Ping(); err == nil {
				t.Fatal("the ledger pool still works after its tier was released")
			}
		}
	}
	if err := s.Release(sim.ServiceSearch); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close after releases: %v", err)
	}
}
