package containers

import (
	"context"
	"testing"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"paysim/sim"
	"paysim/sim/containers/engine"
)

// testTopology is the default topology; small enough for one machine.
func testTopology() sim.Topology { return sim.DefaultTopology() }

// startTier starts a data tier for the test and closes it at the end.
func startTier(t *testing.T, opt Options) *DataTier {
	t.Helper()
	if opt.Topology.AZs == nil {
		opt.Topology = testTopology()
	}
	if opt.Logger == nil {
		opt.Logger = tclog.TestLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	d, err := Start(ctx, opt)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("data tier up in %v: %s", time.Since(start).Round(time.Millisecond), d)
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d
}

// requireNothingLeft fails the test if anything labelled with run remains.
func requireNothingLeft(t *testing.T, eng *engine.Engine, run string) {
	t.Helper()
	left, err := eng.Leftovers(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("run %s left %d resources: %+v", run, len(left), left)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return time.Since(start)
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, last)
		case <-tick.C:
		}
	}
}
