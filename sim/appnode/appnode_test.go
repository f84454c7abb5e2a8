package appnode_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"paysim/sim/appnode"
	"paysim/sim/payments"
	"paysim/sim/stack/stacktest"
)

// request sends method path with body to h and returns the status and body.
func request(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestControlAPIRejectsBadRequests(t *testing.T) {
	h := appnode.Handler(appnode.NewNode("127.0.0.1:0", func(int) { t.Error("exit called") }))
	tests := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"healthz", "GET", "/healthz", "", 200, "ok"},
		{"in flight before the start", "GET", "/inflight", "", 200, `"in_flight":0`},
		{"malformed config", "POST", "/start", `{"instance":`, 400, "start:"},
		{"unknown field", "POST", "/start", `{"instance":"a","admin":true}`, 400, "unknown field"},
		{"config missing addresses", "POST", "/start", `{"instance":"a"}`, 400, "mysql_addr is empty"},
		{"config with a bad failpoint term", "POST", "/start",
			`{"instance":"a","mysql_addr":"x:1","redis_addr":"x:2","kafka":["x:3"],"failpoints":{"p":"nonsense(("}}`, 400, "failpoint p"},
		{"sentinels without a master name", "POST", "/start",
			`{"instance":"a","mysql_addr":"x:1","redis_sentinels":["x:4"],"kafka":["x:3"]}`, 400, "redis_sentinels without redis_master"},
		{"neither redis_addr nor sentinels", "POST", "/start", `{"instance":"a","mysql_addr":"x:1","kafka":["x:3"]}`, 400, "redis_addr and redis_sentinels are empty"},
		{"bad failpoint term", "PUT", "/failpoints", `{"paysim/payments/beforeCommit":"nonsense(("}`, 400, "failpoint paysim/payments/beforeCommit"},
		{"malformed failpoints", "PUT", "/failpoints", `return(true)`, 400, "failpoints:"},
		{"failpoints not a map", "PUT", "/failpoints", `["return(true)"]`, 400, "failpoints:"},
		{"failpoint on", "PUT", "/failpoints", `{"paysim/payments/beforeCommit":"return(true)"}`, 204, ""},
		{"every failpoint off", "PUT", "/failpoints", `{}`, 204, ""},
		{"every failpoint off again", "PUT", "/failpoints", `null`, 204, ""},
		{"wrong method", "GET", "/start", "", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := request(t, h, tc.method, tc.path, tc.body)
			if status != tc.status || !strings.Contains(body, tc.msg) {
				t.Fatalf("%s %s: %d %q, want %d containing %q", tc.method, tc.path, status, body, tc.status, tc.msg)
			}
		})
	}
}

// topup asks api for a top-up of u-1 and returns the status; 0 if no
// answer came.
func topup(t *testing.T, api, key string) int {
	t.Helper()
	code, err := tryTopup(api, key)
	if err != nil {
		t.Fatalf("top-up %s: %v", key, err)
	}
	return code
}

func tryTopup(api, key string) (int, error) {
	req, err := http.NewRequest("POST", "http://"+api+"/v1/topups", strings.NewReader(`{"account_id":"u-1","amount":500}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Idempotency-Key", key)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// A node started through its control API serves payments over its routes
// only, and takes the run's failpoints from the same API: a failing step,
// then a crash that ends the process with CrashExitCode.
func TestNodeServesThroughRoutesAndFailpoints(t *testing.T) {
	st := stacktest.New(t)
	ep := st.Endpoints()
	exited := make(chan int, 1)
	api := freeAddr(t)
	n := appnode.NewNode(api, func(code int) { exited <- code })
	t.Cleanup(n.Close)
	srv := httptest.NewServer(appnode.Handler(n))
	t.Cleanup(srv.Close)
	ctl := appnode.NewClient(strings.TrimPrefix(srv.URL, "http://"))

	// The writer is named by an address nothing listens on; only its route
	// reaches the ledger. Every other address routes to itself.
	const unreachable = "127.0.0.1:1"
	routes := map[string]string{unreachable: ep.MySQL.Addr, ep.Redis.Addr: ep.Redis.Addr}
	for _, b := range ep.Kafka.Bootstrap {
		routes[b] = b
	}
	es, err := url.Parse(ep.Elasticsearch.URL)
	if err != nil {
		t.Fatal(err)
	}
	routes[es.Host] = es.Host
	cfg := appnode.FromPayments(payments.Config{
		Instance: "app-test-0", AZ: "az-test", MySQLAddr: unreachable,
		MySQLUser: ep.MySQL.User, MySQLPass: ep.MySQL.Password, MySQLDB: ep.MySQL.Database,
		RedisAddr: ep.Redis.Addr, KafkaBrokers: ep.Kafka.Bootstrap, SearchURLs: []string{ep.Elasticsearch.URL},
	}, routes, map[string]string{payments.FPBeforeCommit: "return(true)"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ctl.Start(ctx, cfg); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := ctl.Start(ctx, cfg); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("second start: %v, want a 409", err)
	}
	if code := topup(t, api, "k-failpoint"); code < 500 {
		t.Fatalf("top-up with before-commit failing: %d, want a 5xx", code)
	}
	if err := ctl.SetFailpoints(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if code := topup(t, api, "k-ok"); code != http.StatusCreated {
		t.Fatalf("top-up through the route: %d, want 201", code)
	}
	if err := ctl.SetFailpoints(ctx, map[string]string{payments.FPAfterCommit: `return("crash")`}); err != nil {
		t.Fatal(err)
	}
	_, _ = tryTopup(api, "k-crash") // the instance dies under it
	select {
	case code := <-exited:
		if code != appnode.CrashExitCode {
			t.Fatalf("exit code %d, want %d", code, appnode.CrashExitCode)
		}
	case <-ctx.Done():
		t.Fatal("the crash failpoint did not end the node")
	}
}

func TestConfigRoundTripsPaymentsTuning(t *testing.T) {
	in := payments.Config{Instance: "i", AZ: "a", MySQLAddr: "m:1", ReaderAddr: "r:1", AsyncReader: true,
		RedisAddr: "r:2", KafkaBrokers: []string{"k:1"}, DBPool: 7, DBTimeout: time.Second, IdemTTL: 3 * time.Second,
		CacheSoloAfter: 9 * time.Second, RelayInterval: time.Millisecond, GroupSuffix: "-dr",
		RedisSentinels: []string{"s:1", "s:2"}, RedisMaster: "paysim"}
	c := appnode.FromPayments(in, nil, nil)
	if c.DBPool != 7 || c.DBTimeout != time.Second || c.IdemTTL != 3*time.Second || c.CacheSoloAfter != 9*time.Second ||
		c.RelayInterval != time.Millisecond || c.GroupSuffix != "-dr" || !c.AsyncReader || c.ReaderAddr != "r:1" ||
		len(c.RedisSentinels) != 2 || c.RedisMaster != "paysim" {
		t.Fatalf("tuning lost: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

// freeAddr is a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr())
}
