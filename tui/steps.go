package tui

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
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

	mu    sync.Mutex // serialises the bars' changes
	bar   *mpb.Bar   // the current step's, nil between steps
	total int64      // its total, in seconds of load
	// status is what it shows after it, read by mpb's renderer while a
	// change to the bar waits on the renderer: no lock.
	status *atomic.Pointer[string]
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
	st := new(atomic.Pointer[string])
	s.status, s.total = st, int64(max(d/time.Second, 1))
	s.setStatus("setting up")
	s.bar = s.p.AddBar(s.total,
		mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR), decor.CountersNoUnit("%ds/%ds", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return " " + *st.Load() })),
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
	s.setStatus(fmt.Sprintf("ok %4d/s  p99 %7.1f ms", t.OK, report.MS(t.P99)))
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
	s.setStatus(verdict)
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

// setStatus sets the current bar's status. Callers hold mu.
func (s *Steps) setStatus(v string) { s.status.Store(&v) }

// abandon stops an unfinished bar where it stood. Callers hold mu.
func (s *Steps) abandon() {
	if s.bar != nil && !s.bar.Completed() {
		s.bar.Abort(false)
	}
	s.bar = nil
}
