package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"paysim/sim"
	"paysim/sim/netproxy"
)

// regionNetwork is the region's network between AZs in containers mode
// (a sim.Network), on two kinds of path:
//
//   - paysim's own clients (the app instances, in-process) reach the nodes
//     through the stack's endpoints; their side is the region's Links, as
//     in embedded mode, resolved to the node an endpoint points at now;
//   - the containers reach each other (MariaDB replication, Sentinel and
//     Redis) over the run's Docker network; there a cut or a loss is an
//     iptables DROP (with -m statistic for loss) in the sending
//     container's own network namespace, tagged with the fault's id.
//
// The kernel has no netem, so latency, jitter and bandwidth apply to the
// clients' paths only (where a payment's time goes); between containers
// only cuts and losses do. Traffic from the host (the control plane, the
// endpoints) never matches a rule: the rules name containers' addresses.
type regionNetwork struct {
	links *netproxy.Links
	tier  *DataTier

	mu    sync.Mutex
	rules map[string][]dropRule // by fault id
}

// dropRule is one iptables rule in a node's paysimChain.
type dropRule struct {
	node *Node
	args []string // the rule's spec after the chain name
}

// paysimChain is the iptables chain every rule of paysim's goes into,
// jumped to from OUTPUT, so that a fault's rules never touch the image's.
const paysimChain = "PAYSIM"

var _ sim.Network = (*regionNetwork)(nil)

// Impair applies imp to the clients' paths from the AZs in from to the
// nodes in to (AZs or node ids), and for a cut or a loss, drops what the
// containers in from send to the containers in to.
func (r *regionNetwork) Impair(id string, from, to []string, imp sim.LinkImpairment) error {
	if err := r.links.Impair(id, from, to, imp); err != nil {
		return err
	}
	if !imp.Cut && imp.Loss <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var targets []string // addresses on the run's network
	var senders []*Node
	for _, n := range r.tier.Nodes() {
		if slices.Contains(from, n.AZ()) {
			senders = append(senders, n)
		}
		if slices.Contains(to, n.AZ()) || slices.Contains(to, n.ID()) {
			ip, err := n.ip(ctx)
			if err != nil {
				continue // down or disconnected: nothing reaches it anyway
			}
			targets = append(targets, ip)
		}
	}
	match := []string{"-j", "DROP"}
	if !imp.Cut {
		match = []string{"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(imp.Loss, 'f', 4, 64), "-j", "DROP"}
	}
	var added []dropRule
	var errs []error
	for _, n := range senders {
		for _, ip := range targets {
			args := append([]string{"-d", ip, "-m", "comment", "--comment", ruleComment(id)}, match...)
			if err := n.iptables(ctx, append([]string{"-A", paysimChain}, args...)...); err != nil {
				errs = append(errs, err)
				continue
			}
			added = append(added, dropRule{node: n, args: args})
		}
	}
	r.mu.Lock()
	if r.rules == nil {
		r.rules = map[string][]dropRule{}
	}
	r.rules[id] = append(r.rules[id], added...)
	r.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		r.Restore(id)
		return fmt.Errorf("network %s: %w", id, err)
	}
	return nil
}

// Restore removes fault id from the clients' paths and its rules from the
// containers. A container that restarted since lost its rules with its
// network namespace; deleting them there fails harmlessly.
func (r *regionNetwork) Restore(id string) {
	r.links.Restore(id)
	r.mu.Lock()
	rules := r.rules[id]
	delete(r.rules, id)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, rl := range rules {
		_ = rl.node.iptables(ctx, append([]string{"-D", paysimChain}, rl.args...)...)
	}
}

// ruleComment tags a fault's rules (iptables comments are at most 256
// bytes).
func ruleComment(id string) string {
	c := "paysim:" + id
	if len(c) > 255 {
		c = c[:255]
	}
	return c
}

// iptables runs iptables in the node's network namespace (the container has
// NET_ADMIN), creating paysimChain and the jump to it on first use.
func (n *Node) iptables(ctx context.Context, args ...string) error {
	n.mu.Lock()
	ctr := n.ctr
	n.mu.Unlock()
	run := func(args ...string) (string, error) {
		code, out, err := ctr.Exec(ctx, append([]string{"iptables", "-w", "5"}, args...), tcexec.Multiplexed())
		if err != nil {
			return "", err
		}
		b, _ := io.ReadAll(out)
		if code != 0 {
			return string(b), fmt.Errorf("iptables %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(string(b)))
		}
		return string(b), nil
	}
	if args[0] == "-A" {
		if _, err := run("-n", "-L", paysimChain); err != nil {
			if _, err := run("-N", paysimChain); err != nil {
				return fmt.Errorf("%s: %w", n.id, err)
			}
		}
		if _, err := run("-C", "OUTPUT", "-j", paysimChain); err != nil {
			if _, err := run("-I", "OUTPUT", "-j", paysimChain); err != nil {
				return fmt.Errorf("%s: %w", n.id, err)
			}
		}
	}
	if _, err := run(args...); err != nil {
		return fmt.Errorf("%s: %w", n.id, err)
	}
	return nil
}

// ip is the node's address on the run's network now (it can change when
// the container restarts or reconnects).
func (n *Node) ip(ctx context.Context) (string, error) {
	n.mu.Lock()
	ctr := n.ctr
	n.mu.Unlock()
	in, err := ctr.Inspect(ctx)
	if err != nil {
		return "", err
	}
	for _, ep := range in.NetworkSettings.Networks {
		if ep.NetworkID == n.netID && ep.IPAddress.IsValid() {
			return ep.IPAddress.String(), nil
		}
	}
	return "", fmt.Errorf("%s: not on the run's network", n.id)
}

// Links is the region's network as paysim's in-process clients see it:
// clients in an AZ dial through Links().Dialer(az).
func (s *Stack) Links() *netproxy.Links { return s.net.links }

// Network is the region's network for link faults: the clients' paths and
// the containers' own traffic.
func (s *Stack) Network() sim.Network { return s.net }

// newNetwork builds the stack's region network once its endpoints are open.
func (s *Stack) newNetwork() *regionNetwork {
	return &regionNetwork{links: netproxy.NewLinks(s.azOf, s.dial), tier: s.tier}
}

// azOf maps an address a client dials to the AZ and id of the node behind
// it now: an endpoint resolves to the node it points at; Kafka and search
// addresses to the in-process nodes.
func (s *Stack) azOf(addr string) (az, node string) {
	eps := []*netproxy.Proxy{s.writer, s.redisWriter, s.redisReader}
	for _, p := range s.readers {
		eps = append(eps, p)
	}
	for _, p := range eps {
		if p == nil || p.Addr() != addr {
			continue
		}
		up := p.Upstream()
		for _, n := range s.tier.Nodes() {
			if n.Addr() == up {
				return n.AZ(), n.ID()
			}
		}
		return "", ""
	}
	if s.side != nil {
		return s.side.AZOf(addr)
	}
	return "", ""
}

// dial opens a client connection: straight to the upstream of one of the
// stack's endpoints (skipping the hop through it), else through the
// in-process side's.
func (s *Stack) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.px.Has(addr) || s.side == nil {
		return s.px.DialContext(ctx, network, addr)
	}
	return s.side.Dial(ctx, network, addr)
}
