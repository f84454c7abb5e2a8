package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/sim"
)

type nodes []sim.NodeStatus

func (n nodes) Nodes() []sim.NodeStatus { return n }

// scrape reads the server's /metrics as Prometheus would.
func scrape(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value is the series of fam whose labels include want, or fails.
func value(t *testing.T, fams map[string]*dto.MetricFamily, fam string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[fam]
	if !ok {
		t.Fatalf("no %s", fam)
	}
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no %s%v among %d series", fam, want, len(f.Metric))
	return 0
}

func TestRunMetrics(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP paysim_db_retries_total Ledger transaction retries.\n# TYPE paysim_db_retries_total counter\npaysim_db_retries_total 7\n")
	}))
	t.Cleanup(app.Close)
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	if fams := scrape(t, s); len(fams) != 0 {
		t.Fatalf("before any run: %d families", len(fams))
	}
	r := NewRun("az-outage", vegeta.Rate{Freq: 200, Per: time.Second})
	s.Serve(r)
	for _, res := range []*vegeta.Result{
		{Code: 201, Latency: 3 * time.Millisecond}, {Code: 201, Latency: 5 * time.Millisecond},
		{Code: 409, Latency: 2 * time.Millisecond}, {Code: 503, Latency: time.Second},
	} {
		r.Result(res)
	}
	r.Tick(loadgen.Tick{T: 4 * time.Second, Requests: 4, OK: 2, Failed: 1, Errors: 1, RPS: 4})
	rec := chaos.Record{Kind: "az-outage", Target: "ap-northeast-1a"}
	r.Fault(rec, true)
	r.Live(nodes{
		{ID: "app-1a", Service: sim.ServiceApp, AZ: "ap-northeast-1a", Role: "api", State: sim.StateDown, Addr: "127.0.0.1:1"},
		{ID: "app-1c", Service: sim.ServiceApp, AZ: "ap-northeast-1c", Role: "api", State: sim.StateUp, Addr: strings.TrimPrefix(app.URL, "http://")},
		{ID: "mysql-1c", Service: sim.ServiceMySQL, AZ: "ap-northeast-1c", Role: "primary", State: sim.StateUp},
	})

	fams := scrape(t, s)
	tests := []struct {
		fam    string
		labels map[string]string
		want   float64
	}{
		{"paysim_load_target_rate", map[string]string{"scenario": "az-outage"}, 200},
		{"paysim_load_rate", map[string]string{"outcome": "ok"}, 2},
		{"paysim_load_rate", map[string]string{"outcome": "unknown"}, 1},
		{"paysim_load_requests_total", map[string]string{"outcome": "ok", "status": "201"}, 2},
		{"paysim_load_requests_total", map[string]string{"outcome": "unknown", "status": "503"}, 1},
		{"paysim_load_latency_seconds", map[string]string{"outcome": "ok"}, 2},
		{"paysim_fault_active", map[string]string{"kind": "az-outage", "target": "ap-northeast-1a"}, 1},
		{"paysim_faults_injected_total", map[string]string{"kind": "az-outage"}, 1},
		{"paysim_node_state", map[string]string{"node": "app-1a", "state": "down", "az": "ap-northeast-1a"}, 1},
		{"paysim_node_state", map[string]string{"node": "mysql-1c", "role": "primary", "state": "up"}, 1},
		// The app's own metrics, from the instance that answers.
		{"paysim_db_retries_total", map[string]string{"node": "app-1c", "az": "ap-northeast-1c"}, 7},
	}
	for _, tt := range tests {
		if got := value(t, fams, tt.fam, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.fam, tt.labels, got, tt.want)
		}
	}
	if n := len(fams["paysim_db_retries_total"].Metric); n != 1 {
		t.Errorf("%d app series: the down instance should be left out", n)
	}

	r.Fault(rec, false)
	if got := value(t, scrape(t, s), "paysim_fault_active", map[string]string{"kind": "az-outage"}); got != 0 {
		t.Errorf("healed fault still active: %v", got)
	}
	// The next run replaces the first.
	s.Serve(NewRun("baseline", vegeta.Rate{Freq: 50, Per: time.Second}))
	if got := value(t, scrape(t, s), "paysim_load_target_rate", map[string]string{"scenario": "baseline"}); got != 50 {
		t.Errorf("second run's target %v", got)
	}
}

func TestListenBadAddress(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:notaport", "127.0.0.1:99999"} {
		if _, err := Listen(addr); err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
			t.Errorf("Listen(%q): %v, want a metrics: error", addr, err)
		}
	}
}
