package containers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"paysim/sim"
	"paysim/sim/containers/containerstest"
	"paysim/sim/containers/engine"
	"paysim/sim/containers/images"
)

// userImage tags ref as a user's image would be named (removed at the
// end of the test) and returns the tag.
func userImage(t *testing.T, eng *engine.Engine, ref, name string) string {
	t.Helper()
	tag := "paysim-test-" + name + ":" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	ctx := context.Background()
	if _, err := eng.Client().ImageTag(ctx, client.ImageTagOptions{Source: ref, Target: tag}); err != nil {
		t.Fatalf("tag %s as %s: %v", ref, tag, err)
	}
	t.Cleanup(func() { _, _ = eng.Client().ImageRemove(context.Background(), tag, client.ImageRemoveOptions{}) })
	return tag
}

// withoutPrograms commits an image of the base with progs removed, as a
// user's image lacking them would be, and returns its tag.
func withoutPrograms(t *testing.T, eng *engine.Engine, run string, progs ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	labels, err := engine.Labels{Run: run, Node: "image-maker"}.Map()
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := testcontainers.Run(ctx, images.BaseRef(),
		testcontainers.WithLabels(labels),
		testcontainers.WithEntrypoint("sh", "-c", `for p in "$@"; do rm -f "$(command -v "$p")"; done`, "rm"),
		testcontainers.WithCmd(progs...),
		testcontainers.WithWaitStrategy(wait.ForExit()))
	if ctr != nil {
		defer func() { _ = ctr.Terminate(context.Background()) }()
	}
	if err != nil {
		t.Fatal(err)
	}
	tag := "paysim-test-without:" + run
	if _, err := eng.Client().ContainerCommit(ctx, ctr.GetContainerID(), client.ContainerCommitOptions{Reference: tag}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = eng.Client().ImageRemove(context.Background(), tag, client.ImageRemoveOptions{}) })
	return tag
}

// TestCheckImage: a user's image stands in for paysim's own only when it is
// on the engine (never pulled) and holds what its service needs; each
// refusal names the image, the service and what is missing, and the check
// leaves no container behind.
func TestCheckImage(t *testing.T) {
	eng := containerstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	node, err := nodeImage(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := engine.NewRunID(time.Now())
	base := userImage(t, eng, images.BaseRef(), "base")
	noIptables := withoutPrograms(t, eng, run, "iptables", "redis-sentinel")
	tests := []struct {
		name    string
		svc     sim.Service
		ref     string
		want    string // in the error; "" means accepted
		missing bool   // wraps images.ErrMissing
	}{
		{"MariaDB and Redis from a user's image holding them", sim.ServiceMySQL, base, "", false},
		{"the same image for Redis and its Sentinels", sim.ServiceRedis, base, "", false},
		{"a node image for the app", sim.ServiceApp, node, "", false},
		{"a node image for Kafka", sim.ServiceKafka, node, "", false},
		{"an image not on the engine", sim.ServiceMySQL, "paysim-test-absent:" + run, "never pulls", true},
		{"a MySQL image without iptables", sim.ServiceMySQL, noIptables, "lacks iptables (it needs", false},
		{"a Redis image without iptables and Sentinel", sim.ServiceRedis, noIptables, "lacks redis-sentinel, iptables", false},
		{"an image without sh", sim.ServiceRedis, node, "could not run sh", false},
		{"a server image for the app", sim.ServiceApp, base, "not a paysim node image", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkImage(ctx, eng, run, tt.svc, tt.ref)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkImage(%s, %s) = %v, want nil", tt.svc, tt.ref, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), string(tt.svc)) {
				t.Fatalf("checkImage(%s, %s) = %v, want an error naming %s and containing %q", tt.svc, tt.ref, err, tt.svc, tt.want)
			}
			if errors.Is(err, images.ErrMissing) != tt.missing {
				t.Errorf("errors.Is(ErrMissing) = %v, want %v", !tt.missing, tt.missing)
			}
		})
	}
	requireNothingLeft(t, eng, run)
}
