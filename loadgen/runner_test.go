package loadgen

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// runHistory reads the history a run wrote and checks every invoke has
// exactly one completion.
func runHistory(t *testing.T, buf *bytes.Buffer) []Event {
	t.Helper()
	lines := strings.Count(buf.String(), "\n")
	evs, err := ReadHistory(buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != lines {
		t.Fatalf("%d events from %d lines", len(evs), lines)
	}
	if _, err := CheckPairs(evs); err != nil {
		t.Fatal(err)
	}
	return evs
}

// completions counts completion events by type.
func completions(evs []Event) map[string]int {
	n := map[string]int{}
	for _, e := range evs {
		if e.Type != EventInvoke {
			n[e.Type]++
		}
	}
	return n
}

func TestRunConstantRate(t *testing.T) {
	f, srv := newFakePay(t)
	var hist bytes.Buffer
	var ticks []Tick
	cfg := Config{
		Targets:  []string{srv.URL},
		Pacer:    vegeta.Rate{Freq: 200, Per: time.Second},
		Duration: 2 * time.Second,
		Mix:      MixConfig{Users: 20, Merchants: 5},
		Seed:     1,
		RunID:    "t1",
		Retry:    RetryPolicy{}, // defaults: a slow moment on a busy machine must not cause retries
		History:  &hist,
		OnTick:   func(tk Tick) { ticks = append(ticks, tk) },
	}
	s, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary: total=%d ok=%d failed=%d unknown=%d rate=%.1f/s p99=%s by_status=%v ticks=%d",
		s.Total, s.OK, s.Failed, s.Unknown, s.Rate, s.P99, s.ByStatus, len(ticks))
	if want := 400; s.Total < want*98/100 || s.Total > want*102/100 {
		t.Errorf("total %d, want %d ±2%%", s.Total, want)
	}
	if s.OK+s.Failed+s.Unknown != s.Total || s.Unknown != 0 || s.OK == 0 {
		t.Errorf("summary %+v: want ok+failed = total and nothing unknown against a healthy server", s)
	}
	if p := s.Pacing; p.Due < 396 || p.Due > 404 || p.Fired != s.Total || p.LateCount == 0 {
		t.Errorf("pacing %+v: want ~400 hits due, every one fired (%d), and their lateness timed", p, s.Total)
	}

	evs := runHistory(t, &hist)
	if len(evs) != 2*s.Total {
		t.Errorf("history has %d lines, want 2 × %d", len(evs), s.Total)
	}
	c := completions(evs)
	if c[EventOK] != s.OK || c[EventFail] != s.Failed || c[EventUnknown] != s.Unknown {
		t.Errorf("history completions %v disagree with summary ok=%d failed=%d unknown=%d", c, s.OK, s.Failed, s.Unknown)
	}
	sum := 0
	for _, tk := range ticks {
		sum += tk.Requests
	}
	if sum != s.Total || len(ticks) < 2 || len(s.Timeline) != len(ticks) {
		t.Errorf("%d ticks adding up to %d, want ≥ 2 adding up to %d", len(ticks), sum, s.Total)
	}

	// Refunds only name payments that had already succeeded.
	paid := map[string]bool{}
	refunds := 0
	for _, e := range evs {
		switch {
		case e.Type == EventOK && e.Op == OpPayment:
			paid[e.ResultID] = true
		case e.Type == EventInvoke && e.Op == OpRefund:
			refunds++
			if !paid[e.PaymentID] {
				t.Errorf("refund %s of %q, not an earlier successful payment", e.Key, e.PaymentID)
			}
		}
	}
	if refunds == 0 {
		t.Error("no refunds in 2 s of default mix")
	}
	// Auto-charge: a user refused for funds (the fake starts everyone at
	// zero) is topped up soon after. Refusals in the last half second may
	// end the run first.
	var last int64
	for _, e := range evs {
		last = max(last, e.TNS)
	}
	refused := 0
	for i, e := range evs {
		if e.Type != EventFail || e.Status != http.StatusPaymentRequired || e.TNS > last-int64(500*time.Millisecond) {
			continue
		}
		refused++
		charged := false
		for _, later := range evs[i+1:] {
			if later.Type == EventInvoke && later.Op == OpTopup && later.From == e.From {
				charged = true
				break
			}
		}
		if !charged {
			t.Errorf("%s by %s refused at %v for funds, and no top-up of %s followed", e.Op, e.From, time.Duration(e.TNS), e.From)
		}
	}
	if refused == 0 {
		t.Error("no refusals for funds against a fake that starts every balance at zero")
	}
	f.mu.Lock()
	writes := f.writes
	f.mu.Unlock()
	writeOps := 0
	for _, e := range evs {
		if e.Type == EventInvoke && e.Op != OpBalance {
			writeOps++
		}
	}
	if writes != writeOps {
		t.Errorf("server saw %d writes, history invoked %d", writes, writeOps)
	}
}

func TestRunConnectionRefused(t *testing.T) {
	var hist bytes.Buffer
	s, err := Run(testCtx(t), Config{
		Targets:  []string{"http://" + refusedAddr(t)},
		Pacer:    vegeta.Rate{Freq: 50, Per: time.Second},
		Duration: 400 * time.Millisecond,
		Retry:    fastPolicy(),
		History:  &hist,
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := runHistory(t, &hist)
	c := completions(evs)
	if s.Total == 0 || s.Failed != s.Total || c[EventFail] != s.Total || s.ByStatus[0] != s.Total {
		t.Errorf("summary %+v, history %v: every operation must fail (never sent)", s, c)
	}
}

func TestRunCancelAbandonsInFlight(t *testing.T) {
	// Every 5th write hangs until the client gives up.
	var n atomic.Int64
	_, fake := newFakePay(t)
	release := make(chan struct{})
	srv := newHandlerServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && n.Add(1)%5 == 0 {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		fake.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(release) })

	var hist bytes.Buffer
	ticks := make(chan Tick, 100)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	type out struct {
		s   Summary
		err error
	}
	done := make(chan out, 1)
	go func() {
		s, err := Run(ctx, Config{
			Targets: []string{srv.URL},
			Pacer:   vegeta.Rate{Freq: 100, Per: time.Second},
			Retry:   RetryPolicy{MaxAttempts: 3, AttemptTimeout: 20 * time.Second, Deadline: time.Minute},
			History: &hist,
			OnTick:  func(tk Tick) { ticks <- tk },
		})
		done <- out{s, err}
	}()
	waitTick(t, ticks, func(tk Tick) bool { return tk.Requests > 0 })
	cancel()

	bounded, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	var o out
	select {
	case o = <-done:
	case <-bounded.Done():
		t.Fatal("Run did not return promptly after cancellation")
	}
	if !errors.Is(o.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", o.err)
	}
	evs := runHistory(t, &hist)
	c := completions(evs)
	if o.s.Unknown == 0 || c[EventUnknown] != o.s.Unknown || c[EventOK] != o.s.OK || 2*o.s.Total != len(evs) {
		t.Errorf("summary %+v vs history %v (%d events): hung operations must end unknown in both", o.s, c, len(evs))
	}
}

func TestRunPauseResume(t *testing.T) {
	_, srv := newFakePay(t)
	ticks := make(chan Tick, 100)
	r, err := NewRunner(Config{
		Targets: []string{srv.URL},
		Pacer:   vegeta.Rate{Freq: 200, Per: time.Second},
		Retry:   fastPolicy(),
		OnTick:  func(tk Tick) { ticks <- tk },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx)
		done <- err
	}()

	waitTick(t, ticks, func(tk Tick) bool { return tk.Requests > 0 })
	r.Pause(true)
	r.Pause(true) // idempotent
	if !r.Paused() {
		t.Fatal("Paused() = false after Pause(true)")
	}
	waitTick(t, ticks, func(tk Tick) bool { return tk.Requests == 0 }) // a whole second with nothing sent
	before := r.Snapshot().Total
	waitTick(t, ticks, func(tk Tick) bool { return tk.Requests == 0 }) // and another
	if after := r.Snapshot().Total; after != before {
		t.Errorf("%d operations completed while paused", after-before)
	}

	r.Pause(false)
	r.Pause(false)
	// The pacer resumes where it left off: no catch-up burst for the paused time.
	for range 2 {
		tk := waitTick(t, ticks, func(tk Tick) bool { return tk.Requests > 0 })
		if tk.Requests > 230 {
			t.Errorf("tick %+v after resume: a burst above the 200/s rate", tk)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
	if r.Snapshot().Total == 0 {
		t.Error("empty snapshot after the run")
	}
	if _, err := r.Run(testCtx(t)); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second Run = %v, want refused", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Targets: []string{"http://127.0.0.1:1"}, Pacer: vegeta.Rate{Freq: 1, Per: time.Second}}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"valid", func(*Config) {}, ""},
		{"no targets", func(c *Config) { c.Targets = nil }, "no target"},
		{"no pacer", func(c *Config) { c.Pacer = nil }, "no pacer"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "negative"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "negative"},
		{"negative connections", func(c *Config) { c.MaxConnections = -1 }, "connections"},
		{"bad mix", func(c *Config) { c.Mix.Users = 1 }, "users"},
		{"bad retry", func(c *Config) { c.Retry.MaxAttempts = -2 }, "attempts"},
		{"bad url", func(c *Config) { c.Targets = []string{"localhost:80"} }, "http"},
		{"no host", func(c *Config) { c.Targets = []string{"http://"} }, "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			_, err := NewRunner(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// waitTick reads ticks until one satisfies cond, bounded by the test context.
func waitTick(t *testing.T, ticks <-chan Tick, cond func(Tick) bool) Tick {
	t.Helper()
	ctx := testCtx(t)
	for {
		select {
		case tk := <-ticks:
			if cond(tk) {
				return tk
			}
		case <-ctx.Done():
			t.Fatal("no matching tick before the test deadline")
		}
	}
}

func TestRunCancelDuringLongPacerWait(t *testing.T) {
	_, srv := newFakePay(t)
	r, err := NewRunner(Config{Targets: []string{srv.URL}, Pacer: vegeta.Rate{Freq: 1, Per: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx)
		done <- err
	}()
	waitFor(t, func() bool { return r.metrics.Load() != nil }) // running, first hit due in an hour
	cancel()
	bounded, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-bounded.Done():
		t.Fatal("Run stuck in the pacer's hour-long wait")
	}
}

func TestRunDoesNotFollowRedirects(t *testing.T) {
	srv := newHandlerServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v1/payments", http.StatusTemporaryRedirect)
	}))
	var hist bytes.Buffer
	s, err := Run(testCtx(t), Config{
		Targets:  []string{srv.URL},
		Pacer:    vegeta.Rate{Freq: 50, Per: time.Second},
		Duration: 300 * time.Millisecond,
		Retry:    fastPolicy(),
		History:  &hist,
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := runHistory(t, &hist) // a followed redirect would invoke a key twice
	if s.Total == 0 || s.ByStatus[307] != s.Total || completions(evs)[EventUnknown] != s.Total {
		t.Errorf("summary %+v: want every operation to end on its 307 as unknown", s)
	}
}

// TestPacingLateness drives the pausable pacer by hand, as vegeta's pacing
// goroutine would, with hits released late: the lateness measured is how
// long after its due time each hit went out, whether the pacer reports a
// negative wait (vegeta's constant pacer) or 0 once behind (the step
// pacer), and the hits due by the end count those never fired.
func TestPacingLateness(t *testing.T) {
	per100 := vegeta.Rate{Freq: 100, Per: time.Second} // a hit every 10 ms
	tests := []struct {
		name  string
		pacer vegeta.Pacer
	}{
		{name: "constant", pacer: vegeta.ConstantPacer(per100)},
		{name: "step", pacer: StepPacer{Start: per100, Step: vegeta.Rate{Freq: 0, Per: time.Second}, Every: time.Hour}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &pausablePacer{inner: tc.pacer, gate: &gate{}, stop: make(chan struct{}), du: time.Minute}
			paceHitsLate(t, p, nil)
			got := p.pacing()
			// 10 hits timed on time (hits 0..9, timed by the next Pace), 9 late
			// ones: hit 10 timed at 1.61 s (1.5 s late), hits 11..18 likewise.
			if got.LateCount != 19 {
				t.Fatalf("timed %d hits, want 19", got.LateCount)
			}
			if got.LateMax < 1490*time.Millisecond || got.LateMax > 1510*time.Millisecond {
				t.Fatalf("max lateness %v, want ~1.5s", got.LateMax)
			}
			if got.LateP50 > time.Millisecond {
				t.Fatalf("p50 lateness %v, want ~0 (half the hits were on time)", got.LateP50)
			}
			if got.LateP99 < 1490*time.Millisecond {
				t.Fatalf("p99 lateness %v, want ~1.5s", got.LateP99)
			}
		})
	}
}

// paceHitsLate drives p by hand, as vegeta's pacing goroutine would: hit i
// is due at (i+1)*10ms; hits 0..9 go out on time, then 10..18 each 1.5 s
// late (the process was starved, or the workers held, for a while). before,
// when set, is called ahead of the Pace call for hit i.
func paceHitsLate(t *testing.T, p *pausablePacer, before func(i uint64)) {
	t.Helper()
	for i := uint64(0); i < 20; i++ {
		if before != nil {
			before(i)
		}
		// Pace for hit i is called when hit i-1 went out: on time (at its
		// due time, i*10ms) up to hit 9, 1.5 s late after.
		now := time.Duration(i) * 10 * time.Millisecond
		if i >= 11 {
			now += 1500 * time.Millisecond
		}
		wait, stop := p.Pace(now, i)
		if stop {
			t.Fatalf("hit %d: pacer stopped", i)
		}
		if due := time.Duration(i+1) * 10 * time.Millisecond; i < 11 && now+wait != due {
			t.Fatalf("hit %d: released for %v, due %v", i, now+wait, due)
		}
	}
}

// TestPacingCountsHitsNeverSent: a run whose hits stopped going out still
// counts the hits its schedule called for until it ended.
func TestPacingCountsHitsNeverSent(t *testing.T) {
	p := &pausablePacer{inner: vegeta.ConstantPacer(vegeta.Rate{Freq: 100, Per: time.Second}), gate: &gate{}, stop: make(chan struct{}), du: 2 * time.Second}
	for i := uint64(0); i < 50; i++ {
		p.Pace(time.Duration(i)*10*time.Millisecond, i)
	}
	p.began = time.Now().Add(-5 * time.Second) // the attack began 5 s ago; the load lasted 2 s
	got := p.pacing()
	if got.Due < 199 || got.Due > 201 {
		t.Fatalf("due %d, want the 200 hits of 2 s at 100/s", got.Due)
	}
	if got.Fired < 50 || got.Fired > 51 {
		t.Fatalf("fired %d, want 50", got.Fired)
	}
}

// TestPacingLeavesPoolFullOut: hits handed over while every worker waited
// on an answer are counted apart, not in the lateness that measures the
// host: the system held the workers, the host did not starve them.
func TestPacingLeavesPoolFullOut(t *testing.T) {
	tests := []struct {
		name string
		full func(i uint64) bool // at the Pace call for hit i
		pool int                 // hits counted as waiting on the system
	}{
		{name: "full throughout", full: func(i uint64) bool { return i >= 11 }, pool: 9},
		// The pool is full at the first late hand-off only: the hits due
		// before it go out in the catch-up with workers free, still late
		// for the system's sake.
		{name: "catch-up after", full: func(i uint64) bool { return i == 11 }, pool: 9},
		{name: "never full", full: func(uint64) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var full bool
			p := &pausablePacer{inner: vegeta.ConstantPacer(vegeta.Rate{Freq: 100, Per: time.Second}), gate: &gate{}, stop: make(chan struct{}), du: time.Minute,
				full: func() bool { return full }}
			paceHitsLate(t, p, func(i uint64) { full = tc.full(i) })
			got := p.pacing()
			if got.PoolFull != tc.pool || got.LateCount != 19-tc.pool {
				t.Fatalf("pool full %d, host lateness over %d hits: want %d and %d", got.PoolFull, got.LateCount, tc.pool, 19-tc.pool)
			}
			if tc.pool > 0 && (got.LateMax > time.Millisecond || got.PoolFullLateMax < 1490*time.Millisecond || got.PoolFullLateMax > 1510*time.Millisecond) {
				t.Errorf("host lateness max %v, pool full latest %v: want ~0 and ~1.5s", got.LateMax, got.PoolFullLateMax)
			}
			if tc.pool == 0 && got.LateMax < 1490*time.Millisecond {
				t.Errorf("host lateness max %v: want ~1.5s, the pool never full", got.LateMax)
			}
		})
	}
}

// TestRunCountsHitsWaitingForAWorker: a system slower than the rate holds
// every worker, and the hits that wait for one are counted as such, not as
// the load generator's (the host's) lateness.
func TestRunCountsHitsWaitingForAWorker(t *testing.T) {
	_, fake := newFakePay(t)
	srv := newHandlerServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slow := time.NewTimer(100 * time.Millisecond) // 4 workers answer 40/s of the 100/s
		defer slow.Stop()
		select {
		case <-slow.C:
		case <-r.Context().Done():
			return
		}
		fake.Config.Handler.ServeHTTP(w, r)
	}))
	s, err := Run(testCtx(t), Config{
		Targets:    []string{srv.URL},
		Pacer:      vegeta.Rate{Freq: 100, Per: time.Second},
		Duration:   time.Second,
		MaxWorkers: 4,
		Retry:      fastPolicy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Pacing
	t.Logf("pacing %+v", p)
	if p.PoolFull < 10 || p.PoolFullLateMax < 200*time.Millisecond {
		t.Errorf("pool full %d, latest %v: want the hits after the first few, hundreds of ms late", p.PoolFull, p.PoolFullLateMax)
	}
	if p.LateP99 >= p.PoolFullLateMax {
		t.Errorf("lateness p99 %v: the hits that waited for a worker (latest %v) must be left out of it", p.LateP99, p.PoolFullLateMax)
	}
}
