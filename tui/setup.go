package tui

import (
	"io"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Setup draws the stack's setup steps as an mpb progress bar on a plain
// terminal, before the dashboard takes the screen. Safe for concurrent use.
type Setup struct {
	mu   sync.Mutex
	p    *mpb.Progress
	bar  *mpb.Bar
	step string
	done bool
}

// NewSetup starts the setup bar on w.
func NewSetup(w io.Writer) *Setup {
	s := &Setup{step: "starting nodes…"}
	// Auto refresh draws even when w is not a terminal (forced --ui tui).
	s.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(72), mpb.WithAutoRefresh())
	s.bar = s.p.AddBar(0,
		mpb.PrependDecorators(decor.Name("setup ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace), decor.Any(func(decor.Statistics) string {
			s.mu.Lock()
			defer s.mu.Unlock()
			return " " + s.step
		})),
	)
	return s
}

// Progress records a completed setup step (scenarios.Options.Progress).
func (s *Setup) Progress(step string, done, total int) {
	s.mu.Lock()
	s.step = "✓ " + step
	finished := s.done
	s.mu.Unlock()
	if finished {
		return
	}
	s.bar.SetTotal(int64(total), false)
	s.bar.SetCurrent(int64(done))
	if done >= total {
		s.bar.SetTotal(int64(total), true)
	}
}

// Done completes the bar (or abandons it if setup stopped short) and waits
// until mpb has drawn its last frame, so that what is written next to the
// terminal does not interleave with it. It is idempotent.
func (s *Setup) Done() {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	s.mu.Unlock()
	if !s.bar.Completed() {
		s.bar.Abort(false)
	}
	s.p.Wait()
}
