package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pingcap/failpoint"

	"paysim/sim"
)

// Spec describes one fault in plain values, as a scenario file or the TUI
// gives it; Build turns it into a Fault for a topology.
type Spec struct {
	Kind    string
	Target  string // an AZ, a node id, a service, or AZ groups ("a,b|c", "a->b", "a<->b")
	Variant string // az-outage: power|network; db-/redis-failover: planned|unplanned

	Latency   time.Duration
	Jitter    time.Duration
	Lag       time.Duration // replica-lag: how late the replica applies
	Loss      float64       // packet-loss: 0..1
	Bandwidth int64         // bandwidth: bytes per second
	Count     int           // kafka-broker-loss: how many brokers
	Failpoint string        // failpoint: the point (short or full name)
	Term      string        // failpoint: the pingcap/failpoint term
}

// SpecError is a Spec rejected by Build; Field names the bad field.
type SpecError struct {
	Field string
	Msg   string
}

func (e *SpecError) Error() string { return e.Field + ": " + e.Msg }

func specErr(field, format string, args ...any) error {
	return &SpecError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Kind is one fault kind's name and what it does.
type Kind struct {
	Name        string
	Description string
	Targets     string // what Target may name
}

// Kinds lists every fault kind.
func Kinds() []Kind {
	return []Kind{
		{"az-outage", "power (every node and app in the AZ dies, primaries fail over) or network (the AZ is cut off; split brain allowed)", "AZ"},
		{"node-kill", "a node dies until healed", "node"},
		{"node-pause", "a node accepts connections and answers nothing", "node"},
		{"node-restart", "a node is killed and started again at once", "node"},
		{"partition", "the network between two groups of AZs is cut, symmetric (a,b|c) or one-way (a->c)", "AZ groups"},
		{"latency", "added latency with jitter on a node, an AZ or between AZs (a<->b)", "node, AZ or a<->b"},
		{"packet-loss", "lost segments (TCP retransmissions) on a node, an AZ or between AZs", "node, AZ or a<->b"},
		{"bandwidth", "a bandwidth cap on a node, an AZ or between AZs", "node, AZ or a<->b"},
		{"db-failover", "the ledger writer fails over: planned switchover or unplanned (writer dies)", "mysql"},
		{"redis-failover", "the Redis primary fails over: planned or unplanned", "redis"},
		{"kafka-broker-loss", "Kafka brokers die (by id, or count)", "broker ids or empty"},
		{"kafka-leader-move", "every Kafka partition leader moves", "kafka"},
		{"app-crash", "payment API instances crash mid-request and stay down for the fault's duration", "app instance or AZ"},
		{"replica-lag", "a MySQL replica applies the writer's commits late (whole seconds), so reads there are stale; needs replicas with their own copy (containers mode)", "mysql replica"},
		{"region-loss", "the primary region is lost for good; the DR copy of the ledger is promoted and the RPO measured", "the topology's region"},
		{"failpoint", "a pingcap/failpoint term on the data path (crash between commit and publish, a stall before commit...)", "failpoint name"},
	}
}

// KindNames lists the kinds' names.
func KindNames() []string {
	var out []string
	for _, k := range Kinds() {
		out = append(out, k.Name)
	}
	return out
}

// Build checks s against the topology and returns its Fault. failpoints
// maps short failpoint names to full ones.
func Build(s Spec, topo sim.Topology, failpoints map[string]string) (Fault, error) {
	nodes := topo.PlannedNodes()
	isAZ := func(x string) bool { return slices.Contains(topo.AZs, x) }
	node := func(x string) (sim.PlannedNode, bool) {
		for _, n := range nodes {
			if n.ID == x {
				return n, true
			}
		}
		return sim.PlannedNode{}, false
	}
	needNode := func() error {
		if _, ok := node(s.Target); !ok {
			return specErr("target", "no node %q in the topology", s.Target)
		}
		return nil
	}
	groups := func(sep string) ([]string, []string, error) {
		a, b, ok := strings.Cut(s.Target, sep)
		if !ok {
			return nil, nil, specErr("target", "want two AZ groups as a,b%sc, got %q", sep, s.Target)
		}
		ga, gb := splitList(a), splitList(b)
		for _, az := range append(slices.Clone(ga), gb...) {
			if !isAZ(az) {
				return nil, nil, specErr("target", "no AZ %q in the topology %v", az, topo.AZs)
			}
		}
		if len(ga) == 0 || len(gb) == 0 {
			return nil, nil, specErr("target", "an AZ group is empty in %q", s.Target)
		}
		for _, az := range ga {
			if slices.Contains(gb, az) {
				return nil, nil, specErr("target", "AZ %q is on both sides", az)
			}
		}
		return ga, gb, nil
	}
	scope := func() (Scope, error) {
		switch {
		case strings.Contains(s.Target, "<->"):
			a, b, err := groups("<->")
			return Scope{From: a, To: b}, err
		case isAZ(s.Target):
			return Scope{AZ: s.Target}, nil
		default:
			if _, ok := node(s.Target); ok {
				return Scope{Node: s.Target}, nil
			}
			return Scope{}, specErr("target", "no AZ or node %q (AZs: %v)", s.Target, topo.AZs)
		}
	}
	variant := func(allowed ...string) (string, error) {
		if s.Variant == "" {
			return allowed[0], nil
		}
		if !slices.Contains(allowed, s.Variant) {
			return "", specErr("variant", "%q: want one of %v", s.Variant, allowed)
		}
		return s.Variant, nil
	}

	switch s.Kind {
	case "az-outage":
		if !isAZ(s.Target) {
			return nil, specErr("target", "no AZ %q in the topology %v", s.Target, topo.AZs)
		}
		v, err := variant("power", "network")
		if err != nil {
			return nil, err
		}
		if v == "network" {
			return AZNetwork{AZ: s.Target}, nil
		}
		return AZPower{AZ: s.Target}, nil
	case "node-kill", "node-pause", "node-restart":
		if err := needNode(); err != nil {
			return nil, err
		}
		switch s.Kind {
		case "node-kill":
			return NodeKill{Node: s.Target}, nil
		case "node-pause":
			n, _ := node(s.Target)
			return NodePause{Node: s.Target, Service: n.Service}, nil
		}
		return NodeRestart{Node: s.Target}, nil
	case "partition":
		sep, oneWay := "|", false
		if strings.Contains(s.Target, "->") && !strings.Contains(s.Target, "<->") {
			sep, oneWay = "->", true
		}
		a, b, err := groups(sep)
		if err != nil {
			return nil, err
		}
		return Partition{A: a, B: b, OneWay: oneWay}, nil
	case "latency", "packet-loss", "bandwidth":
		sc, err := scope()
		if err != nil {
			return nil, err
		}
		var imp sim.LinkImpairment
		switch s.Kind {
		case "latency":
			if s.Latency <= 0 {
				return nil, specErr("latency", "must be positive")
			}
			if s.Jitter < 0 {
				return nil, specErr("jitter", "must not be negative")
			}
			imp.Latency, imp.Jitter = s.Latency, s.Jitter
			if sc.Node != "" {
				n, _ := node(sc.Node)
				return Latency{Node: sc.Node, Service: n.Service, Delay: int(s.Latency.Milliseconds()), Jitter: int(s.Jitter.Milliseconds())}, nil
			}
		case "packet-loss":
			if s.Loss <= 0 || s.Loss > 1 {
				return nil, specErr("loss", "%v: want a share in (0%%, 100%%]", s.Loss)
			}
			imp.Loss = s.Loss
		case "bandwidth":
			if s.Bandwidth <= 0 {
				return nil, specErr("bandwidth", "must be positive (bytes per second)")
			}
			imp.Bandwidth = s.Bandwidth
		}
		return Impair{Kind: s.Kind, Scope: sc, Imp: imp}, nil
	case "db-failover", "redis-failover":
		svc := sim.ServiceMySQL
		if s.Kind == "redis-failover" {
			svc = sim.ServiceRedis
		}
		if s.Target != "" && s.Target != string(svc) {
			return nil, specErr("target", "%s targets %q, got %q", s.Kind, svc, s.Target)
		}
		v, err := variant("unplanned", "planned")
		if err != nil {
			return nil, err
		}
		return NewFailover(svc, v == "planned"), nil
	case "kafka-broker-loss":
		var brokers []string
		for _, id := range splitList(s.Target) {
			n, ok := node(id)
			if !ok || n.Service != sim.ServiceKafka {
				return nil, specErr("target", "no Kafka broker %q", id)
			}
			brokers = append(brokers, id)
		}
		if len(brokers) == 0 && (s.Count < 1 || s.Count > len(topo.AZs)) {
			return nil, specErr("count", "%d: want 1..%d brokers (or name them in target)", s.Count, len(topo.AZs))
		}
		return BrokerLoss{Brokers: brokers, Count: s.Count}, nil
	case "kafka-leader-move":
		return LeaderMove{}, nil
	case "replica-lag":
		if n, ok := node(s.Target); !ok || n.Service != sim.ServiceMySQL {
			return nil, specErr("target", "no MySQL node %q", s.Target)
		} else if n.AZ == topo.AZs[0] {
			return nil, specErr("target", "%s starts as the writer: name a replica", s.Target)
		}
		if s.Lag < time.Second || s.Lag%time.Second != 0 {
			return nil, specErr("lag", "%v: want whole seconds, at least 1s (a replica's apply delay)", s.Lag)
		}
		return ReplicaLag{Node: s.Target, Lag: s.Lag}, nil
	case "app-crash":
		if isAZ(s.Target) {
			return AppCrash{AZ: s.Target}, nil
		}
		if n, ok := node(s.Target); ok && n.Service == sim.ServiceApp {
			return AppCrash{Node: s.Target}, nil
		}
		return nil, specErr("target", "no app instance or AZ %q", s.Target)
	case "region-loss":
		if topo.DR == nil {
			return nil, specErr("kind", "region-loss needs a DR copy: set topology.dr")
		}
		if s.Target != "" && s.Target != topo.Region {
			return nil, specErr("target", "region-loss targets the topology's region %q, got %q", topo.Region, s.Target)
		}
		return RegionLoss{Region: topo.Region}, nil
	case "failpoint":
		name := s.Failpoint
		if name == "" {
			name = s.Target
		}
		full, ok := failpoints[name]
		if !ok && !slices.Contains(mapValues(failpoints), name) {
			return nil, specErr("failpoint", "unknown failpoint %q (have %v)", name, sortedKeys(failpoints))
		}
		if ok {
			name = full
		}
		if strings.TrimSpace(s.Term) == "" {
			return nil, specErr("term", "a failpoint needs a term, e.g. return(\"crash\") or sleep(2000)")
		}
		if err := (&failpoint.Failpoints{}).Enable(name, s.Term); err != nil {
			return nil, specErr("term", "%q: %v", s.Term, err)
		}
		return Failpoint{Point: name, Term: s.Term}, nil
	case "":
		return nil, specErr("kind", "missing")
	}
	return nil, specErr("kind", "unknown fault kind %q (have %s)", s.Kind, strings.Join(KindNames(), ", "))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
