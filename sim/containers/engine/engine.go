// Package engine is paysim's one way to a Docker engine: it prepares the
// process environment testcontainers-go reads, connects to the local engine
// (or reports its absence as an environment error), labels what paysim
// creates, publishes ports on loopback only, and removes a run's leftovers.
//
// Every code path that touches Docker goes through Connect (or Setup first),
// so the two settings this machine needs are always in place: Ryuk disabled
// (its image cannot be pulled; paysim removes what it creates itself) and the
// published-port host overridden to 127.0.0.1 (testcontainers would otherwise,
// seeing /.dockerenv, poll the default gateway, an address off this machine).
package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"paysim/sim"
)

// Environment variables testcontainers-go reads, and the values paysim needs.
const (
	EnvRyukDisabled = "TESTCONTAINERS_RYUK_DISABLED"
	EnvHostOverride = "TESTCONTAINERS_HOST_OVERRIDE"
	// LoopbackHost is where every published port is bound and dialled.
	LoopbackHost = "127.0.0.1"
)

// pingTimeout bounds the engine check: a missing engine answers at once, a
// hung one must not hold the CLI.
const pingTimeout = 10 * time.Second

// Setup sets the variables testcontainers-go reads before its first use:
// Ryuk off and published ports reached on 127.0.0.1. testcontainers reads its
// configuration once per process, so Setup must run before any other
// testcontainers call; Connect calls it. Values already set are overwritten:
// neither setting may be otherwise here.
func Setup() error {
	if err := os.Setenv(EnvRyukDisabled, "true"); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if err := os.Setenv(EnvHostOverride, LoopbackHost); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}

// Engine is a connection to the local Docker engine.
type Engine struct {
	cli *testcontainers.DockerClient
}

// Connect runs Setup and connects to the local Docker engine, checking that
// it answers. Without one the error wraps sim.ErrEnvironment and says, in one
// line, why and what to do.
func Connect(ctx context.Context) (e *Engine, err error) {
	if err := Setup(); err != nil {
		return nil, err
	}
	if err := localDockerHost(os.Getenv("DOCKER_HOST")); err != nil {
		return nil, fmt.Errorf("%w: docker: %v", sim.ErrEnvironment, err)
	}
	if err := pingDockerHost(ctx, os.Getenv("DOCKER_HOST")); err != nil {
		return nil, noEngine(err)
	}
	defer func() {
		// testcontainers panics when it finds no Docker host at all.
		if r := recover(); r != nil {
			e, err = nil, noEngine(fmt.Errorf("%v", r))
		}
	}()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, noEngine(err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
		cli.Close()
		return nil, noEngine(err)
	}
	return &Engine{cli: cli}, nil
}

// pingDockerHost checks the engine DOCKER_HOST names, when set: left to
// itself, testcontainers would pass over an engine that does not answer and
// use the default socket, which is not what the user pointed at.
func pingDockerHost(ctx context.Context, host string) error {
	if host == "" {
		return nil
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("DOCKER_HOST=%s: %w", host, err)
	}
	return nil
}

func noEngine(err error) error {
	return fmt.Errorf("%w: no Docker engine (%s); start Docker or point DOCKER_HOST at a local engine, or use --mode embedded",
		sim.ErrEnvironment, firstLine(err.Error()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// localDockerHost accepts an engine on this machine: a socket, or TCP on a
// loopback address. Ports are published on the engine's host and dialled on
// 127.0.0.1, so a remote engine cannot work (and would expose them).
func localDockerHost(host string) error {
	if host == "" {
		return nil
	}
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("DOCKER_HOST %q: %w", host, err)
	}
	switch u.Scheme {
	case "unix", "npipe":
		return nil
	case "tcp", "http", "https":
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("DOCKER_HOST %q is not on this machine: paysim publishes ports on %s and needs a local engine", host, LoopbackHost)
	default:
		return fmt.Errorf("DOCKER_HOST %q: unsupported scheme %q", host, u.Scheme)
	}
}

// Client is the Docker API client, for operations testcontainers does not
// wrap (kill, pause, network connect, image build and import).
func (e *Engine) Client() *client.Client { return e.cli.Client }

// Close releases the connection.
func (e *Engine) Close() error { return e.cli.Close() }

// Resource is one container or network found by label.
type Resource struct {
	Kind string // "container" or "network"
	Name string
	ID   string
	Run  string
}

// Leftovers lists the containers and networks of run (every run when empty).
func (e *Engine) Leftovers(ctx context.Context, run string) ([]Resource, error) {
	f := make(client.Filters).Add("label", RunFilter(run))
	cs, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []Resource
	for _, c := range cs.Items {
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, Resource{Kind: "container", Name: name, ID: c.ID, Run: c.Labels[LabelRun]})
	}
	ns, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns.Items {
		out = append(out, Resource{Kind: "network", Name: n.Name, ID: n.ID, Run: n.Labels[LabelRun]})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Run != out[j].Run {
			return out[i].Run < out[j].Run
		}
		return out[i].Kind < out[j].Kind // containers before their networks
	})
	return out, nil
}

// Sweep removes every container, then every network, labelled with run
// (every paysim run when run is empty), running or not, and returns what it
// removed. It is the cleanup of last resort: after a run's own Close, and
// for `paysim down` after a process was killed.
func (e *Engine) Sweep(ctx context.Context, run string) ([]Resource, error) {
	found, err := e.Leftovers(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var removed []Resource
	var errs []error
	for _, r := range found { // containers first: a network in use cannot go
		switch r.Kind {
		case "container":
			// A paused container is thawed first: its processes must be
			// able to take the kill.
			_, _ = e.cli.ContainerUnpause(ctx, r.ID, client.ContainerUnpauseOptions{})
			_, err = e.cli.ContainerRemove(ctx, r.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		case "network":
			_, err = e.cli.NetworkRemove(ctx, r.ID, client.NetworkRemoveOptions{})
		}
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s %s: %w", r.Kind, r.Name, err))
			continue
		}
		removed = append(removed, r)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("sweep: %w", errors.Join(errs...))
	}
	return removed, nil
}

func isNotFound(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "No such") || strings.Contains(err.Error(), "not found"))
}

// PublishLoopback exposes each container port ("3306/tcp") and publishes it
// on 127.0.0.1 only, on the host port given (0: one the engine picks, which
// changes when the container restarts). Docker binds every interface unless
// told otherwise, which would expose a database with a known password.
func PublishLoopback(ports map[string]int) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		bindings := network.PortMap{}
		for p, hostPort := range ports {
			port, err := network.ParsePort(p)
			if err != nil {
				return fmt.Errorf("publish %q: %w", p, err)
			}
			hp := ""
			if hostPort > 0 {
				hp = fmt.Sprint(hostPort)
			}
			bindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr(LoopbackHost), HostPort: hp}}
			req.ExposedPorts = append(req.ExposedPorts, p)
		}
		sort.Strings(req.ExposedPorts)
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if hc.PortBindings == nil {
				hc.PortBindings = network.PortMap{}
			}
			for p, b := range bindings {
				hc.PortBindings[p] = b
			}
		})(req)
	}
}

// Binding is one published port of a container as the engine reports it.
type Binding struct {
	Container string // name
	Port      string // the container port, e.g. "3306/tcp"
	HostIP    string // "" means every interface
	HostPort  string
}

// Loopback reports whether the binding is reachable from this machine only.
func (b Binding) Loopback() bool {
	ip := net.ParseIP(b.HostIP)
	return ip != nil && ip.IsLoopback()
}

// Bindings reads the port bindings of every container of run, both as
// configured and as in effect, from the engine.
func (e *Engine) Bindings(ctx context.Context, run string) ([]Binding, error) {
	if run == "" {
		return nil, errors.New("bindings: no run id")
	}
	found, err := e.Leftovers(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("bindings: %w", err)
	}
	var out []Binding
	for _, r := range found {
		if r.Kind != "container" {
			continue
		}
		in, err := e.cli.ContainerInspect(ctx, r.ID, client.ContainerInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("bindings: inspect %s: %w", r.Name, err)
		}
		add := func(pm network.PortMap) {
			for p, bs := range pm {
				for _, b := range bs {
					ip := ""
					if b.HostIP.IsValid() {
						ip = b.HostIP.String()
					}
					out = append(out, Binding{Container: r.Name, Port: p.String(), HostIP: ip, HostPort: b.HostPort})
				}
			}
		}
		if hc := in.Container.HostConfig; hc != nil {
			add(hc.PortBindings)
		}
		if ns := in.Container.NetworkSettings; ns != nil {
			add(ns.Ports)
		}
	}
	return out, nil
}
