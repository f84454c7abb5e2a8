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

// SetFailpoint enables a failpoint in the container's instance.
func (p appContainer) SetFailpoint(ctx context.Context, name, term string) error {
	return p.Control().SetFailpoint(ctx, name, term)
}

// ClearFailpoint disables a failpoint in the container's instance.
func (p appContainer) ClearFailpoint(ctx context.Context, name string) error {
	return p.Control().ClearFailpoint(ctx, name)
}

var (
	_ failpointSetter = appContainer{}
	_ processPauser   = appContainer{}
)
