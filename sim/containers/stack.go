package containers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"paysim/sim"
	"paysim/sim/embedded"
	"paysim/sim/netproxy"
)

// StackOptions configures the containers-mode backend.
type StackOptions struct {
	// Run is the run id of every container and network; empty means a new
	// one (engine.NewRunID).
	Run string
	// Dir holds the Kafka and search nodes' state when they run in this
	// process (see embedded.Options.Dir); in containers they keep it on
	// volumes.
	Dir string
	// Image is the data tier's image; empty means images.BaseRef().
	Image string
	// Images overrides a service's image (sim.Images): MySQL's and
	// Redis's stand in for Image, Kafka's, search's and the app's for the
	// node image of this code, which is otherwise built when it is missing
	// or stale.
	Images sim.Images
	// Logger receives testcontainers' log lines; nil drops them.
	Logger tclog.Logger
	// Progress, if set, is told about each of the data tier's setup steps.
	Progress func(step string, done, total int)
}

// Stack is the containers-mode backend (a sim.Backend): the real MariaDB
// and Redis with Sentinel of a DataTier, each node a container, beside
// paysim's own Kafka brokers, all in one container of the node image
// (kafkaContainer), and search nodes, all in another (searchContainer).
// The brokers and search nodes sit behind in-process proxies and take the
// embedded abilities. The payment API instances run in containers of the
// same image too, started by the app tier through StartApp.
//
// Clients reach the ledger and the cache through stable 127.0.0.1
// endpoints, in-process proxies in front of the nodes' published ports: the
// writer and one reader per replica AZ for MySQL, the primary and the
// reader for Redis. Their addresses outlive a change of primary, as in
// embedded mode: the Redis endpoints follow Sentinel's failovers by
// themselves, the MySQL writer follows the control plane (mysqlControl),
// which promotes a MariaDB replica when the writer is lost.
//
// Every container node is in the registry with its AZ and role and among
// Nodes, so node faults (kill, restart, pause, isolate) reach the real
// processes through their sim abilities.
type Stack struct {
	topo sim.Topology
	reg  *sim.Registry
	px   *netproxy.Server

	tier *DataTier
	side *embedded.Stack // Kafka and search
	// nodeImages are the images of the Kafka, search and app containers.
	nodeImages map[sim.Service]string

	writer      *endpoint
	readers     map[string]*endpoint // AZ -> reader endpoint
	redisWriter *endpoint
	redisReader *endpoint
	net         *regionNetwork

	// mysqlCtl promotes a MariaDB replica when the writer is lost.
	mysqlCtl *mysqlControl

	// stopFollow ends followSentinel and the MySQL control plane; following
	// waits for them.
	stopFollow context.CancelFunc
	following  sync.WaitGroup

	// relays carry the app containers' dials to the endpoints (routes),
	// on the run network's gateway gw.
	relayMu     sync.Mutex
	relays      map[string]*relay // by AZ and endpoint address
	relayClosed bool
	gw          string

	closeOnce sync.Once
	closeErr  error
}

var _ sim.Backend = (*Stack)(nil)

// StartStack starts the data tier in containers (the ledger's database
// empty: the stack migrates and seeds it) while it makes the node image
// ready, then the Kafka and search nodes' containers, then the endpoints. Without a Docker engine or the image
// the error wraps sim.ErrEnvironment and says what to do. On any error,
// cancellation or panic it removes everything it started.
func StartStack(ctx context.Context, topo sim.Topology, opt StackOptions) (_ *Stack, err error) {
	if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	s := &Stack{topo: topo, reg: sim.NewRegistry(), readers: map[string]*endpoint{}}
	s.px = netproxy.NewServerDialing(s.DialUpstream)
	defer func() {
		if r := recover(); r != nil {
			_ = s.Close()
			panic(r)
		}
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	progress := opt.Progress
	if progress != nil { // told from the tier's start and the image build at once
		var mu sync.Mutex
		progress = func(step string, done, total int) {
			mu.Lock()
			defer mu.Unlock()
			opt.Progress(step, done, total)
		}
	}
	// The node images are made ready while the data tier starts: checking
	// paysim's own means a go build, seconds even when nothing changed.
	type built struct {
		ref string
		err error
	}
	node := make(chan built, 1)
	bctx, cancelBuild := context.WithCancel(ctx)
	defer cancelBuild()
	go func() {
		ref, err := nodeImage(bctx, opt.Images, progress)
		node <- built{ref, err}
	}()
	// The data tier first: without an engine nothing else is started.
	if s.tier, err = Start(ctx, Options{
		Run: opt.Run, Topology: topo, Image: opt.Image, Images: opt.Images, NoSchema: true,
		Logger: opt.Logger, Progress: progress, Registry: s.reg,
	}); err != nil {
		cancelBuild()
		<-node
		return nil, err
	}
	b := <-node
	if b.err != nil {
		if ctx.Err() != nil {
			return nil, b.err
		}
		return nil, fmt.Errorf("%w: %w", sim.ErrEnvironment, b.err)
	}
	s.nodeImages = map[sim.Service]string{}
	for _, svc := range nodeServices() {
		s.nodeImages[svc] = cmp.Or(opt.Images[svc], b.ref)
	}
	if s.side, err = embedded.Start(ctx, topo, embedded.Options{
		Dir: opt.Dir, Services: []sim.Service{sim.ServiceKafka, sim.ServiceSearch}, Registry: s.reg,
		UpstreamDial: s.DialUpstream,
		Kafka:        kafkaContainer{tier: s.tier, image: s.nodeImages[sim.ServiceKafka]},
		Search:       searchContainer{tier: s.tier, image: s.nodeImages[sim.ServiceSearch]},
	}); err != nil {
		return nil, fmt.Errorf("kafka and search: %w", err)
	}
	if err := s.startEndpoints(); err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	s.net = s.newNetwork()
	fctx, stop := context.WithCancel(context.Background())
	s.stopFollow = stop
	s.mysqlCtl = newMySQLControl(s, topo.MySQL.FailoverAfter)
	s.following.Add(2)
	go func() {
		defer s.following.Done()
		s.followSentinel(fctx)
	}()
	go func() {
		defer s.following.Done()
		s.mysqlCtl.run(fctx)
	}()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return s, nil
}

// nodeServices are the services paysim's node image runs.
func nodeServices() []sim.Service {
	return []sim.Service{sim.ServiceKafka, sim.ServiceSearch, sim.ServiceApp}
}

// endpoint is a stable client address in front of the node that holds a
// role now; the node's impairments (Shaper) act on it.
type endpoint = netproxy.Endpoint[*Node]

// startEndpoints opens the stable client endpoints in front of the nodes'
// published ports.
func (s *Stack) startEndpoints() error {
	var err error
	my := s.tier.MySQLNodes()
	if s.writer, err = netproxy.NewEndpoint(s.px, "mysql-writer", my[0], (*Node).Addr); err != nil {
		return err
	}
	for _, n := range my[1:] {
		e, err := netproxy.NewEndpoint(s.px, "mysql-reader-"+n.AZ(), n, (*Node).Addr)
		if err != nil {
			return err
		}
		s.readers[n.AZ()] = e
	}
	rd := s.tier.RedisNodes()
	if s.redisWriter, err = netproxy.NewEndpoint(s.px, "redis-primary", rd[0], (*Node).Addr); err != nil {
		return err
	}
	if len(rd) > 1 {
		if s.redisReader, err = netproxy.NewEndpoint(s.px, "redis-reader", rd[1], (*Node).Addr); err != nil {
			return err
		}
	}
	return nil
}

// endpoints is every client endpoint the stack opened.
func (s *Stack) endpoints() []*endpoint {
	var out []*endpoint
	for _, e := range append([]*endpoint{s.writer, s.redisWriter, s.redisReader}, slices.Collect(maps.Values(s.readers))...) {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// PointWriter moves the MySQL writer endpoint to the MariaDB node with id,
// the step the control plane takes once it has promoted a replica:
// clients' connections drop, and new ones reach that node on the same
// address.
func (s *Stack) PointWriter(id string) error {
	n, ok := s.tier.Node(id)
	if !ok || n.Service() != sim.ServiceMySQL {
		return fmt.Errorf("point writer: no mysql node %q", id)
	}
	s.writer.Point(n)
	return nil
}

// Switchover is a planned change of primary: for MySQL the control plane
// fences the writer, waits until the most advanced replica has applied all
// it wrote and promotes it; for Redis, SENTINEL FAILOVER (Sentinel's own),
// and it returns once the endpoint follows the new primary.
func (s *Stack) Switchover(ctx context.Context, svc sim.Service) error {
	switch svc {
	case sim.ServiceMySQL:
		return s.mysqlCtl.switchover(ctx)
	case sim.ServiceRedis:
		return s.redisSwitchover(ctx)
	}
	return fmt.Errorf("switchover: %s has no primary", svc)
}

// LagReplica makes the MySQL replica id apply commits lag late (0: at once).
func (s *Stack) LagReplica(ctx context.Context, id string, lag time.Duration) error {
	return s.tier.LagReplica(ctx, id, lag)
}

// MySQLEvents is what the MariaDB control plane did (promotions, fencing,
// failures), oldest first.
func (s *Stack) MySQLEvents() []string { return s.mysqlCtl.Events() }

// redisSwitchover asks a Sentinel to fail the primary over and waits until
// the endpoint has followed.
func (s *Stack) redisSwitchover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	before := s.redisWriter.Target()
	var errs []error
	asked := false
	for _, addr := range s.tier.SentinelAddrs() {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
		err := c.Failover(ctx, MasterName).Err()
		_ = c.Close()
		if err == nil {
			asked = true
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	if !asked {
		return fmt.Errorf("redis switchover: %w", errors.Join(errs...))
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for s.redisWriter.Target() == before {
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis switchover: the Sentinels named no new primary: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// followInterval is how often the Redis endpoints ask the Sentinels which
// node is the primary.
const followInterval = 250 * time.Millisecond

// followSentinel keeps the Redis endpoints on the primary the Sentinels
// name, and the registry's roles with them, until ctx ends: failover is
// Sentinel's own, the endpoint only follows it. It asks every
// followInterval rather than subscribing to +switch-master, so that a
// Sentinel's own faults need no reconnection logic. As among Sentinels,
// the configuration with the highest epoch wins: a Sentinel back from a
// partition names the old primary until it hears of the failover, and
// following it would send writes to a node about to be demoted (and
// resynchronised: what it took is lost). A Sentinel whose AZ is cut off is
// not asked.
func (s *Stack) followSentinel(ctx context.Context) {
	nodes := s.tier.SentinelNodes()
	var clients []*redis.SentinelClient
	for _, n := range nodes {
		clients = append(clients, redis.NewSentinelClient(&redis.Options{
			Addr: n.Addr(), DialTimeout: followInterval, ReadTimeout: followInterval, WriteTimeout: followInterval, MaxRetries: -1,
		}))
	}
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	for {
		var best string
		bestEpoch := int64(-1)
		for i, c := range clients {
			if nodes[i].Detached() {
				continue // its AZ is cut off: it speaks for a minority
			}
			m, err := c.Master(ctx, MasterName).Result()
			if err != nil {
				continue
			}
			epoch, err := strconv.ParseInt(m["config-epoch"], 10, 64)
			if err != nil || m["ip"] == "" || m["port"] == "" {
				continue
			}
			if epoch > bestEpoch {
				best, bestEpoch = net.JoinHostPort(m["ip"], m["port"]), epoch
			}
		}
		if best != "" {
			s.pointRedis(best)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pointRedis moves the Redis endpoints when the primary is no longer the
// node at internal (an address on the run's network, as Sentinel names it):
// the writer to it, the reader to another Redis node.
func (s *Stack) pointRedis(internal string) {
	primary, ok := s.tier.PublishedAddr(internal)
	if !ok || s.redisWriter.Target().Addr() == primary {
		return
	}
	for _, n := range s.tier.RedisNodes() {
		role := sim.RoleReplica
		if n.Addr() == primary {
			role = sim.RolePrimary
			s.redisWriter.Point(n)
		} else if s.redisReader != nil {
			s.redisReader.Point(n)
		}
		s.reg.Update(n.ID(), func(st *sim.NodeStatus) { st.Role = role })
	}
}

// DialUpstream dials one of the run's containers' published ports
// straight at the container, past the engine's userland proxy (see
// directs); any other address as it is. The stack's proxies, the Kafka and
// search nodes' and the app instances' fronts dial their upstreams with it.
func (s *Stack) DialUpstream(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.tier == nil {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return s.tier.DialUpstream(ctx, network, addr)
}

// DataTier is the MariaDB and Redis containers.
func (s *Stack) DataTier() *DataTier { return s.tier }

// Run is the run id the containers and the network are labelled with.
func (s *Stack) Run() string { return s.tier.Run() }

// Topology is the topology the stack was started with.
func (s *Stack) Topology() sim.Topology { return s.topo }

// Registry is the live view of every node, containers and in-process.
func (s *Stack) Registry() *sim.Registry { return s.reg }

// Nodes returns every node, sorted by ID: the MariaDB, Redis and Sentinel
// containers, the Kafka brokers (their proxies) and the search nodes.
func (s *Stack) Nodes() []sim.Node {
	var out []sim.Node
	if s.side != nil {
		out = append(out, s.side.Nodes()...)
	}
	if s.tier != nil {
		for _, n := range s.tier.Nodes() {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Status().ID < out[j].Status().ID })
	return out
}

// Endpoints returns the stable client addresses; the Sentinels are listed
// for clients that follow Redis failover themselves.
func (s *Stack) Endpoints() sim.Endpoints {
	var e sim.Endpoints
	if s.side != nil {
		e = s.side.Endpoints()
	}
	my := s.topo.MySQL
	e.MySQL = sim.MySQLEndpoint{User: my.User, Password: my.Password, Database: my.Database, AsyncReaders: true, SemiSync: true}
	if s.writer != nil {
		e.MySQL.Addr = s.writer.Addr()
	}
	if len(s.readers) > 0 {
		e.MySQL.Readers = map[string]string{}
		for az, p := range s.readers {
			e.MySQL.Readers[az] = p.Addr()
		}
	}
	if s.redisWriter != nil {
		e.Redis.Addr = s.redisWriter.Addr()
	}
	if s.redisReader != nil {
		e.Redis.Reader = s.redisReader.Addr()
	}
	if s.tier != nil {
		e.Redis.Sentinels = s.tier.SentinelAddrs()
		e.Redis.MasterName = MasterName
	}
	return e
}

// WaitReplicas waits until every MySQL replica has applied what the
// primary had committed when it was called (see DataTier.WaitReplicas).
func (s *Stack) WaitReplicas(ctx context.Context) error { return s.tier.WaitReplicas(ctx) }

// MoveKafkaLeaders re-elects every Kafka partition leader.
func (s *Stack) MoveKafkaLeaders(ctx context.Context) error {
	if s.side == nil {
		return errors.New("kafka leader move: no Kafka in this stack")
	}
	return s.side.MoveKafkaLeaders(ctx)
}

// Release tears the Kafka brokers' proxies or the search nodes down before the rest,
// once a run's checks have read them. The containers stay until Close,
// which removes them all at once.
func (s *Stack) Release(svc sim.Service) {
	if s.side != nil {
		s.side.Release(svc)
	}
}

// Close removes every container and the network (DataTier.Close), and
// stops the in-process nodes and endpoints; it is safe to call more than
// once and after the start's context is cancelled.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		if s.stopFollow != nil {
			s.stopFollow()
			s.following.Wait()
		}
		var errs []error
		s.closeRelays()
		for _, e := range s.endpoints() {
			e.Close()
		}
		if s.side != nil {
			errs = append(errs, s.side.Close())
		}
		if s.tier != nil {
			errs = append(errs, s.tier.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Abilities is what the containers backend's stack and nodes can do to be
// broken: MariaDB and Redis containers pause (docker pause) and isolate
// (docker network disconnect) and switch primaries over (the control plane,
// Sentinel); the Kafka brokers and search nodes, behind in-process proxies,
// keep the embedded abilities, Kafka leaders move; the links between AZs are impaired (the
// region network: the clients' paths, and iptables between containers). No
// container's path takes toxics: those faults are refused.
func Abilities() sim.Abilities {
	emb := embedded.Abilities()
	ctr := []sim.Ability{sim.AbilityPause, sim.AbilityIsolate, sim.AbilityShape, sim.AbilitySwitchover}
	return sim.Abilities{
		sim.ServiceMySQL: append(slices.Clone(ctr), sim.AbilityLag), sim.ServiceRedis: ctr,
		sim.ServiceKafka: emb[sim.ServiceKafka], sim.ServiceSearch: emb[sim.ServiceSearch],
		"": {sim.AbilityLeaderMove, sim.AbilityNetwork},
	}
}

// Describe says what every node runs: the containers' image and server
// versions, then the Kafka brokers and the search nodes (each kind in one
// container of the node image).
func (s *Stack) Describe(ctx context.Context) []sim.NodeInfo {
	out := s.tier.Describe(ctx)
	if s.side != nil {
		for _, n := range s.side.Describe(ctx) {
			if n.Service == sim.ServiceKafka || n.Service == sim.ServiceSearch {
				n.Image = s.nodeImages[n.Service] // every broker (search node) in the one Kafka (search) container
			}
			out = append(out, n)
		}
	}
	return out
}
