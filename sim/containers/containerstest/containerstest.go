// Package containerstest holds what the container tests share: the check
// that a Docker engine and the base image are here.
package containerstest

import (
	"context"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"paysim/sim/containers/engine"
	"paysim/sim/containers/images"
)

// Require skips the test, saying why, in -short mode, without a Docker
// engine or without the base image; otherwise it returns a connection to
// the engine, closed at the end of the test. engine.Setup runs before
// anything of testcontainers: it reads its configuration once per process.
func Require(t *testing.T) *engine.Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("containers: skipped in -short mode")
	}
	if err := engine.Setup(); err != nil {
		t.Fatal(err)
	}
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := engine.Connect(ctx)
	if err != nil {
		t.Skipf("containers: no Docker engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	ok, err := images.Present(ctx, eng, images.BaseRef())
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skipf("containers: image %s is not built: run `go run ./cmd/paysim images build` first (.ci/run does)", images.BaseRef())
	}
	return eng
}
