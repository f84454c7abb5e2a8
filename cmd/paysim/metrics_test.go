package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"paysim/internal/syncbuf"
)

// TestRunServesMetrics: `run --metrics` serves the live load, the fault in
// force, the nodes' states and the app instances' own metrics while the
// run goes on.
func TestRunServesMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the stack")
	}
	file := azOutageFile(t, "50/s", "16s", "4s", "8s")
	var out syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- executeIO(context.Background(), []string{"run", "az-outage", "-f", file, "--ui", "plain", "--out", t.TempDir(), "--metrics", "127.0.0.1:0"}, &out, io.Discard)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := regexp.MustCompile(`metrics: (http://\S+/metrics)`)
	// What must show while the fault is in force, all in one scrape.
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^paysim_fault_active\{kind="az-outage",scenario="az-outage",target="ap-northeast-1a"\} 1$`),
		regexp.MustCompile(`(?m)^paysim_node_state\{az="ap-northeast-1a",node="app-ap-northeast-1a-0",role="[^"]*",scenario="az-outage",service="app",state="down"\} 1$`),
		regexp.MustCompile(`(?m)^paysim_load_target_rate\{scenario="az-outage"\} 50$`),
		regexp.MustCompile(`(?m)^paysim_load_requests_total\{outcome="ok",scenario="az-outage",status="20\d"\} [1-9]`),
		regexp.MustCompile(`(?m)^paysim_load_latency_seconds_bucket\{outcome="ok",scenario="az-outage",le="\+Inf"\} [1-9]`),
		regexp.MustCompile(`(?m)^paysim_http_requests_total\{az="ap-northeast-1c",node="app-ap-northeast-1c-0",route="[^"]+",status="20\d"\} [1-9]`),
	}
	var last string
	for {
		select {
		case code := <-done:
			t.Fatalf("the run ended (exit %d) before /metrics showed the fault; last scrape:\n%s\noutput:\n%s", code, last, out.String())
		case <-ctx.Done():
			t.Fatalf("no scrape showed it all; last scrape:\n%s", last)
		case <-time.After(200 * time.Millisecond):
		}
		m := addr.FindStringSubmatch(out.String())
		if m == nil {
			continue
		}
		resp, err := http.Get(m[1])
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		last = string(body)
		all := true
		for _, re := range want {
			all = all && re.MatchString(last)
		}
		if all {
			break
		}
	}
	// Every metric the example Grafana dashboard reads is served.
	dash, err := os.ReadFile("../../examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`paysim_[a-z_]+`).FindAllString(string(dash), -1) {
		if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(last) {
			t.Errorf("examples/grafana-dashboard.json reads %s, which /metrics does not serve", name)
		}
	}
	if code := <-done; code != exitPass {
		t.Fatalf("run: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "verdict: PASS") {
		t.Fatalf("no verdict:\n%s", out.String())
	}
}
