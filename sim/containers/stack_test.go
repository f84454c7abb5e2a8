package containers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"paysim/sim"
	"paysim/sim/containers/containerstest"
	"paysim/sim/containers/engine"
)

// TestStartStackWithoutImage: a missing image is an environment error that
// names the command building it, and nothing of the run is left.
func TestStartStackWithoutImage(t *testing.T) {
	eng := containerstest.Require(t)
	run := engine.NewRunID(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := StartStack(ctx, testTopology(), StackOptions{Run: run, Image: "paysim-base:not-built-" + run[len(run)-6:], Dir: t.TempDir()})
	if err == nil {
		_ = s.Close()
		t.Fatal("started without the image")
	}
	if !errors.Is(err, sim.ErrEnvironment) || !strings.Contains(err.Error(), "paysim images build") {
		t.Fatalf("err = %v, want an environment error naming `paysim images build`", err)
	}
	requireNothingLeft(t, eng, run)
}
