package loadgen

import (
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// newMetrics returns an aggregator over a fixed epoch and the ticks it emits.
func newMetrics(t *testing.T) (*Metrics, time.Time, *[]Tick) {
	t.Helper()
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ticks []Tick
	return NewMetrics(epoch, time.Second, func(tk Tick) { ticks = append(ticks, tk) }), epoch, &ticks
}

// result builds a vegeta result sent at `at` after epoch.
func result(epoch time.Time, at, latency time.Duration, code uint16, errText string) *vegeta.Result {
	return &vegeta.Result{Timestamp: epoch.Add(at), Latency: latency, Code: code, Error: errText}
}

// within reports whether got is within HDR's 3-significant-figure error of want.
func within(got, want time.Duration) bool {
	tol := want/1000 + time.Microsecond
	return got >= want-tol && got <= want+tol
}

func TestMetricsPercentiles(t *testing.T) {
	m, epoch, _ := newMetrics(t)
	for i := 1; i <= 1000; i++ { // 0.1 ms .. 100 ms, all in second 0
		m.Add(result(epoch, 0, time.Duration(i)*time.Millisecond/10, 201, ""))
	}
	s := m.Close()
	checks := []struct {
		name      string
		got, want time.Duration
	}{
		{"p50", s.P50, 50 * time.Millisecond},
		{"p95", s.P95, 95 * time.Millisecond},
		{"p99", s.P99, 99 * time.Millisecond},
		{"max", s.Max, 100 * time.Millisecond},
		{"tick p99", s.Timeline[0].P99, 99 * time.Millisecond},
		{"tick max", s.Timeline[0].Max, 100 * time.Millisecond},
	}
	for _, c := range checks {
		if !within(c.got, c.want) {
			t.Errorf("%s = %s, want %s (±0.1%%)", c.name, c.got, c.want)
		}
	}
	if s.Total != 1000 || s.OK != 1000 || len(s.Timeline) != 1 {
		t.Errorf("summary %+v", s)
	}
}

func TestMetricsTicks(t *testing.T) {
	m, epoch, ticks := newMetrics(t)
	ms := time.Millisecond
	// second 0: 2 ok, 1 business rejection; second 1: 1 ok, 1 unknown (timeout), 1 never sent;
	// second 2: nothing; second 3: one 503.
	m.Add(result(epoch, 100*ms, 10*ms, 201, ""))
	m.Add(result(epoch, 200*ms, 30*ms, 200, ""))
	m.Add(result(epoch, 300*ms, 20*ms, 402, "402 Payment Required"))
	m.Add(result(epoch, 900*ms, 200*ms, 201, "")) // sent in second 0, completes in second 1
	m.Add(result(epoch, 1100*ms, 500*ms, 0, `Post "x": loadgen: outcome unknown after 3 attempts: timeout`))
	m.Add(result(epoch, 1200*ms, 1*ms, 0, `Post "x": loadgen: request never sent after 3 attempts: connection refused`))

	m.Advance(2 * time.Second) // seconds 0 and 1 are over
	if len(*ticks) != 2 {
		t.Fatalf("after Advance(2s): %d ticks, want 2", len(*ticks))
	}
	m.Add(result(epoch, 500*ms, 100*ms, 201, "")) // late: lands in the oldest open interval (2)
	m.Add(result(epoch, 3100*ms, 40*ms, 503, "503 Service Unavailable"))
	s := m.Close()

	want := []Tick{
		{T: 0, Requests: 3, OK: 2, Failed: 1, Errors: 0, RPS: 3},
		{T: time.Second, Requests: 3, OK: 1, Failed: 1, Errors: 1, RPS: 3},
		{T: 2 * time.Second, Requests: 1, OK: 1, RPS: 1},
		{T: 3 * time.Second, Requests: 1, Errors: 1, RPS: 1},
	}
	if len(*ticks) != len(want) || len(s.Timeline) != len(want) {
		t.Fatalf("got %d ticks (%d in summary), want %d: %+v", len(*ticks), len(s.Timeline), len(want), *ticks)
	}
	sum := 0
	for i, w := range want {
		got := (*ticks)[i]
		if got != s.Timeline[i] {
			t.Errorf("tick %d: callback %+v != summary %+v", i, got, s.Timeline[i])
		}
		sum += got.Requests
		got.P50, got.P95, got.P99, got.Max = 0, 0, 0, 0
		if got != w {
			t.Errorf("tick %d = %+v, want %+v", i, got, w)
		}
	}
	if tk := (*ticks)[1]; !within(tk.Max, 500*ms) || !within(tk.P50, 200*ms) {
		t.Errorf("tick 1 latencies %+v", tk)
	}
	if sum != s.Total || s.Total != 8 || s.OK != 4 || s.Failed != 2 || s.Unknown != 2 {
		t.Errorf("summary %+v, ticks add up to %d", s, sum)
	}
	wantStatus := map[int]int{200: 1, 201: 3, 402: 1, 0: 2, 503: 1}
	for code, n := range wantStatus {
		if s.ByStatus[code] != n {
			t.Errorf("ByStatus[%d] = %d, want %d (%v)", code, s.ByStatus[code], n, s.ByStatus)
		}
	}
	// Span: first send at 100ms, last completion at 3.14s.
	if s.Duration != 3040*ms {
		t.Errorf("Duration = %s, want 3.04s", s.Duration)
	}
	m.Add(result(epoch, 4*time.Second, ms, 201, ""))
	if m.Summary().Total != 8 {
		t.Error("Add after Close must be ignored")
	}
}

func TestMetricsEmptyIntervals(t *testing.T) {
	m, _, ticks := newMetrics(t)
	m.Advance(3500 * time.Millisecond) // a stalled start still produces ticks
	m.Advance(time.Second)             // going back emits nothing
	if len(*ticks) != 3 {
		t.Fatalf("%d ticks, want 3", len(*ticks))
	}
	for i, tk := range *ticks {
		if tk != (Tick{T: time.Duration(i) * time.Second}) {
			t.Errorf("tick %d = %+v, want empty", i, tk)
		}
	}
	if s := m.Close(); s.Total != 0 || s.Rate != 0 || len(s.Timeline) != 3 {
		t.Errorf("summary %+v", s)
	}
}

func TestMetricsRates(t *testing.T) {
	m, epoch, _ := newMetrics(t)
	for i := range 200 { // 100/s for 2 s, half of them OK
		code := uint16(201)
		if i%2 == 1 {
			code = 409
		}
		m.Add(result(epoch, time.Duration(i)*10*time.Millisecond, 10*time.Millisecond, code, ""))
	}
	s := m.Close()
	if s.Duration != 2*time.Second || s.Rate != 100 || s.Throughput != 50 {
		t.Errorf("duration %s rate %v throughput %v, want 2s 100 50", s.Duration, s.Rate, s.Throughput)
	}
}

func TestResultOutcome(t *testing.T) {
	tests := []struct {
		res  vegeta.Result
		want string
	}{
		{vegeta.Result{Code: 201}, EventOK},
		{vegeta.Result{Code: 404, Error: "404 Not Found"}, EventFail},
		{vegeta.Result{Code: 500, Error: "500 Internal Server Error"}, EventUnknown},
		{vegeta.Result{Error: `Post "http://x": loadgen: request never sent after 3 attempts: dial tcp: connection refused`}, EventFail},
		{vegeta.Result{Error: `Post "http://x": loadgen: outcome unknown after 3 attempts: EOF`}, EventUnknown},
	}
	for _, tt := range tests {
		if got := ResultOutcome(&tt.res); got != tt.want {
			t.Errorf("ResultOutcome(%d %q) = %s, want %s", tt.res.Code, tt.res.Error, got, tt.want)
		}
	}
}
