// Package embedded runs the whole payments stack in-process: Kafka brokers
// (kfake), an Aurora-like MySQL cluster (MySQL wire protocol over SQLite),
// an ElastiCache-like Redis pair (miniredis) and Elasticsearch nodes (bleve),
// one node per AZ, each behind a toxiproxy proxy so it can be broken.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"

	"paysim/internal/loopback"
	"paysim/internal/memnet"
	"paysim/sim"
	"paysim/sim/netproxy"
)

// Options tunes how the embedded stack starts.
type Options struct {
	// Dir holds the state files (the SQLite ledger, Kafka's log, the search
	// indices). Empty means fresh temporary directories, the ledger's and
	// Kafka's memory-backed where the system has one (see stateDirs),
	// removed on Close.
	Dir string
	// Services are the services to run; empty means every one. Containers
	// mode runs only Kafka and search from here, beside the real MariaDB and
	// Redis in containers, with Kafka and Search set to put their processes
	// in containers of the node image.
	Services []sim.Service
	// Registry receives the nodes' status; nil means a registry of the
	// stack's own. A backend composing these nodes with others passes the
	// registry they all share.
	Registry *sim.Registry
	// Kafka, if set, runs the Kafka brokers (containers mode: in a
	// container); nil runs them in this process.
	Kafka KafkaRunner
	// Search, if set, runs the search nodes (containers mode: in a
	// container); nil runs them in this process.
	Search SearchRunner
	// UpstreamDial, if set, dials the nodes' proxies' upstreams on the
	// direct path (containers mode: straight at the containers).
	UpstreamDial netproxy.Dialer
	// Net, if set, carries the in-process clients' connections to the
	// in-process nodes in memory: the nodes listen on it and, unless
	// UpstreamDial is set, the direct path dials through it. The nodes
	// still accept TCP, for the proxies and a user's own tools.
	Net *memnet.Network
}

// listenFunc binds a node's listen address.
type listenFunc = func(addr string) (net.Listener, error)

// listen is how the in-process nodes bind their addresses.
func (o Options) listen() listenFunc {
	if o.Net == nil {
		return loopback.Listen
	}
	return o.Net.ListenWith(loopback.Listen)
}

// runs reports whether the options ask for svc.
func (o Options) runs(svc sim.Service) bool {
	return len(o.Services) == 0 || slices.Contains(o.Services, svc)
}

// Stack is a running embedded stack.
type Stack struct {
	topo  sim.Topology
	reg   *sim.Registry
	px    *netproxy.Server
	owned stateDirs // temporary directories to remove on Close

	kafka *kafkaCluster
	mysql *auroraCluster
	redis *redisCluster
	es    *searchCluster
	nodes map[string]sim.Node
	links *netproxy.Links
}

// Start brings every node of the topology up and returns once all are ready.
// On error everything already started is torn down.
func Start(ctx context.Context, topo sim.Topology, opts Options) (_ *Stack, err error) {
	if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	reg := opts.Registry
	if reg == nil {
		reg = sim.NewRegistry()
	}
	upstream := opts.UpstreamDial
	if upstream == nil && opts.Net != nil {
		upstream = opts.Net.DialContext
	}
	listen := opts.listen()
	s := &Stack{topo: topo, reg: reg, px: netproxy.NewServerDialing(upstream), nodes: map[string]sim.Node{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	dirs := stateDirs{bulk: opts.Dir, mem: opts.Dir}
	if opts.Dir == "" {
		if dirs, err = makeStateDirs(); err != nil {
			return nil, err
		}
		s.owned = dirs
	} else if err = os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var groups [][]*netproxy.Node
	if opts.runs(sim.ServiceKafka) {
		if s.kafka, err = startKafka(ctx, s.reg, s.px, topo, filepath.Join(dirs.mem, "kafka"), opts.Kafka, listen); err != nil {
			return nil, err
		}
		groups = append(groups, s.kafka.brokers)
	}
	if opts.runs(sim.ServiceMySQL) {
		if s.mysql, err = startAurora(s.reg, s.px, topo, dirs.mem, listen); err != nil {
			return nil, err
		}
		groups = append(groups, s.mysql.nodes)
		if s.mysql.dr != nil {
			groups = append(groups, []*netproxy.Node{s.mysql.dr.node})
		}
	}
	if opts.runs(sim.ServiceRedis) {
		if s.redis, err = startRedis(s.reg, s.px, topo, listen); err != nil {
			return nil, err
		}
		groups = append(groups, s.redis.nodes)
	}
	if opts.runs(sim.ServiceSearch) {
		if s.es, err = startSearch(ctx, s.reg, s.px, topo, filepath.Join(dirs.bulk, "search"), opts.Search, listen); err != nil {
			return nil, err
		}
		groups = append(groups, s.es.nodes)
	}
	for _, group := range groups {
		for _, n := range group {
			s.nodes[n.ID()] = n
		}
	}
	s.links = netproxy.NewLinks(s.AZOf, s.px.DialContext)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return s, nil
}

// AZOf maps a client-facing address to the AZ and id of the node behind it
// now (empty for an address that is not the stack's).
func (s *Stack) AZOf(addr string) (az, node string) {
	var eps []*netproxy.Endpoint[*netproxy.Node]
	if s.mysql != nil {
		eps = append(eps, s.mysql.writer)
	}
	if s.redis != nil {
		eps = append(eps, s.redis.primary, s.redis.reader)
	}
	if s.es != nil {
		eps = append(eps, s.es.domain)
	}
	for _, e := range eps {
		if e != nil && e.Addr() == addr {
			t := e.Target()
			return t.AZ(), t.ID()
		}
	}
	for _, n := range s.nodes {
		if nn, ok := n.(*netproxy.Node); ok && nn.Front().Addr() == addr {
			return nn.AZ(), nn.ID()
		}
	}
	return "", ""
}

// LoseRegion loses the ledger's primary region for good: every instance
// there dies and the DR copy stops replicating; the Redis cache is cold
// again (the DR region's own).
func (s *Stack) LoseRegion(ctx context.Context) error {
	if s.mysql == nil || s.redis == nil {
		return errors.New("region loss: this stack runs no ledger or cache")
	}
	if err := s.mysql.loseRegion(ctx); err != nil {
		return err
	}
	return s.redis.flush(ctx)
}

// PromoteDR makes the DR copy the ledger's writer.
func (s *Stack) PromoteDR(context.Context) error {
	if s.mysql == nil {
		return errors.New("promote DR: this stack runs no ledger")
	}
	return s.mysql.promoteDR()
}

// Dial opens a client connection to one of the stack's addresses, straight
// to what is behind it when that is one of its endpoints.
func (s *Stack) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return s.px.DialContext(ctx, network, addr)
}

// Links is the region's network between AZs; clients in an AZ dial through
// Links().Dialer(az).
func (s *Stack) Links() *netproxy.Links { return s.links }

// Switchover is a planned failover of a service's primary (mysql or redis)
// to a healthy replica in another AZ; clients see their connections drop.
func (s *Stack) Switchover(_ context.Context, svc sim.Service) error {
	switch {
	case svc == sim.ServiceMySQL && s.mysql != nil:
		return s.mysql.switchover()
	case svc == sim.ServiceRedis && s.redis != nil:
		return s.redis.switchover()
	}
	return fmt.Errorf("switchover: %s has no primary", svc)
}

// Topology is the topology the stack was started with.
func (s *Stack) Topology() sim.Topology { return s.topo }

// Registry is the live view of every node.
func (s *Stack) Registry() *sim.Registry { return s.reg }

// Node returns a node by ID.
func (s *Stack) Node(id string) (sim.Node, bool) {
	n, ok := s.nodes[id]
	return n, ok
}

// Nodes returns every node, sorted by ID.
func (s *Stack) Nodes() []sim.Node {
	ids := make([]string, 0, len(s.nodes))
	for id := range s.nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]sim.Node, len(ids))
	for i, id := range ids {
		out[i] = s.nodes[id]
	}
	return out
}

// Endpoints returns the stable client addresses.
func (s *Stack) Endpoints() sim.Endpoints {
	var e sim.Endpoints
	if s.kafka != nil {
		e.Kafka.Bootstrap = s.kafka.bootstrap()
	}
	if s.mysql != nil {
		e.MySQL = s.mysql.endpoint(s.topo.MySQL)
	}
	if s.redis != nil {
		e.Redis = s.redis.endpoint()
	}
	if s.es != nil {
		e.Elasticsearch = s.es.endpoint()
	}
	return e
}

// MoveKafkaLeaders re-elects every partition leader.
func (s *Stack) MoveKafkaLeaders(ctx context.Context) error {
	if s.kafka == nil {
		return errors.New("kafka leader move: no Kafka in this stack")
	}
	return s.kafka.moveLeaders(ctx)
}

// Release tears one service's tier down before the rest, so a run's checks
// can free each tier once they have read it; Close still removes the state.
// Releasing a tier twice, or an unknown service, does nothing.
func (s *Stack) Release(svc sim.Service) {
	switch svc {
	case sim.ServiceSearch:
		if s.es != nil {
			s.es.close()
			s.es = nil
		}
	case sim.ServiceRedis:
		if s.redis != nil {
			s.redis.close()
			s.redis = nil
		}
	case sim.ServiceMySQL:
		if s.mysql != nil {
			s.mysql.close()
			s.mysql = nil
		}
	case sim.ServiceKafka:
		if s.kafka != nil {
			s.kafka.close()
			s.kafka = nil
		}
	}
}

// Close tears everything down; it is safe to call more than once.
func (s *Stack) Close() error {
	for _, svc := range []sim.Service{sim.ServiceSearch, sim.ServiceRedis, sim.ServiceMySQL, sim.ServiceKafka} {
		s.Release(svc)
	}
	err := s.owned.remove()
	s.owned = stateDirs{}
	return err
}

// Abilities is what the embedded backend's stack and nodes can do to be
// broken: every node sits behind a toxiproxy-style proxy (pause, isolate,
// toxics), the region's links between AZs can be impaired, primaries switch
// over, Kafka leaders move, and a DR copy is promoted when the region is
// lost (given topology.dr).
func Abilities() sim.Abilities {
	node := []sim.Ability{sim.AbilityPause, sim.AbilityIsolate, sim.AbilityShape}
	return sim.Abilities{
		sim.ServiceMySQL: append(slices.Clone(node), sim.AbilitySwitchover),
		sim.ServiceRedis: append(slices.Clone(node), sim.AbilitySwitchover),
		sim.ServiceKafka: node, sim.ServiceSearch: node,
		"": {sim.AbilityNetwork, sim.AbilityLeaderMove, sim.AbilityRegionLoss},
	}
}

// Describe says what every node runs: all are in paysim's process (no
// image), each a library standing in for the real server, named with the
// module version compiled in.
func (s *Stack) Describe(context.Context) []sim.NodeInfo {
	impl := map[sim.Service]string{
		sim.ServiceMySQL:  "paysim mysqlwire: " + moduleVersion("github.com/go-mysql-org/go-mysql") + " over " + moduleVersion("modernc.org/sqlite"),
		sim.ServiceRedis:  "paysim redisnode: " + moduleVersion("github.com/alicebob/miniredis/v2"),
		sim.ServiceKafka:  "paysim kafka: " + moduleVersion("github.com/twmb/franz-go/pkg/kfake"),
		sim.ServiceSearch: "paysim search: " + moduleVersion("github.com/blevesearch/bleve/v2"),
	}
	var out []sim.NodeInfo
	for _, n := range s.Nodes() {
		st := n.Status()
		out = append(out, sim.NodeInfo{ID: st.ID, Service: st.Service, AZ: st.AZ, Version: impl[st.Service]})
	}
	return out
}

// moduleVersion is "path version" as compiled into this binary (path
// alone when the build has no module information, as in some tests).
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return path + " " + m.Version
			}
		}
	}
	return path
}
