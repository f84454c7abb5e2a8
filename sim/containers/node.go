package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"paysim/sim"
	"paysim/sim/containers/engine"
	"paysim/sim/netproxy"
)

// RoleSentinel is the role of a Redis Sentinel node.
const RoleSentinel sim.Role = "sentinel"

// Node is one container of the data tier. It has the abilities of sim.Node
// (Kill is SIGKILL, Restart starts the same container again and waits until
// it is ready), sim.Pauser (docker pause/unpause) and sim.Isolator (docker
// network disconnect/connect on the run's network) and sim.Shaper (toxics on
// the clients' path: the stack's endpoints pointing at it; the kernel has no
// netem, so the containers' own traffic is not slowed). Its published
// address stays the same across all of them.
type Node struct {
	id      string
	service sim.Service
	az      string
	port    string // the container port, e.g. "3306/tcp"
	addr    string // the published 127.0.0.1:port
	reg     *sim.Registry
	cli     *client.Client
	netID   string
	direct  *directs

	// Impairments are the toxics on the clients' path: the stack's
	// endpoints while they point at the node.
	netproxy.Impairments

	mu       sync.Mutex // serialises operations on the container
	ctr      *testcontainers.DockerContainer
	detached bool // cut off from the control planes (Detach)
	// chainReady says the container's network namespace has paysim's
	// iptables chain; a restart gives it a new namespace.
	chainReady bool
}

var (
	_ sim.Node     = (*Node)(nil)
	_ sim.Pauser   = (*Node)(nil)
	_ sim.Isolator = (*Node)(nil)
	_ sim.Detacher = (*Node)(nil)
	_ sim.Shaper   = (*Node)(nil)
)

// ID is the node's id in the stack, e.g. "mysql-ap-northeast-1a"; it is also
// the node's host name on the run's network.
func (n *Node) ID() string { return n.id }

// AZ is the node's Availability Zone.
func (n *Node) AZ() string { return n.az }

// Service is mysql or redis (Sentinels are redis nodes with RoleSentinel).
func (n *Node) Service() sim.Service { return n.service }

// Addr is the node's published address on 127.0.0.1.
func (n *Node) Addr() string { return n.addr }

// InternalAddr is the node's address on the run's network (host name and
// container port), as other nodes (and Sentinel's answers) name it.
func (n *Node) InternalAddr() string {
	p, _ := network.ParsePort(n.port)
	return net.JoinHostPort(n.id, fmt.Sprint(p.Num()))
}

// ContainerID is the Docker container's id.
func (n *Node) ContainerID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ctr.GetContainerID()
}

// Status is the node's state as the fault model sees it.
func (n *Node) Status() sim.NodeStatus {
	s, _ := n.reg.Get(n.id)
	return s
}

func (n *Node) setState(st sim.State) {
	n.reg.Update(n.id, func(s *sim.NodeStatus) { s.State = st })
}

// Kill sends SIGKILL to the container (every process in it dies at once,
// losing what was not durable) and waits until the engine reports it gone.
func (n *Node) Kill(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := sigkill(ctx, n.cli, n.ctr, n.direct); err != nil {
		return fmt.Errorf("kill %s: %w", n.id, err)
	}
	n.setState(sim.StateDown)
	return nil
}

// sigkill sends SIGKILL to a running container, thawing a paused one first
// (a frozen process takes the kill once thawed), waits until it has
// stopped and marks it down for the direct path; a stopped container is no
// error.
func sigkill(ctx context.Context, cli *client.Client, ctr *testcontainers.DockerContainer, dir *directs) error {
	id := ctr.GetContainerID()
	st, err := ctr.State(ctx)
	if err != nil {
		return err
	}
	if st.Paused {
		if _, err := cli.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
			return fmt.Errorf("unpause: %w", err)
		}
	}
	if st.Running {
		if _, err := cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			return err
		}
	}
	if err := waitState(ctx, ctr, func(s stateView) bool { return !s.running }); err != nil {
		return err
	}
	dir.down(id)
	return nil
}

// startStopped starts a stopped container again (same file system, same
// published ports), waiting for its readiness check, and looks its address
// up for the direct path; started is false if it was running.
func startStopped(ctx context.Context, ctr *testcontainers.DockerContainer, dir *directs) (started bool, err error) {
	st, err := ctr.State(ctx)
	if err != nil {
		return false, err
	}
	if st.Running {
		return false, nil
	}
	if err := ctr.Start(ctx); err != nil {
		return false, err
	}
	return true, dir.up(ctx, ctr.GetContainerID())
}

// Restart starts the killed container again (same file system, same
// published port) and waits until its readiness check passes.
func (n *Node) Restart(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	started, err := startStopped(ctx, n.ctr, n.direct)
	if err != nil {
		return fmt.Errorf("restart %s: %w", n.id, err)
	}
	if !started {
		return nil
	}
	n.chainReady = false
	n.setState(n.restStateLocked())
	return nil
}

// Pause freezes every process of the container (docker pause): connections
// stay open and nothing answers.
func (n *Node) Pause(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.cli.ContainerPause(ctx, n.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", n.id, err)
	}
	n.setState(sim.StatePaused)
	return nil
}

// Resume thaws a paused container.
func (n *Node) Resume(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.cli.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("resume %s: %w", n.id, err)
	}
	n.setState(n.restStateLocked())
	return nil
}

// Isolate disconnects the container from the run's network: it keeps
// running, but neither the other nodes nor clients (its published port goes
// through that network) reach it.
func (n *Node) Isolate(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.cli.NetworkDisconnect(ctx, n.netID, client.NetworkDisconnectOptions{Container: n.ctr.GetContainerID(), Force: true}); err != nil {
		return fmt.Errorf("isolate %s: %w", n.id, err)
	}
	n.direct.down(n.ctr.GetContainerID())
	n.setState(sim.StateIsolated)
	return nil
}

// Reconnect attaches the container to the run's network again, under its
// host name.
func (n *Node) Reconnect(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, err := n.cli.NetworkConnect(ctx, n.netID, client.NetworkConnectOptions{
		Container:      n.ctr.GetContainerID(),
		EndpointConfig: &network.EndpointSettings{Aliases: []string{n.id}},
	})
	if err != nil {
		return fmt.Errorf("reconnect %s: %w", n.id, err)
	}
	if err := n.direct.up(ctx, n.ctr.GetContainerID()); err != nil {
		return fmt.Errorf("reconnect %s: %w", n.id, err)
	}
	n.setState(n.restStateLocked())
	return nil
}

// Detach marks the node as cut off from the region's control planes (its AZ
// lost its network; the iptables rules that cut its traffic are the
// region network's): it shows as isolated, the MariaDB control plane treats
// it as lost (a writer is fenced, then failed over) and the Redis endpoints
// stop believing its Sentinel, while the container keeps running.
func (n *Node) Detach(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.detached = true
	if n.Status().State != sim.StateDown {
		n.setState(sim.StateIsolated)
	}
	return nil
}

// Attach undoes Detach.
func (n *Node) Attach(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.detached && n.Status().State == sim.StateIsolated {
		n.setState(sim.StateUp)
	}
	n.detached = false
	return nil
}

// restStateLocked is the state of a node that runs and is connected: up,
// or isolated while it is detached.
func (n *Node) restStateLocked() sim.State {
	if n.detached {
		return sim.StateIsolated
	}
	return sim.StateUp
}

// Detached says whether the node is cut off from the control planes.
func (n *Node) Detached() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.detached
}

// stateView is the part of a container's state waits look at.
type stateView struct{ running, paused bool }

// waitState polls the container's state until cond holds or ctx ends.
func waitState(ctx context.Context, ctr *testcontainers.DockerContainer, cond func(stateView) bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := ctr.State(ctx)
		if err != nil {
			return err
		}
		if cond(stateView{running: st.Running, paused: st.Paused}) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("container state: gave up waiting"), ctx.Err())
		case <-t.C:
		}
	}
}

// nodeLabels are the Docker labels of a node's container.
func nodeLabels(run, id string, svc sim.Service, az string, role sim.Role) (map[string]string, error) {
	return engine.Labels{Run: run, AZ: az, Service: string(svc), Role: string(role), Node: id}.Map()
}

// logTail is the last n lines of a container's log, as a suffix for an
// error that says why it never became ready; empty if there are none.
func logTail(target wait.StrategyTarget, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := target.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return ""
	}
	return "; its log ends:\n  " + strings.Join(lines, "\n  ")
}

// withFile copies content to path in the container before it starts. The
// reader is made afresh each time the option is applied: startNode applies
// a node's options again when it retries on another port, and a reader
// shared between attempts gave the second container an empty file (a
// MariaDB with no accounts, refusing every login with error 1130).
func withFile(path, content string) testcontainers.ContainerCustomizer {
	return testcontainers.CustomizeRequestOption(func(req *testcontainers.GenericContainerRequest) error {
		req.Files = append(req.Files, testcontainers.ContainerFile{
			Reader: strings.NewReader(content), ContainerFilePath: path, FileMode: 0o644,
		})
		return nil
	})
}

// dataVolume puts dir on an anonymous Docker volume of the container's own:
// the engine's storage here is fuse-overlayfs, where every write and fsync
// of a database's files crosses into a user-space daemon (MariaDB's commits
// spent more CPU there than in the server). A volume is the host's file
// system; it outlives a kill and restart of the container, like its
// writable layer, and goes with the container (removed with its volumes).
func dataVolume(dir string) testcontainers.ContainerCustomizer {
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Target: dir})
	})
}
