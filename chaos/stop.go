package chaos

import (
	"fmt"
	"time"
)

// StopCondition aborts a run whose steady state is lost for too long: an
// error rate above MaxErrorRate for For (the local form of an AWS FIS stop
// condition). Errors are unknown outcomes (5xx, timeouts); a second in which
// nothing completed counts as all errors.
type StopCondition struct {
	MaxErrorRate float64 // 0..1
	For          time.Duration
}

// Validate checks the bounds.
func (s StopCondition) Validate() error {
	if s.MaxErrorRate <= 0 || s.MaxErrorRate > 1 {
		return specErr("max_error_rate", "%v: want a share in (0%%, 100%%]", s.MaxErrorRate)
	}
	if s.For <= 0 {
		return specErr("for", "must be positive")
	}
	return nil
}

// StopWatch applies a StopCondition to per-interval counts.
type StopWatch struct {
	cond StopCondition
	bad  time.Duration // consecutive time over the bound
}

// NewStopWatch watches cond.
func NewStopWatch(cond StopCondition) *StopWatch { return &StopWatch{cond: cond} }

// Observe takes one interval of length d ending at t and reports whether
// the condition tripped, with a reason.
func (w *StopWatch) Observe(t, d time.Duration, requests, errors int) (string, bool) {
	rate := 1.0
	if requests > 0 {
		rate = float64(errors) / float64(requests)
	}
	if rate <= w.cond.MaxErrorRate {
		w.bad = 0
		return "", false
	}
	w.bad += d
	if w.bad < w.cond.For {
		return "", false
	}
	return fmt.Sprintf("error rate above %.0f%% for %v (at %.0fs)", w.cond.MaxErrorRate*100, w.cond.For, t.Seconds()), true
}
