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
//   - paysim's own clients (the app instances, in their containers through
//     the relays on the gateway, see StartApp) reach the nodes through the
//     stack's endpoints; their side is the region's Links, as in embedded
//     mode, resolved to the node an endpoint points at now;
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
// containers in from send to the containers in to. Each container gets its
// rules in one exec, all containers at once: a docker exec costs tens of
// milliseconds, more on a busy host, and a fault must start on time.
func (r *regionNetwork) Impair(id string, from, to []string, imp sim.LinkImpairment) error {
	if len(from) == 0 || len(to) == 0 {
		return fmt.Errorf("network: %s: empty AZ group", id)
	}
	// The containers' rules first, the clients' paths last: the exec takes
	// a moment, and the fault is in force only once Impair returns.
	if imp.Cut || imp.Loss > 0 {
		if err := r.dropBetween(id, from, to, imp); err != nil {
			return err
		}
	}
	return r.links.Impair(id, from, to, imp)
}

// dropBetween adds the iptables rules of a cut or a loss.
func (r *regionNetwork) dropBetween(id string, from, to []string, imp sim.LinkImpairment) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var senders, receivers []*Node
	for _, n := range r.tier.Nodes() {
		if slices.Contains(from, n.AZ()) {
			senders = append(senders, n)
		}
		if slices.Contains(to, n.AZ()) || slices.Contains(to, n.ID()) {
			receivers = append(receivers, n)
		}
	}
	targets := make([]string, len(receivers)) // addresses on the run's network
	eachNode(receivers, func(i int, n *Node) error {
		targets[i], _ = n.ip(ctx) // down or disconnected: nothing reaches it anyway
		return nil
	})
	match := []string{"-j", "DROP"}
	if !imp.Cut {
		match = []string{"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(imp.Loss, 'f', 4, 64), "-j", "DROP"}
	}
	rules := make([][]dropRule, len(senders))
	err := eachNode(senders, func(i int, n *Node) error {
		var specs [][]string
		for _, ip := range targets {
			if ip == "" {
				continue
			}
			args := append([]string{"-d", ip, "-m", "comment", "--comment", ruleComment(id)}, match...)
			specs = append(specs, args)
			rules[i] = append(rules[i], dropRule{node: n, args: args})
		}
		return n.addRules(ctx, specs)
	})
	r.mu.Lock()
	if r.rules == nil {
		r.rules = map[string][]dropRule{}
	}
	for _, rs := range rules {
		r.rules[id] = append(r.rules[id], rs...)
	}
	r.mu.Unlock()
	if err != nil {
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
	byNode := map[*Node][][]string{}
	var nodes []*Node
	for _, rl := range rules {
		if _, ok := byNode[rl.node]; !ok {
			nodes = append(nodes, rl.node)
		}
		byNode[rl.node] = append(byNode[rl.node], rl.args)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = eachNode(nodes, func(_ int, n *Node) error { return n.deleteRules(ctx, byNode[n]) })
}

// eachNode runs fn for every node at once and joins the errors.
func eachNode(nodes []*Node, fn func(i int, n *Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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

// addRules appends rules to paysimChain in the node's network namespace
// (the container has NET_ADMIN) in one exec and one iptables-restore,
// creating the chain and the jump to it the first time in the container's
// life (a restart gives it a new network namespace).
func (n *Node) addRules(ctx context.Context, specs [][]string) error {
	if len(specs) == 0 {
		return nil
	}
	n.mu.Lock()
	ready := n.chainReady
	n.mu.Unlock()
	var script strings.Builder
	if !ready {
		fmt.Fprintf(&script, "{ iptables -w 5 -N %[1]s 2>/dev/null; iptables -w 5 -C OUTPUT -j %[1]s 2>/dev/null || iptables -w 5 -I OUTPUT -j %[1]s; } && ", paysimChain)
	}
	fmt.Fprintf(&script, "printf '%%s' %s | iptables-restore -w 5 --noflush", shellQuote(restoreText("-A", specs)))
	if err := n.sh(ctx, script.String()); err != nil {
		return err
	}
	n.mu.Lock()
	n.chainReady = true
	n.mu.Unlock()
	return nil
}

// deleteRules removes rules from paysimChain: all in one iptables-restore,
// or, when one is gone already (its restore fails as a whole), each on its
// own.
func (n *Node) deleteRules(ctx context.Context, specs [][]string) error {
	script := []string{"printf '%s' " + shellQuote(restoreText("-D", specs)) + " | iptables-restore -w 5 --noflush 2>/dev/null && exit 0"}
	for _, args := range specs {
		script = append(script, "iptables -w 5 -D "+paysimChain+" "+shellJoin(args)+" 2>/dev/null")
	}
	return n.sh(ctx, strings.Join(script, "; ")+"; true")
}

// restoreText is an iptables-restore input that applies op (-A, -D) with
// each spec in paysimChain, without declaring the chain (which would flush
// it).
func restoreText(op string, specs [][]string) string {
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, args := range specs {
		b.WriteString(op + " " + paysimChain)
		for _, a := range args {
			b.WriteString(` "` + a + `"`)
		}
		b.WriteString("\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// sh runs a shell script in the container.
func (n *Node) sh(ctx context.Context, script string) error {
	n.mu.Lock()
	ctr := n.ctr
	n.mu.Unlock()
	code, out, err := ctr.Exec(ctx, []string{"sh", "-c", script}, tcexec.Multiplexed())
	if err != nil {
		return fmt.Errorf("%s: exec: %w", n.id, err)
	}
	if code != 0 {
		b, _ := io.ReadAll(out)
		return fmt.Errorf("%s: iptables: exit %d: %s", n.id, code, strings.TrimSpace(string(b)))
	}
	return nil
}

// shellJoin quotes args for sh (they are addresses, flags, numbers and
// comments made of a fault id).
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// shellQuote quotes one word for sh.
func shellQuote(a string) string { return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'" }

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
// it now: an endpoint resolves to the node it points at; a data-tier node's
// published address, or its name on the run's network as Sentinel gives it,
// to that node; Kafka and search addresses to the in-process nodes.
func (s *Stack) azOf(addr string) (az, node string) {
	for _, e := range s.endpoints() {
		if e.Addr() == addr {
			n := e.Target()
			return n.AZ(), n.ID()
		}
	}
	if n, ok := s.tier.nodeAt(addr); ok {
		return n.AZ(), n.ID()
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
	if n, ok := s.tier.nodeAt(addr); ok {
		return s.tier.DialUpstream(ctx, network, n.Addr())
	}
	if s.px.Has(addr) || s.side == nil {
		return s.px.DialContext(ctx, network, addr)
	}
	return s.side.Dial(ctx, network, addr)
}
