package tui

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"paysim/loadgen"
	"paysim/report"
)

// Steps draws a sequence of load steps (paysim capacity) as mpb bars, one
// per step: its label, the seconds of load done out of the step's, the
// last second's ok/s and p99, and once it ended its verdict. Safe for
// concurrent use.
type Steps struct {
	p *mpb.Progress

	mu     sync.Mutex // serialises the bars' changes
	bar    *mpb.Bar   // the current step's, nil between steps
	total  int64      // its total, in seconds of load
	status *status    // what it shows after it
}

// status is a bar's text after it, under its own lock: mpb's renderer
// reads it while a change to the bar waits on the renderer.
type status struct {
	mu sync.Mutex
	s  string
}

func (st *status) set(s string) {
	st.mu.Lock()
	st.s = s
	st.mu.Unlock()
}

func (st *status) get() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s
}

// NewSteps starts drawing on w; tty says w writes to a terminal, which
// mpb cannot tell through a wrapper (it then redraws in place).
func NewSteps(w io.Writer, tty bool) *Steps {
	opts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.WithAutoRefresh()}
	if tty {
		opts = append(opts, mpb.ForceTTY())
	}
	return &Steps{p: mpb.New(opts...)}
}

// Start begins a bar for a step of load lasting d; an unfinished bar
// before it is abandoned where it stood.
func (s *Steps) Start(label string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abandon()
	st := &status{s: "setting up"}
	s.status, s.total = st, int64(max(d/time.Second, 1))
	s.bar = s.p.AddBar(s.total,
		mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR), decor.CountersNoUnit("%ds/%ds", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return " " + st.get() })),
		mpb.BarFillerClearOnComplete(),
	)
}

// Tick records one second of the current step's load.
func (s *Steps) Tick(t loadgen.Tick) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bar == nil {
		return
	}
	s.status.set(fmt.Sprintf("ok %4d/s  p99 %7.1f ms", t.OK, report.MS(t.P99)))
	if cur := int64(t.T/time.Second) + 1; cur > s.bar.Current() {
		s.bar.SetCurrent(min(cur, s.total-1)) // the bar completes with End
	}
}

// End completes the current step's bar with its verdict.
func (s *Steps) End(verdict string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bar == nil {
		return
	}
	s.status.set(verdict)
	s.bar.SetTotal(s.total, true)
	s.bar = nil
}

// Close abandons an unfinished bar and waits until mpb drew its last
// frame, so that what is written next does not interleave with it.
func (s *Steps) Close() {
	s.mu.Lock()
	s.abandon()
	s.mu.Unlock()
	s.p.Wait()
}

// abandon stops an unfinished bar where it stood. Callers hold mu.
func (s *Steps) abandon() {
	if s.bar != nil && !s.bar.Completed() {
		s.bar.Abort(false)
	}
	s.bar = nil
}
