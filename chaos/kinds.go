package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"paysim/sim"
)

// Optional abilities of a Cluster; a fault needing one fails cleanly when it
// is missing.
type (
	networked interface{ Network() sim.Network }
	switcher  interface {
		Switchover(ctx context.Context, svc sim.Service) error
	}
	leaderMover interface {
		MoveKafkaLeaders(ctx context.Context) error
	}
	failpointed interface {
		EnableFailpoint(ctx context.Context, name, term string) error
		DisableFailpoint(ctx context.Context, name string) error
	}
	topologied interface{ Topology() sim.Topology }
	// replicaLagger makes a replica apply its primary's commits lag late
	// (0: as soon as they arrive) and confirms the replica took it.
	replicaLagger interface {
		LagReplica(ctx context.Context, node string, lag time.Duration) error
	}
)

// needsNothing is the Needs of a fault that asks only what every sim.Node
// can do (Kill, Restart): it runs in every mode.
type needsNothing struct{}

// Needs is nothing beyond sim.Node.
func (needsNothing) Needs() []sim.Need { return nil }

// stackNeeds is a fault's need of the stack itself.
func stackNeeds(a sim.Ability) []sim.Need { return []sim.Need{{Ability: a}} }

// azs lists the cluster's AZs in topology order.
func azs(c Cluster) []string {
	if t, ok := c.(topologied); ok {
		return t.Topology().AZs
	}
	var out []string
	for _, n := range c.Nodes() {
		if az := n.Status().AZ; !slices.Contains(out, az) {
			out = append(out, az)
		}
	}
	return out
}

func network(c Cluster) (sim.Network, error) {
	if n, ok := c.(networked); ok {
		if nw := n.Network(); nw != nil {
			return nw, nil
		}
	}
	return nil, errors.New("this stack has no region network to impair")
}

func others(all []string, except []string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(except, a) {
			out = append(out, a)
		}
	}
	return out
}

// AZNetwork is the network variant of az-outage: the AZ is cut off from the
// other AZs and the load balancer; its processes keep running, its
// primaries are failed over by control planes elsewhere, and clients inside
// it still reach what runs there (split brain is allowed to happen).
type AZNetwork struct {
	AZ string
}

// Name is the fault kind.
func (f AZNetwork) Name() string { return "az-outage" }

// Needs is the region network.
func (AZNetwork) Needs() []sim.Need { return stackNeeds(sim.AbilityNetwork) }

// Target is the AZ.
func (f AZNetwork) Target() string { return f.AZ + " (network)" }

func (f AZNetwork) id() string { return "az-network/" + f.AZ }

// Inject cuts the AZ off.
func (f AZNetwork) Inject(ctx context.Context, c Cluster) error {
	nw, err := network(c)
	if err != nil {
		return err
	}
	rest := others(azs(c), []string{f.AZ})
	if len(rest) == 0 {
		return fmt.Errorf("az-outage network: no AZ other than %q", f.AZ)
	}
	if err := nw.Impair(f.id()+"/out", []string{f.AZ}, rest, sim.LinkImpairment{Cut: true}); err != nil {
		return err
	}
	if err := nw.Impair(f.id()+"/in", rest, []string{f.AZ}, sim.LinkImpairment{Cut: true}); err != nil {
		return err
	}
	return detachAZ(ctx, c, f.AZ)
}

// Heal reconnects the AZ.
func (f AZNetwork) Heal(ctx context.Context, c Cluster) error {
	if nw, err := network(c); err == nil {
		nw.Restore(f.id() + "/out")
		nw.Restore(f.id() + "/in")
	}
	return attachAZ(ctx, c, f.AZ)
}

// detachAZ hides an AZ's nodes from their control planes and its app
// instances from the load balancer, leaving them running.
func detachAZ(ctx context.Context, c Cluster, az string) error {
	var errs []error
	for _, n := range nodesWhere(c, func(s sim.NodeStatus) bool { return s.AZ == az }) {
		switch {
		case n.Status().Service == sim.ServiceApp:
			if i, ok := n.(sim.Isolator); ok {
				errs = append(errs, i.Isolate(ctx))
			}
		default:
			if d, ok := n.(sim.Detacher); ok {
				errs = append(errs, d.Detach(ctx))
			}
		}
	}
	return errors.Join(errs...)
}

func attachAZ(ctx context.Context, c Cluster, az string) error {
	var errs []error
	for _, n := range nodesWhere(c, func(s sim.NodeStatus) bool { return s.AZ == az }) {
		if i, ok := n.(sim.Isolator); ok && n.Status().Service == sim.ServiceApp {
			errs = append(errs, i.Reconnect(ctx))
		}
		if d, ok := n.(sim.Detacher); ok {
			errs = append(errs, d.Attach(ctx))
		}
	}
	return errors.Join(errs...)
}

// Partition cuts the network between two groups of AZs. Symmetric: both
// ways, and the smaller group (B on a tie) loses its control planes, so its
// primaries fail over to the larger side. One-way: only A→B traffic is
// lost, which no control plane notices.
type Partition struct {
	A, B   []string
	OneWay bool
}

// Name is the fault kind.
func (f Partition) Name() string { return "partition" }

// Target is "A|B" (symmetric) or "A->B" (one-way), groups comma-separated.
func (f Partition) Target() string {
	sep := "|"
	if f.OneWay {
		sep = "->"
	}
	return strings.Join(f.A, ",") + sep + strings.Join(f.B, ",")
}

// Needs is the region network.
func (Partition) Needs() []sim.Need { return stackNeeds(sim.AbilityNetwork) }

func (f Partition) id() string { return "partition/" + f.Target() }

func (f Partition) minority() []string {
	if len(f.A) < len(f.B) {
		return f.A
	}
	return f.B
}

// Inject cuts the links.
func (f Partition) Inject(ctx context.Context, c Cluster) error {
	nw, err := network(c)
	if err != nil {
		return err
	}
	if err := nw.Impair(f.id()+"/ab", f.A, f.B, sim.LinkImpairment{Cut: true}); err != nil {
		return err
	}
	if f.OneWay {
		return nil
	}
	if err := nw.Impair(f.id()+"/ba", f.B, f.A, sim.LinkImpairment{Cut: true}); err != nil {
		return err
	}
	var errs []error
	for _, az := range f.minority() {
		for _, n := range nodesWhere(c, func(s sim.NodeStatus) bool { return s.AZ == az && s.Service != sim.ServiceApp }) {
			if d, ok := n.(sim.Detacher); ok {
				errs = append(errs, d.Detach(ctx))
			}
		}
	}
	return errors.Join(errs...)
}

// Heal restores the links.
func (f Partition) Heal(ctx context.Context, c Cluster) error {
	if nw, err := network(c); err == nil {
		nw.Restore(f.id() + "/ab")
		nw.Restore(f.id() + "/ba")
	}
	var errs []error
	if !f.OneWay {
		for _, az := range f.minority() {
			for _, n := range nodesWhere(c, func(s sim.NodeStatus) bool { return s.AZ == az && s.Service != sim.ServiceApp }) {
				if d, ok := n.(sim.Detacher); ok {
					errs = append(errs, d.Attach(ctx))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Scope is where a network impairment applies: one node, every node of an
// AZ, or the links from one group of AZs to another (both ways).
type Scope struct {
	Node     string
	AZ       string
	From, To []string
}

func (s Scope) String() string {
	switch {
	case s.Node != "":
		return s.Node
	case s.AZ != "":
		return s.AZ
	default:
		return strings.Join(s.From, ",") + "<->" + strings.Join(s.To, ",")
	}
}

// Impair degrades traffic (latency with jitter, packet loss, bandwidth) in a
// Scope. On a node or an AZ it acts on every client's path to those nodes;
// between AZs it acts on the links between the groups, both ways.
type Impair struct {
	Kind  string // latency, packet-loss or bandwidth
	Scope Scope
	Imp   sim.LinkImpairment
}

// Name is the fault kind.
func (f Impair) Name() string { return f.Kind }

// Needs is the region network.
func (Impair) Needs() []sim.Need { return stackNeeds(sim.AbilityNetwork) }

// Target is the scope.
func (f Impair) Target() string { return f.Scope.String() }

func (f Impair) id() string { return f.Kind + "/" + f.Scope.String() }

// Inject applies the impairment.
func (f Impair) Inject(_ context.Context, c Cluster) error {
	nw, err := network(c)
	if err != nil {
		return err
	}
	all := azs(c)
	switch {
	case f.Scope.Node != "":
		if _, err := findNode(c, f.Scope.Node); err != nil {
			return err
		}
		return nw.Impair(f.id(), all, []string{f.Scope.Node}, f.Imp)
	case f.Scope.AZ != "":
		if !slices.Contains(all, f.Scope.AZ) {
			return fmt.Errorf("no AZ %q", f.Scope.AZ)
		}
		if err := nw.Impair(f.id()+"/in", all, []string{f.Scope.AZ}, f.Imp); err != nil {
			return err
		}
		return nw.Impair(f.id()+"/out", []string{f.Scope.AZ}, all, f.Imp)
	default:
		if err := nw.Impair(f.id()+"/ab", f.Scope.From, f.Scope.To, f.Imp); err != nil {
			return err
		}
		return nw.Impair(f.id()+"/ba", f.Scope.To, f.Scope.From, f.Imp)
	}
}

// Heal removes it.
func (f Impair) Heal(_ context.Context, c Cluster) error {
	nw, err := network(c)
	if err != nil {
		return err
	}
	for _, suffix := range []string{"", "/in", "/out", "/ab", "/ba"} {
		nw.Restore(f.id() + suffix)
	}
	return nil
}

// NodeRestart kills a node and starts it again at once (a reboot): its
// connections drop and what it had not made durable is lost.
type NodeRestart struct {
	needsNothing
	Node string
}

// Name is the fault kind.
func (f NodeRestart) Name() string { return "node-restart" }

// Target is the node id.
func (f NodeRestart) Target() string { return f.Node }

// Inject restarts the node.
func (f NodeRestart) Inject(ctx context.Context, c Cluster) error {
	n, err := findNode(c, f.Node)
	if err != nil {
		return err
	}
	return n.Restart(ctx)
}

// Heal makes sure the node is running.
func (f NodeRestart) Heal(ctx context.Context, c Cluster) error {
	return NodeKill{Node: f.Node}.Heal(ctx, c)
}

// primaryOf is the node currently primary for svc.
func primaryOf(c Cluster, svc sim.Service) (sim.Node, error) {
	ps := nodesWhere(c, func(s sim.NodeStatus) bool { return s.Service == svc && s.Role == sim.RolePrimary })
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s has no primary", svc)
	}
	return ps[0], nil
}

// Failover fails a service's primary over: planned (a switchover: the
// primary hands over to a replica, connections drop) or unplanned (the
// primary dies; the control plane promotes a replica after its delay; the
// old primary comes back as a replica when the fault heals).
type Failover struct {
	Service sim.Service // mysql or redis
	Planned bool
	killed  *string // unplanned: the node killed, for Heal
}

// NewFailover returns a Failover fault for svc.
func NewFailover(svc sim.Service, planned bool) Failover {
	return Failover{Service: svc, Planned: planned, killed: new(string)}
}

// Name is the fault kind: db-failover or redis-failover.
func (f Failover) Name() string {
	if f.Service == sim.ServiceMySQL {
		return "db-failover"
	}
	return "redis-failover"
}

// Needs is a switchover of the service (planned); killing its primary
// (unplanned) needs nothing more.
func (f Failover) Needs() []sim.Need {
	if f.Planned {
		return []sim.Need{{Service: f.Service, Ability: sim.AbilitySwitchover}}
	}
	return nil
}

// Target is the service and the variant.
func (f Failover) Target() string {
	if f.Planned {
		return string(f.Service) + " (planned)"
	}
	return string(f.Service) + " (unplanned)"
}

// Inject fails the primary over.
func (f Failover) Inject(ctx context.Context, c Cluster) error {
	if f.Planned {
		s, ok := c.(switcher)
		if !ok {
			return errors.New("this stack cannot switch primaries over")
		}
		return s.Switchover(ctx, f.Service)
	}
	p, err := primaryOf(c, f.Service)
	if err != nil {
		return err
	}
	if f.killed != nil {
		*f.killed = p.Status().ID
	}
	return p.Kill(ctx)
}

// Heal restarts the killed primary (unplanned); a switchover needs none.
func (f Failover) Heal(ctx context.Context, c Cluster) error {
	if f.Planned || f.killed == nil || *f.killed == "" {
		return nil
	}
	return NodeKill{Node: *f.killed}.Heal(ctx, c)
}

// ReplicaLag makes one MySQL replica apply the writer's commits Lag late:
// the replica answers reads with the ledger as it was Lag ago, as a replica
// that has fallen behind does. A reader that shares the writer's storage
// (Aurora, the embedded ledger) cannot lag, so the fault needs the stack's
// lag ability.
type ReplicaLag struct {
	Node string
	Lag  time.Duration
}

// Name is the fault kind.
func (f ReplicaLag) Name() string { return "replica-lag" }

// Target is the replica's node id.
func (f ReplicaLag) Target() string { return f.Node }

// Needs is a stack whose MySQL replicas can be made to lag.
func (f ReplicaLag) Needs() []sim.Need {
	return []sim.Need{{Service: sim.ServiceMySQL, Ability: sim.AbilityLag}}
}

// Inject sets the replica's apply delay.
func (f ReplicaLag) Inject(ctx context.Context, c Cluster) error { return f.set(ctx, c, f.Lag) }

// Heal lets the replica apply at once again; it catches up on its own.
func (f ReplicaLag) Heal(ctx context.Context, c Cluster) error { return f.set(ctx, c, 0) }

func (f ReplicaLag) set(ctx context.Context, c Cluster, lag time.Duration) error {
	l, ok := c.(replicaLagger)
	if !ok {
		return errors.New("replica-lag: this stack's replicas cannot lag")
	}
	return l.LagReplica(ctx, f.Node, lag)
}

// BrokerLoss kills Kafka brokers: the named ones, or the last Count in AZ
// order.
type BrokerLoss struct {
	needsNothing
	Brokers []string
	Count   int
}

// Name is the fault kind.
func (f BrokerLoss) Name() string { return "kafka-broker-loss" }

// Target lists the brokers (or the count).
func (f BrokerLoss) Target() string {
	if len(f.Brokers) > 0 {
		return strings.Join(f.Brokers, ",")
	}
	return fmt.Sprintf("%d broker(s)", f.Count)
}

func (f BrokerLoss) pick(c Cluster) ([]sim.Node, error) {
	if len(f.Brokers) > 0 {
		var out []sim.Node
		for _, id := range f.Brokers {
			n, err := findNode(c, id)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	}
	all := nodesWhere(c, func(s sim.NodeStatus) bool { return s.Service == sim.ServiceKafka })
	if f.Count < 1 || f.Count > len(all) {
		return nil, fmt.Errorf("kafka-broker-loss: count %d, have %d brokers", f.Count, len(all))
	}
	return all[len(all)-f.Count:], nil
}

// Inject kills the brokers.
func (f BrokerLoss) Inject(ctx context.Context, c Cluster) error {
	ns, err := f.pick(c)
	if err != nil {
		return err
	}
	return killAll(ctx, ns)
}

// Heal restarts them.
func (f BrokerLoss) Heal(ctx context.Context, c Cluster) error {
	ns, err := f.pick(c)
	if err != nil {
		return err
	}
	return reviveAll(ctx, ns)
}

// LeaderMove re-elects every Kafka partition leader at once.
type LeaderMove struct{}

// Name is the fault kind.
func (LeaderMove) Name() string { return "kafka-leader-move" }

// Needs is the stack's leader re-election.
func (LeaderMove) Needs() []sim.Need { return stackNeeds(sim.AbilityLeaderMove) }

// Target is the Kafka cluster.
func (LeaderMove) Target() string { return "kafka" }

// Inject moves the leaders.
func (LeaderMove) Inject(ctx context.Context, c Cluster) error {
	m, ok := c.(leaderMover)
	if !ok {
		return errors.New("this stack cannot move Kafka leaders")
	}
	return m.MoveKafkaLeaders(ctx)
}

// Heal does nothing: leadership stays where it moved.
func (LeaderMove) Heal(context.Context, Cluster) error { return nil }

// AppCrash crashes payment API instances (one by id, or every one in an AZ):
// in-flight requests are cut mid-way. They stay down for the fault's
// duration (the pod's restart delay) and restart when it heals.
type AppCrash struct {
	needsNothing
	Node string // an app instance id
	AZ   string // or every instance in this AZ
}

// Name is the fault kind.
func (f AppCrash) Name() string { return "app-crash" }

// Target is the instance or AZ.
func (f AppCrash) Target() string {
	if f.Node != "" {
		return f.Node
	}
	return f.AZ
}

func (f AppCrash) pick(c Cluster) ([]sim.Node, error) {
	ns := nodesWhere(c, func(s sim.NodeStatus) bool {
		return s.Service == sim.ServiceApp && (s.ID == f.Node || (f.Node == "" && s.AZ == f.AZ))
	})
	if len(ns) == 0 {
		return nil, fmt.Errorf("app-crash: no app instance %q", f.Target())
	}
	return ns, nil
}

// Inject kills the instances.
func (f AppCrash) Inject(ctx context.Context, c Cluster) error {
	ns, err := f.pick(c)
	if err != nil {
		return err
	}
	return killAll(ctx, ns)
}

// Heal restarts them.
func (f AppCrash) Heal(ctx context.Context, c Cluster) error {
	ns, err := f.pick(c)
	if err != nil {
		return err
	}
	return reviveAll(ctx, ns)
}

// Failpoint enables a pingcap/failpoint term on the data path for the
// fault's duration, e.g. `return("crash")` after commit (a crash between
// commit and publish) or `sleep(2000)` before commit (a 2 s stall).
type Failpoint struct {
	Point string // full failpoint name
	Term  string
}

// Name is the fault kind.
func (f Failpoint) Name() string { return "failpoint" }

// Needs is failpoints in the app tier.
func (Failpoint) Needs() []sim.Need { return stackNeeds(sim.AbilityFailpoint) }

// Target is the failpoint and its term.
func (f Failpoint) Target() string { return f.Point + "=" + f.Term }

func (f Failpoint) registry(c Cluster) (failpointed, error) {
	fp, ok := c.(failpointed)
	if !ok {
		return nil, errors.New("this stack has no failpoints")
	}
	return fp, nil
}

// Inject enables the failpoint in every instance.
func (f Failpoint) Inject(ctx context.Context, c Cluster) error {
	r, err := f.registry(c)
	if err != nil {
		return err
	}
	if err := r.EnableFailpoint(ctx, f.Point, f.Term); err != nil {
		return fmt.Errorf("failpoint %s: %w", f.Point, err)
	}
	return nil
}

// Heal disables it.
func (f Failpoint) Heal(ctx context.Context, c Cluster) error {
	r, err := f.registry(c)
	if err != nil {
		return err
	}
	if err := r.DisableFailpoint(ctx, f.Point); err != nil {
		return fmt.Errorf("failpoint %s: %w", f.Point, err)
	}
	return nil
}

// regionLoser is a cluster whose ledger has a DR copy in another region.
type regionLoser interface {
	LoseRegion(ctx context.Context) error
}

// RegionLoss loses the primary region for good: its app tier and ledger die,
// the DR copy (replicated asynchronously) is promoted after its delay, and
// what it never received is the RPO. It does not heal: a lost region stays
// lost for the rest of the run.
type RegionLoss struct {
	Region string
}

// Name is the fault kind.
func (f RegionLoss) Name() string { return "region-loss" }

// Needs is a DR copy the stack can promote.
func (RegionLoss) Needs() []sim.Need { return stackNeeds(sim.AbilityRegionLoss) }

// Target is the region lost.
func (f RegionLoss) Target() string { return f.Region }

// Inject loses the region.
func (f RegionLoss) Inject(ctx context.Context, c Cluster) error {
	r, ok := c.(regionLoser)
	if !ok {
		return errors.New("this stack has no DR copy to promote")
	}
	return r.LoseRegion(ctx)
}

// Heal does nothing: the DR region carries on.
func (f RegionLoss) Heal(context.Context, Cluster) error { return nil }

// killAll kills every node, trying all of them.
func killAll(ctx context.Context, ns []sim.Node) error {
	var errs []error
	for _, n := range ns {
		errs = append(errs, n.Kill(ctx))
	}
	return errors.Join(errs...)
}

// reviveAll restarts every node that is down, trying all of them.
func reviveAll(ctx context.Context, ns []sim.Node) error {
	var errs []error
	for _, n := range ns {
		if n.Status().State == sim.StateDown {
			errs = append(errs, n.Restart(ctx))
		}
	}
	return errors.Join(errs...)
}
