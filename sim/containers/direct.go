package containers

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// directs lets paysim's own connections to a container port skip the
// engine's userland proxy (docker-proxy, one process per published port,
// which copied every byte of every payment's statements once more: a sixth
// of the machine's CPU at 150 payments/s). A connection meant for a
// published 127.0.0.1 port goes straight to the container's address on the
// run's network (the host is on it, through the gateway) while the
// container is up, and is refused at once while it is down or off the
// network, as the published port refuses it then. Users' own clients keep
// the published ports.
type directs struct {
	cli   *client.Client
	netID string

	mu    sync.Mutex
	ports map[string]directPort // by published address
	ips   map[string]string     // container id -> its address on the run's network; "" while down
}

// directPort is a published port's container and port number.
type directPort struct {
	ctr  string
	port string
}

func newDirects(cli *client.Client, netID string) *directs {
	return &directs{cli: cli, netID: netID, ports: map[string]directPort{}, ips: map[string]string{}}
}

// track records the published address of each container port (e.g.
// "3306/tcp" -> 127.0.0.1:31006) of container ctr and looks its address up.
func (d *directs) track(ctx context.Context, ctr string, published map[string]string) error {
	d.mu.Lock()
	for port, addr := range published {
		p, err := network.ParsePort(port)
		if err != nil {
			d.mu.Unlock()
			return fmt.Errorf("port %q: %w", port, err)
		}
		d.ports[addr] = directPort{ctr: ctr, port: strconv.Itoa(int(p.Num()))}
	}
	d.mu.Unlock()
	return d.up(ctx, ctr)
}

// up looks the container's address on the run's network up again (after a
// start or a reconnect it may have changed).
func (d *directs) up(ctx context.Context, ctr string) error {
	res, err := d.cli.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	ip := ""
	if ns := res.Container.NetworkSettings; ns != nil {
		for _, ep := range ns.Networks {
			if ep != nil && ep.NetworkID == d.netID && ep.IPAddress.IsValid() {
				ip = ep.IPAddress.String()
			}
		}
	}
	d.mu.Lock()
	d.ips[ctr] = ip
	d.mu.Unlock()
	return nil
}

// down marks the container as unreachable (killed, or off the network).
func (d *directs) down(ctr string) {
	d.mu.Lock()
	d.ips[ctr] = ""
	d.mu.Unlock()
}

// Dial dials addr, straight to the container when it is one of the
// tracked published addresses (netproxy.Dialer).
func (d *directs) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	p, tracked := d.ports[addr]
	ip := d.ips[p.ctr]
	d.mu.Unlock()
	var nd net.Dialer
	if !tracked {
		return nd.DialContext(ctx, network, addr)
	}
	if ip == "" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	return nd.DialContext(ctx, network, net.JoinHostPort(ip, p.port))
}
