package payments

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Failpoints on the dangerous points of the data path. Enable them on the
// run's *failpoint.Failpoints with pingcap/failpoint terms, e.g.
// `sleep(2000)` (every request stalls, one after another), `return("2s")`
// (the requests that draw it stall), `return("crash")` (the instance dies
// right there), `return(true)` (the step fails), `50%return("crash")`.
const (
	FPBeforeCommit  = "paysim/payments/beforeCommit"
	FPAfterCommit   = "paysim/payments/afterCommit"
	FPBeforePublish = "paysim/payments/beforePublish"
	FPAfterPublish  = "paysim/payments/afterPublish"
	FPConsumerApply = "paysim/payments/consumerApply"
	// FPConsumerCommit is after a batch took effect, before its offsets are committed.
	FPConsumerCommit = "paysim/payments/consumerCommit"
	FPShipBulk       = "paysim/payments/shipBulk"
)

// FailpointNames maps the failpoints' short names (as scenarios write them)
// to their full names.
func FailpointNames() map[string]string {
	return map[string]string{
		"before-commit":   FPBeforeCommit,
		"after-commit":    FPAfterCommit,
		"before-publish":  FPBeforePublish,
		"after-publish":   FPAfterPublish,
		"consumer-apply":  FPConsumerApply,
		"consumer-commit": FPConsumerCommit,
		"ship-bulk":       FPShipBulk,
	}
}

// ErrInjected is returned where a failpoint made a step fail.
var ErrInjected = errors.New("failpoint injected")

// failpoint evaluates one failpoint: a disabled one or a sleep returns nil;
// "crash" kills the instance; a duration ("2500ms") stalls the step that
// long, then lets it go on; any other value fails the step.
//
// A stall is the way to hold up some requests while others run: the
// pingcap term sleep(n) holds the failpoint's lock while it sleeps, so every
// other evaluation of that failpoint waits behind it (3%sleep(2500) stalls
// every request, one sleeper after another), while 3%return("2500ms")
// stalls only the requests that drew it.
func (s *Service) failpoint(name string) error {
	val, err := s.cfg.Failpoints.Eval(name)
	if err != nil || val == nil {
		return nil
	}
	if v, ok := val.(string); ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			time.Sleep(d) // the stall itself: nothing to wait for
			return nil
		}
	}
	if v, ok := val.(string); ok && v == "crash" {
		s.metrics.crashes.Inc()
		go func() {
			s.Kill()
			if s.cfg.OnCrash != nil {
				s.cfg.OnCrash()
			}
		}()
		return fmt.Errorf("%s: %w: instance crashed", name, ErrInjected)
	}
	return fmt.Errorf("%s: %w", name, ErrInjected)
}

// failpointOn reports whether a failpoint is enabled, without evaluating it.
// It asks Status only about a failpoint that was ever enabled: Status
// wraps its "not found" error with a stack trace, which on every movement
// was almost 1% of the process's CPU.
func (s *Service) failpointOn(name string) bool {
	if !slices.Contains(s.cfg.Failpoints.List(), name) {
		return false
	}
	_, err := s.cfg.Failpoints.Status(name)
	return err == nil
}
