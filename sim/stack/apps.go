package stack

import (
	"context"
	"sync"
	"time"

	"paysim/sim"
	"paysim/sim/containers"
	"paysim/sim/payments"
)

// containerApps runs each instance in a container of its own (containers
// mode): a kill is SIGKILL, a restart starts the same container again, a
// pause is docker pause, and the run's failpoints are set through each
// node's control API.
type containerApps struct {
	b *containers.Stack

	mu   sync.Mutex
	apps map[string]*containers.App // by instance id, once created
}

func newContainerApps(b *containers.Stack) *containerApps {
	return &containerApps{b: b, apps: map[string]*containers.App{}}
}

func (h *containerApps) launch(ctx context.Context, cfg payments.Config, fps map[string]string) (process, error) {
	h.mu.Lock()
	app := h.apps[cfg.Instance]
	h.mu.Unlock()
	if app != nil {
		if err := app.Start(ctx, cfg, fps); err != nil {
			return nil, err
		}
		return appContainer{app}, nil
	}
	app, err := h.b.StartApp(ctx, cfg, fps)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.apps[cfg.Instance] = app
	h.mu.Unlock()
	return appContainer{app}, nil
}

func (h *containerApps) describe(id string) sim.NodeInfo {
	return sim.NodeInfo{ID: id, Service: sim.ServiceApp, Image: h.b.AppImage(), Version: "paysim payments API (container)"}
}

// appContainer is an instance in its container, as a process.
type appContainer struct{ *containers.App }

// appCallTimeout bounds one call on an app container (its control API, a
// kill).
const appCallTimeout = 30 * time.Second

// Kill sends SIGKILL to the container; it cannot fail short of the engine
// failing, and then the run's teardown removes the container.
func (p appContainer) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), appCallTimeout)
	defer cancel()
	_ = p.App.Kill(ctx)
}

// InFlight asks the node; one that does not answer handles nothing.
func (p appContainer) InFlight() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := p.Control().InFlight(ctx)
	if err != nil {
		return 0
	}
	return n
}

// SetFailpoints sets the container's failpoints (see failpointSetter). A
// push that fails while the container still runs is tried again for a
// moment: a process that crashes under it takes a few milliseconds to show
// as stopped.
func (p appContainer) SetFailpoints(ctx context.Context, set map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, appPushTimeout)
	defer cancel()
	for {
		running, paused, err := p.State(ctx)
		switch {
		case err != nil:
			return err
		case !running:
			return nil
		case paused:
			return errFrozen
		}
		err = p.Control().SetFailpoints(ctx, set)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// appPushTimeout bounds SetFailpoints on one container.
const appPushTimeout = 5 * time.Second

var (
	_ failpointSetter = appContainer{}
	_ processPauser   = appContainer{}
)
