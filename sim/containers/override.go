package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"paysim/sim"
	"paysim/sim/containers/engine"
	"paysim/sim/containers/images"
)

// imagePrograms are the programs an image of a data-tier service runs
// (besides sh): the servers, and iptables for the network faults in the
// node's own namespace.
func imagePrograms(svc sim.Service) []string {
	switch svc {
	case sim.ServiceMySQL:
		return []string{"mariadbd", "mariadb-install-db", "iptables", "iptables-restore"}
	case sim.ServiceRedis:
		return []string{"redis-server", "redis-sentinel", "redis-cli", "iptables", "iptables-restore"}
	}
	return nil
}

// imageNeeds says what a user's image for svc must contain, for errors.
func imageNeeds(svc sim.Service) string {
	progs := imagePrograms(svc)
	if progs == nil {
		return "a paysim node image (paysim images build makes one: FROM scratch, the static paysim binary as its entrypoint)"
	}
	needs := "sh, " + strings.Join(progs, ", ")
	if svc == sim.ServiceMySQL {
		needs += ", a mysql user"
	}
	return needs
}

// imageCheckTimeout bounds the run of an override's check container.
const imageCheckTimeout = time.Minute

// checkImage makes sure a user's image for svc can stand in for paysim's
// own before any node starts: it is on the engine (paysim never pulls) and,
// for a data-tier service, holds imagePrograms (and the mysql user), found by
// a short container of the image with no network; for a service paysim's
// node image runs, it is a node image. What is missing is an error naming
// the image, the service and what it needs; an absent image wraps
// images.ErrMissing. The check container carries run's labels.
func checkImage(ctx context.Context, eng *engine.Engine, run string, svc sim.Service, ref string) error {
	kind, err := images.KindOf(ctx, eng, ref)
	if err != nil {
		return fmt.Errorf("image for %s: %w", svc, err)
	}
	progs := imagePrograms(svc)
	if progs == nil {
		if kind != images.KindNode {
			return fmt.Errorf("image for %s: %s is not a paysim node image (no label %s=%s): it needs to be %s", svc, ref, images.LabelKind, images.KindNode, imageNeeds(svc))
		}
		return nil
	}
	missing, err := missingPrograms(ctx, run, svc, ref, progs)
	if err != nil {
		return fmt.Errorf("image for %s: %s: %w (it needs %s)", svc, ref, err, imageNeeds(svc))
	}
	if len(missing) > 0 {
		return fmt.Errorf("image for %s: %s lacks %s (it needs %s)", svc, ref, strings.Join(missing, ", "), imageNeeds(svc))
	}
	return nil
}

// missingPrograms runs a container of ref (labelled for the run, without a
// network) that names each of progs sh cannot find, and the mysql user for
// MySQL, and returns those.
func missingPrograms(ctx context.Context, run string, svc sim.Service, ref string, progs []string) ([]string, error) {
	script := `for p in "$@"; do command -v "$p" >/dev/null 2>&1 || echo "$p"; done`
	if svc == sim.ServiceMySQL {
		script += `; id mysql >/dev/null 2>&1 || echo "a mysql user"`
	}
	labels, err := engine.Labels{Run: run, Service: string(svc), Node: "image-check-" + string(svc)}.Map()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, imageCheckTimeout)
	defer cancel()
	ctr, err := testcontainers.Run(cctx, ref,
		testcontainers.WithName(fmt.Sprintf("paysim-%s-image-check-%s", run, svc)),
		testcontainers.WithLabels(labels),
		testcontainers.WithEntrypoint("sh", "-c", script, "paysim-image-check"),
		testcontainers.WithCmd(progs...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "none" }),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(imageCheckTimeout)),
	)
	if ctr != nil {
		defer func() {
			tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = ctr.Terminate(tctx)
		}()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("could not run sh in it: %w", err)
	}
	rc, err := ctr.Logs(cctx)
	if err != nil {
		return nil, fmt.Errorf("check output: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("check output: %w", err)
	}
	var missing []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			missing = append(missing, l)
		}
	}
	return missing, nil
}
