// Package testwait is the tests' one way to wait on a condition: poll it
// under a deadline instead of sleeping a guessed amount.
package testwait

import (
	"context"
	"testing"
	"time"
)

// For polls cond every few milliseconds until it holds, failing the test
// with what was awaited if timeout passes first.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}
