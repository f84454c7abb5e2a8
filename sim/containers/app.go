package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"paysim/sim"
	"paysim/sim/appnode"
	"paysim/sim/payments"
)

// App is one payment API instance in a container of the node image on the
// run's network, labelled with its AZ (`paysim node app`). The stack starts
// its instance through the node's control API and sets the run's
// failpoints there. Its dials leave the container through relays on the
// run network's gateway (the host), one per AZ and endpoint, each dialling
// the endpoint with that AZ's view of the region's network, exactly as an
// in-process instance's Dial does. Kill is SIGKILL; an exit the stack did
// not cause (a failpoint's crash) is told to the configuration's OnCrash.
type App struct {
	id    string
	stack *Stack
	cli   *client.Client
	ctr   *testcontainers.DockerContainer
	api   string // the published API address
	ctl   *appnode.Client

	mu      sync.Mutex // serialises the container's operations
	killing bool       // the next exit is the stack's own
}

// appStartTimeout bounds an instance's start in its container.
const appStartTimeout = time.Minute

// StartApp starts instance c.Instance of AZ c.AZ in a new container with
// failpoints on (full name -> term) and returns once it serves.
func (s *Stack) StartApp(ctx context.Context, c payments.Config, failpoints map[string]string) (*App, error) {
	api := fmt.Sprintf("%d/tcp", appnode.APIPort)
	control := fmt.Sprintf("%d/tcp", appnode.ControlPort)
	ctr, published, err := s.tier.startNodeProcess(ctx, nodeProcess{
		image: s.nodeImages[sim.ServiceApp], id: c.Instance, service: sim.ServiceApp, az: c.AZ,
		ports: []string{api, control}, control: control, args: []string{"node", "app"},
	})
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", c.Instance, err)
	}
	a := &App{id: c.Instance, stack: s, cli: s.tier.eng.Client(), ctr: ctr, api: published[api], ctl: appnode.NewClient(published[control])}
	if err := a.begin(ctx, c, failpoints); err != nil {
		return nil, err
	}
	return a, nil
}

// begin starts the instance in the running container and watches for the
// container's exit.
func (a *App) begin(ctx context.Context, c payments.Config, failpoints map[string]string) error {
	routes, err := a.stack.routes(ctx, c)
	if err != nil {
		return fmt.Errorf("app %s: routes: %w", a.id, err)
	}
	sctx, cancel := context.WithTimeout(ctx, appStartTimeout)
	defer cancel()
	if err := a.ctl.Start(sctx, appnode.FromPayments(c, routes, failpoints)); err != nil {
		return fmt.Errorf("app %s: %w", a.id, err)
	}
	a.watch(a.ctr.GetContainerID(), c.OnCrash)
	return nil
}

// watch calls onCrash when the container exits unless Kill caused it.
func (a *App) watch(id string, onCrash func()) {
	wait := a.cli.ContainerWait(context.Background(), id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	go func() {
		select {
		case <-wait.Result:
		case <-wait.Error: // the engine went away or the container was removed
			return
		}
		a.stack.tier.direct.down(id)
		a.mu.Lock()
		killed := a.killing
		a.mu.Unlock()
		if !killed && onCrash != nil {
			onCrash()
		}
	}()
}

// ID is the instance's id, e.g. app-ap-northeast-1a-0.
func (a *App) ID() string { return a.id }

// Addr is the published address of the instance's API; it stays the same
// across restarts.
func (a *App) Addr() string { return a.api }

// Control is the node's control API.
func (a *App) Control() *appnode.Client { return a.ctl }

// State says whether the container runs and whether it is paused.
func (a *App) State(ctx context.Context) (running, paused bool, err error) {
	st, err := a.ctr.State(ctx)
	if err != nil {
		return false, false, fmt.Errorf("%s: %w", a.id, err)
	}
	return st.Running, st.Paused, nil
}

// ContainerID is the container's id.
func (a *App) ContainerID() string { return a.ctr.GetContainerID() }

// Kill sends SIGKILL to the container (a paused one is thawed first) and
// waits until it is gone; a container that had exited already is no error.
func (a *App) Kill(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.killing = true
	if err := sigkill(ctx, a.cli, a.ctr, a.stack.tier.direct); err != nil {
		return fmt.Errorf("kill %s: %w", a.id, err)
	}
	return nil
}

// Start starts the stopped container again (its published ports stay) and
// the instance in it with c and failpoints.
func (a *App) Start(ctx context.Context, c payments.Config, failpoints map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	started, err := startStopped(ctx, a.ctr, a.stack.tier.direct) // waits for the control API
	if err != nil {
		return fmt.Errorf("start %s: %w", a.id, err)
	}
	if !started {
		return nil
	}
	a.killing = false
	return a.begin(ctx, c, failpoints)
}

// Pause freezes the instance's process (docker pause): its connections stay
// open, its consumers and relay stop with it.
func (a *App) Pause(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.cli.ContainerPause(ctx, a.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", a.id, err)
	}
	return nil
}

// Resume thaws a paused instance; one that is not paused is no error.
func (a *App) Resume(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.ctr.State(ctx)
	if err != nil {
		return fmt.Errorf("resume %s: %w", a.id, err)
	}
	if !st.Paused { // killed while paused: Kill thawed it
		return nil
	}
	if _, err := a.cli.ContainerUnpause(ctx, a.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("resume %s: %w", a.id, err)
	}
	return nil
}

// AppImage is the image the app containers run.
func (s *Stack) AppImage() string { return s.nodeImages[sim.ServiceApp] }

// routes maps every address an instance of c dials to a relay for its AZ
// on the run network's gateway, starting the relays it lacks: the
// endpoints, and for a client of Sentinel every Redis and Sentinel node by
// the name Sentinel gives it, so that what Sentinel answers is dialled with
// the AZ's view of the network too.
func (s *Stack) routes(ctx context.Context, c payments.Config) (map[string]string, error) {
	addrs := []string{c.MySQLAddr, c.ReaderAddr, c.RedisAddr}
	if len(c.RedisSentinels) > 0 {
		addrs = append(addrs, c.RedisSentinels...)
		for _, n := range s.tier.Nodes() {
			if n.Service() == sim.ServiceRedis {
				addrs = append(addrs, n.InternalAddr())
			}
		}
	}
	addrs = append(addrs, c.KafkaBrokers...)
	for _, u := range c.SearchURLs {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("search url %q: %w", u, err)
		}
		addrs = append(addrs, pu.Host)
	}
	gw, err := s.gateway(ctx)
	if err != nil {
		return nil, err
	}
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	if s.relayClosed {
		return nil, errors.New("the stack is closing")
	}
	if s.relays == nil {
		s.relays = map[string]*relay{}
	}
	out := map[string]string{}
	for _, addr := range addrs {
		if addr == "" {
			continue
		}
		key := c.AZ + " " + addr
		r, ok := s.relays[key]
		if !ok {
			if r, err = startRelay(net.JoinHostPort(gw, "0"), addr, s.Links().Dialer(c.AZ)); err != nil {
				return nil, fmt.Errorf("relay to %s: %w", addr, err)
			}
			s.relays[key] = r
		}
		out[addr] = r.Addr()
	}
	return out, nil
}

// gateway is the host's address on the run's network, where the relays
// listen (so that only the run's containers reach them).
func (s *Stack) gateway(ctx context.Context) (string, error) {
	s.relayMu.Lock()
	gw := s.gw
	s.relayMu.Unlock()
	if gw != "" {
		return gw, nil
	}
	gw, err := s.tier.gateway(ctx)
	if err != nil {
		return "", err
	}
	s.relayMu.Lock()
	s.gw = gw
	s.relayMu.Unlock()
	return gw, nil
}

// closeRelays closes every relay; no new one starts after.
func (s *Stack) closeRelays() {
	s.relayMu.Lock()
	rs := s.relays
	s.relays, s.relayClosed = nil, true
	s.relayMu.Unlock()
	for _, r := range rs {
		r.Close()
	}
}

// gateway is the gateway address of the run's network: the host's address
// on it.
func (d *DataTier) gateway(ctx context.Context) (string, error) {
	d.mu.Lock()
	nw := d.net
	d.mu.Unlock()
	if nw == nil {
		return "", errors.New("the run has no network")
	}
	res, err := d.eng.Client().NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("network: %w", err)
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			return c.Gateway.String(), nil
		}
	}
	return "", fmt.Errorf("network %s has no IPv4 gateway", nw.Name)
}
