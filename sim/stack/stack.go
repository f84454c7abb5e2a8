// Package stack assembles a full paysim stack: the infrastructure backend
// (embedded or containers), the ledger schema and seed accounts, the payment
// API instances in every AZ, and the load balancer in front of them.
package stack

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/failpoint"

	"paysim/internal/loopback"
	"paysim/internal/memnet"
	"paysim/sim"
	"paysim/sim/containers"
	"paysim/sim/embedded"
	"paysim/sim/lb"
	"paysim/sim/netproxy"
	"paysim/sim/payments"
)

// Modes a stack can run in.
const (
	ModeEmbedded   = "embedded"
	ModeContainers = "containers"
)

// Abilities is what a mode can do to be broken (see sim.Ability): its
// backend's, and the app tier's, whose instances (in-process, or in
// containers) sit behind proxies in every mode (pause, isolate, toxics) and
// take failpoint terms.
func Abilities(mode string) (sim.Abilities, error) {
	var a sim.Abilities
	switch mode {
	case "", ModeEmbedded:
		a = embedded.Abilities()
	case ModeContainers:
		a = containers.Abilities()
	default:
		return nil, fmt.Errorf("mode %q: want %s or %s", mode, ModeEmbedded, ModeContainers)
	}
	a[sim.ServiceApp] = []sim.Ability{sim.AbilityPause, sim.AbilityIsolate, sim.AbilityShape}
	a[""] = append(a[""], sim.AbilityFailpoint)
	return a, nil
}

// ErrEnvironment marks a failure of the environment (e.g. no Docker engine).
// It is sim.ErrEnvironment, so that the backends below stack can wrap it.
var ErrEnvironment = sim.ErrEnvironment

// Config describes the stack to bring up.
type Config struct {
	Mode     string
	Topology sim.Topology
	Accounts payments.Accounts
	// Dir holds the state files; empty means a temporary directory of the
	// stack's own, memory-backed where possible.
	Dir string
	// Failpoints is the run's failpoint registry, shared by every instance.
	Failpoints *failpoint.Failpoints
	// App is a template for every instance's tuning (addresses are filled in).
	App payments.Config
	LB  lb.Config
	// Progress, if set, is told about each setup step as it completes.
	Progress func(step string, done, total int)
	// Run is the run id containers mode labels its containers and network
	// with; empty means a new one.
	Run string
	// Images overrides services' images in containers mode; embedded mode
	// ignores it.
	Images sim.Images
}

// Stack is a running full stack.
type Stack struct {
	cfg     Config
	backend sim.Backend
	px      *netproxy.Server
	mem     *memnet.Network // embedded mode: the in-memory connections
	apps    []*appNode
	lb      *lb.Balancer
	ledger  *sql.DB
	once    sync.Once
	closing atomic.Bool
	// mu guards released, the tiers already torn down.
	mu       sync.Mutex
	released map[sim.Service]bool
	// groupSuffix names the consumer groups after a DR promotion.
	groupSuffix atomic.Value
	// host runs the payment API instances.
	host appHost
	// fpMu orders the run's failpoint changes with the instances' starts.
	fpMu sync.Mutex
}

// crashRestartDelay is how long a crashed app instance stays down before its
// supervisor (the kubelet) starts it again.
const crashRestartDelay = time.Second

// linked is a backend with a region network between AZs.
type linked interface{ Links() *netproxy.Links }

// networked is a backend whose link faults reach more than its clients'
// Links (containers: the containers' own traffic too).
type networked interface{ Network() sim.Network }

// switcher is a backend that can fail a primary over on purpose.
type switcher interface {
	Switchover(ctx context.Context, svc sim.Service) error
}

// replicaLagger is a backend whose MySQL replicas can be made to apply late.
type replicaLagger interface {
	LagReplica(ctx context.Context, id string, lag time.Duration) error
}

// regional is a backend with a DR copy of the ledger in another region.
type regional interface {
	LoseRegion(ctx context.Context) error
	PromoteDR(ctx context.Context) error
}

// releaser is a backend that can tear one service's tier down early.
type releaser interface{ Release(svc sim.Service) }

// leaderMover is a backend whose Kafka partition leaders can be moved.
type leaderMover interface {
	MoveKafkaLeaders(ctx context.Context) error
}

// replicaWaiter is a backend whose ledger replicas apply the primary's
// writes asynchronously; the stack waits for them after seeding.
type replicaWaiter interface {
	WaitReplicas(ctx context.Context) error
}

// stackSteps are the setup steps of Up after the backend's own.
const stackSteps = 4

// setupProgress splits the caller's progress callback into the backend's
// (its own steps, reported first) and the stack's (stackSteps after them),
// counted on one total; fn may be nil.
func setupProgress(fn func(step string, done, total int)) (stackStep func(step string), backend func(step string, done, total int)) {
	if fn == nil {
		fn = func(string, int, int) {}
	}
	var mu sync.Mutex
	base, done, last := 0, 0, 0
	backend = func(step string, d, total int) {
		mu.Lock()
		defer mu.Unlock()
		if total < 0 { // a note between steps (an image build): counts stay
			fn(step, last, base+stackSteps)
			return
		}
		base, last = total, d
		fn(step, d, total+stackSteps)
	}
	stackStep = func(step string) {
		mu.Lock()
		defer mu.Unlock()
		done++
		fn(step, base+done, base+stackSteps)
	}
	return stackStep, backend
}

// appNode is one payment API instance and its fault handle: the process
// (in this process or in a container) behind its front proxy.
type appNode struct {
	*netproxy.Node
	host appHost
	mu   sync.Mutex // serialises start and kill; guards cfg
	cfg  payments.Config
	proc atomic.Pointer[process] // nil while down
	// fpStale says the process was frozen when the run's failpoints
	// changed; it gets them when it thaws.
	fpStale atomic.Bool
	s       *Stack
	// ready says Node is set: faults and crashes may act on the node.
	ready atomic.Bool
}

// process is one running payment API instance.
type process interface {
	// Addr is where its API listens; the front forwards there.
	Addr() string
	// InFlight is how many write requests it is handling.
	InFlight() int
	// Kill ends it at once, like a crashed pod.
	Kill()
}

// appHost starts the payment API instances: in this process (every
// instance reads the run's failpoint registry) or in containers.
type appHost interface {
	// launch starts instance cfg.Instance (again, after a kill) with the
	// run's failpoints as fps holds them.
	launch(ctx context.Context, cfg payments.Config, fps map[string]string) (process, error)
	// describe says what an instance runs.
	describe(id string) sim.NodeInfo
}

// failpointSetter is a process with failpoints of its own (a container's),
// which the stack sets as the run's change.
type failpointSetter interface {
	// SetFailpoints turns the process's failpoints to set (full name ->
	// term; every other off). A process that is not running is no error:
	// it gets the run's failpoints when it starts. A frozen one returns
	// errFrozen.
	SetFailpoints(ctx context.Context, set map[string]string) error
}

// errFrozen is a failpointSetter's error while its process is paused.
var errFrozen = errors.New("the process is frozen")

// processPauser is a process that freezes itself (docker pause), beyond
// its front's stalling.
type processPauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// inProcess runs instances in this process.
type inProcess struct{}

func (inProcess) launch(ctx context.Context, cfg payments.Config, _ map[string]string) (process, error) {
	return payments.Start(ctx, cfg)
}

func (inProcess) describe(id string) sim.NodeInfo {
	return sim.NodeInfo{ID: id, Service: sim.ServiceApp, Version: "paysim payments API (in-process)"}
}

// Up starts everything and seeds the ledger. On error it tears down what it
// started.
func Up(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if cfg.Failpoints == nil {
		cfg.Failpoints = &failpoint.Failpoints{}
	}
	progress, backendProgress := setupProgress(cfg.Progress)
	s := &Stack{cfg: cfg}
	defer func() {
		if r := recover(); r != nil {
			s.Close()
			panic(r)
		}
		if err != nil {
			s.Close()
		}
	}()
	switch cfg.Mode {
	case "", ModeEmbedded:
		// The in-process clients reach the in-process nodes and app
		// instances in memory (issue 19: loopback TCP was a fifth of the
		// CPU per payment); the proxies' faults act on those connections.
		s.mem = memnet.New()
		b, err := embedded.Start(ctx, cfg.Topology, embedded.Options{Dir: cfg.Dir, Net: s.mem})
		if err != nil {
			return nil, fmt.Errorf("embedded backend: %w", err)
		}
		s.backend = b
		s.host = inProcess{}
		s.px = netproxy.NewServerDialing(s.mem.DialContext)
	case ModeContainers:
		b, err := containers.StartStack(ctx, cfg.Topology, containers.StackOptions{
			Run: cfg.Run, Dir: cfg.Dir, Progress: backendProgress, Images: cfg.Images,
		})
		if err != nil {
			return nil, fmt.Errorf("containers backend: %w", err)
		}
		s.backend = b
		s.host = newContainerApps(b)
		s.px = netproxy.NewServerDialing(b.DialUpstream) // the fronts reach the app containers directly
	default:
		return nil, fmt.Errorf("unknown mode %q (want embedded or containers)", cfg.Mode)
	}
	progress("infrastructure nodes")
	ep := s.backend.Endpoints()
	s.ledger, err = payments.OpenLedger(ep.MySQL.User, ep.MySQL.Password, ep.MySQL.Addr, ep.MySQL.Database, 5*time.Second, nil)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	s.ledger.SetMaxOpenConns(4)
	if err := payments.Migrate(ctx, s.ledger, cfg.Failpoints); err != nil {
		return nil, err
	}
	if err := payments.Seed(ctx, s.ledger, cfg.Accounts); err != nil {
		return nil, err
	}
	if w, ok := s.backend.(replicaWaiter); ok {
		// Readers serve balance reads from the first request on.
		if err := w.WaitReplicas(ctx); err != nil {
			return nil, fmt.Errorf("ledger replicas: %w", err)
		}
	}
	if err := payments.InstallLogTemplate(ctx, []string{ep.Elasticsearch.URL}); err != nil {
		return nil, err
	}
	progress("ledger seeded")
	if err := s.startApps(ctx, ep); err != nil {
		return nil, err
	}
	progress("payment API instances")
	var targets []lb.Target
	for _, a := range s.apps {
		targets = append(targets, lb.Target{Name: a.ID(), AZ: a.AZ(), Addr: a.Front().Addr()})
	}
	lbCfg := cfg.LB
	if lbCfg.Dial == nil {
		lbCfg.Dial = s.px.DialContext // the app fronts' faults, without their hop
	}
	if lbCfg.Listen == nil && s.mem != nil {
		lbCfg.Listen = s.mem.ListenWith(loopback.Listen) // the load generator's requests in memory too
	}
	if s.lb, err = lb.Start(lbCfg, targets); err != nil {
		return nil, err
	}
	progress("load balancer")
	return s, nil
}

func (s *Stack) startApps(ctx context.Context, ep sim.Endpoints) error {
	topo := s.cfg.Topology
	for _, az := range topo.AZs {
		for i := 0; i < topo.App.InstancesPerAZ; i++ {
			id := fmt.Sprintf("app-%s-%d", az, i)
			c := s.cfg.App
			c.Instance, c.AZ, c.Addr = id, az, "127.0.0.1:0"
			c.MySQLAddr, c.ReaderAddr = ep.MySQL.Addr, ep.MySQL.Readers[az]
			c.AsyncReader, c.SemiSyncWriter = ep.MySQL.AsyncReaders, ep.MySQL.SemiSync
			c.MySQLUser, c.MySQLPass, c.MySQLDB = ep.MySQL.User, ep.MySQL.Password, ep.MySQL.Database
			// Where Sentinels watch the primary, the instance finds it
			// through them, as go-redis's failover client does.
			c.RedisAddr, c.RedisSentinels, c.RedisMaster = ep.Redis.Addr, ep.Redis.Sentinels, ep.Redis.MasterName
			c.KafkaBrokers = ep.Kafka.Bootstrap
			c.SearchURLs = []string{ep.Elasticsearch.URL}
			c.Failpoints = s.cfg.Failpoints
			if c.CacheSoloAfter == 0 {
				c.CacheSoloAfter = 3 * topo.Redis.FailoverAfter // well past a Redis failover
			}
			if l, ok := s.backend.(linked); ok {
				c.Dial = l.Links().Dialer(az)
			}
			if s.mem != nil {
				c.Listen = s.mem.ListenWith(loopback.Listen)
			}
			a := &appNode{host: s.host, s: s}
			c.OnCrash = func() { s.crashed(a) }
			a.cfg = c
			if err := a.launch(ctx, s); err != nil {
				return fmt.Errorf("app %s: %w", id, err)
			}
			proc := *a.proc.Load()
			a.cfg.Addr = proc.Addr() // a restart comes back on the same port
			front, err := s.px.New(id, proc.Addr())
			if err != nil {
				a.kill()
				return fmt.Errorf("app %s: %w", id, err)
			}
			a.Node = netproxy.NewNode(s.backend.Registry(), id, sim.ServiceApp, az, sim.RoleMember, netproxy.FuncBackend{
				KillFn:  a.kill,
				StartFn: func() error { return a.launch(context.Background(), s) },
			}, front)
			a.ready.Store(true)
			s.apps = append(s.apps, a)
		}
	}
	return nil
}

// failpointsNow is the run's failpoints: full name -> term.
func (s *Stack) failpointsNow() map[string]string {
	out := map[string]string{}
	for _, name := range s.cfg.Failpoints.List() {
		if term, err := s.cfg.Failpoints.Status(name); err == nil {
			out[name] = term
		}
	}
	return out
}

// EnableFailpoint enables a failpoint in every instance, for the run's
// faults and scenarios: on the run's registry, and on each running
// instance with failpoints of its own (an instance down gets the run's
// failpoints when it starts).
func (s *Stack) EnableFailpoint(ctx context.Context, name, term string) error {
	s.fpMu.Lock()
	defer s.fpMu.Unlock()
	if err := s.cfg.Failpoints.Enable(name, term); err != nil {
		return err
	}
	return s.pushFailpoints(ctx)
}

// DisableFailpoint disables a failpoint in every instance (see
// EnableFailpoint); one that is off is no error.
func (s *Stack) DisableFailpoint(ctx context.Context, name string) error {
	s.fpMu.Lock()
	defer s.fpMu.Unlock()
	_ = s.cfg.Failpoints.Disable(name) // only "not exist" can fail
	return s.pushFailpoints(ctx)
}

// pushFailpoints sets the run's failpoints on every instance with
// failpoints of its own; a frozen one gets them when it thaws. s.fpMu is
// held.
func (s *Stack) pushFailpoints(ctx context.Context) error {
	set := s.failpointsNow()
	var errs []error
	for _, a := range s.apps {
		if err := a.pushFailpoints(ctx, set); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.ID(), err))
		}
	}
	return errors.Join(errs...)
}

// pushFailpoints sets set on the instance if it has failpoints of its own;
// if it is frozen, it is marked to get the run's failpoints when it thaws.
// The stack's fpMu is held.
func (a *appNode) pushFailpoints(ctx context.Context, set map[string]string) error {
	p := a.proc.Load()
	if p == nil {
		return nil
	}
	f, ok := (*p).(failpointSetter)
	if !ok {
		return nil
	}
	err := f.SetFailpoints(ctx, set)
	if errors.Is(err, errFrozen) {
		a.fpStale.Store(true)
		return nil
	}
	return err
}

// crashed marks an instance a failpoint killed as down and restarts it
// after crashRestartDelay, unless the stack is closing by then.
func (s *Stack) crashed(a *appNode) {
	if a == nil || !a.ready.Load() || s.closing.Load() {
		return // still starting (no fault runs before Up returns), or closing
	}
	_ = a.Kill(context.Background())
	time.AfterFunc(crashRestartDelay, func() {
		if s.closing.Load() || a.State() != sim.StateDown {
			return
		}
		_ = a.Restart(context.Background())
	})
}

// LoseRegion loses the primary region: its app tier and ledger instances
// die for good, the cache turns cold, and after the DR promotion delay the
// DR copy becomes the writer and a fresh app tier starts against it,
// replaying Kafka from the start under new consumer groups (consumers are
// idempotent, so the replay restores effects the copy missed).
func (s *Stack) LoseRegion(ctx context.Context) error {
	b, ok := s.backend.(regional)
	dr := s.cfg.Topology.DR
	if !ok || dr == nil {
		return errors.New("region loss: this stack has no DR copy (topology.dr)")
	}
	for _, a := range s.apps {
		_ = a.Kill(ctx)
	}
	if err := b.LoseRegion(ctx); err != nil {
		return err
	}
	time.AfterFunc(dr.PromoteAfter, func() {
		if s.closing.Load() {
			return
		}
		if err := b.PromoteDR(context.Background()); err != nil {
			return
		}
		s.groupSuffix.Store("-dr")
		for _, a := range s.apps {
			a.mu.Lock()
			a.cfg.ReaderAddr = "" // the DR region reads from its writer
			a.cfg.GroupSuffix = "-dr"
			a.mu.Unlock()
			if !s.closing.Load() {
				_ = a.Restart(context.Background())
			}
		}
	})
	return nil
}

// Groups are the consumer groups the app tier uses now.
func (s *Stack) Groups() []string {
	suffix, _ := s.groupSuffix.Load().(string)
	return []string{payments.GroupBonus + suffix, payments.GroupCache + suffix, payments.GroupShipper + suffix}
}

// Network is the region's network between AZs, for link faults; nil if the
// backend has none.
func (s *Stack) Network() sim.Network {
	if n, ok := s.backend.(networked); ok {
		return n.Network()
	}
	if l, ok := s.backend.(linked); ok {
		return l.Links()
	}
	return nil
}

// Switchover fails a service's primary over on purpose (planned).
func (s *Stack) Switchover(ctx context.Context, svc sim.Service) error {
	if b, ok := s.backend.(switcher); ok {
		return b.Switchover(ctx, svc)
	}
	return fmt.Errorf("switchover: not supported by this backend")
}

// LagReplica makes the MySQL replica id apply the writer's commits lag
// late (0: as they arrive).
func (s *Stack) LagReplica(ctx context.Context, id string, lag time.Duration) error {
	if b, ok := s.backend.(replicaLagger); ok {
		return b.LagReplica(ctx, id, lag)
	}
	return fmt.Errorf("replica lag: not supported by this backend")
}

// MoveKafkaLeaders re-elects every Kafka partition leader.
func (s *Stack) MoveKafkaLeaders(ctx context.Context) error {
	if b, ok := s.backend.(leaderMover); ok {
		return b.MoveKafkaLeaders(ctx)
	}
	return fmt.Errorf("kafka leader move: not supported by this backend")
}

// InFlight is how many write requests the running app instances are
// handling now (check.DrainTarget.Busy).
func (s *Stack) InFlight() int {
	n := 0
	for _, a := range s.apps {
		if p := a.proc.Load(); p != nil {
			n += (*p).InFlight()
		}
	}
	return n
}

func (a *appNode) kill() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.proc.Swap(nil); p != nil {
		(*p).Kill()
	}
}

// launch starts the instance unless it runs. The run's failpoints it starts
// with are brought up to date once it runs, under the stack's failpoint
// lock, before the stack's changes reach it (pushFailpoints).
func (a *appNode) launch(ctx context.Context, s *Stack) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc.Load() != nil {
		return nil
	}
	s.fpMu.Lock()
	fps := s.failpointsNow()
	s.fpMu.Unlock()
	p, err := a.host.launch(ctx, a.cfg, fps)
	if err != nil {
		return err
	}
	s.fpMu.Lock()
	defer s.fpMu.Unlock()
	if f, ok := p.(failpointSetter); ok {
		if err := f.SetFailpoints(ctx, s.failpointsNow()); err != nil {
			p.Kill()
			return fmt.Errorf("failpoints: %w", err)
		}
	}
	a.proc.Store(&p)
	return nil
}

// Pause freezes the instance's process where it can be (a container's) and
// stalls its front.
func (a *appNode) Pause(ctx context.Context) error {
	if p := a.proc.Load(); p != nil {
		if pp, ok := (*p).(processPauser); ok {
			if err := pp.Pause(ctx); err != nil {
				return err
			}
		}
	}
	return a.Node.Pause(ctx)
}

// Resume undoes Pause; a process that missed failpoint changes while it
// was frozen gets the run's failpoints first.
func (a *appNode) Resume(ctx context.Context) error {
	if p := a.proc.Load(); p != nil {
		if pp, ok := (*p).(processPauser); ok {
			if err := pp.Resume(ctx); err != nil {
				return err
			}
		}
	}
	if a.fpStale.Swap(false) {
		a.s.fpMu.Lock()
		err := a.pushFailpoints(ctx, a.s.failpointsNow())
		a.s.fpMu.Unlock()
		if err != nil {
			return fmt.Errorf("resume %s: %w", a.ID(), err)
		}
	}
	return a.Node.Resume(ctx)
}

// MemConns is how many connections the in-process clients opened in memory
// (internal/memnet): the load generator's to the load balancer, the
// balancer's to the app instances and the instances' to the nodes.
// Containers mode opens none.
func (s *Stack) MemConns() uint32 {
	if s.mem == nil {
		return 0
	}
	return s.mem.Conns()
}

// Dial is how an in-process client (the load generator) reaches the
// stack's endpoints in memory (internal/memnet, which dials TCP for what it
// does not serve), or nil in containers mode: the client's own dialer then.
func (s *Stack) Dial() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.mem == nil {
		return nil
	}
	return s.mem.DialContext
}

// Endpoints returns every client address, including the payment API.
func (s *Stack) Endpoints() sim.Endpoints {
	ep := s.backend.Endpoints()
	if s.lb != nil {
		ep.API = &sim.APIEndpoint{URL: s.lb.URL()}
	}
	return ep
}

// Topology is the topology the stack was started with.
func (s *Stack) Topology() sim.Topology { return s.cfg.Topology }

// Backend is the infrastructure backend (an *embedded.Stack or a
// *containers.Stack), for abilities only one mode has.
func (s *Stack) Backend() sim.Backend { return s.backend }

// Registry is the live view of every node.
func (s *Stack) Registry() *sim.Registry { return s.backend.Registry() }

// Ledger is a connection pool on the writer endpoint, for checkers.
func (s *Stack) Ledger() *sql.DB { return s.ledger }

// Balancer is the load balancer.
func (s *Stack) Balancer() *lb.Balancer { return s.lb }

// Failpoints is the run's failpoint registry.
func (s *Stack) Failpoints() *failpoint.Failpoints { return s.cfg.Failpoints }

// Describe says what every node runs (sim.NodeInfo): the backend's nodes,
// as it tells, then the payment API instances, paysim's own code in this
// process. Sorted by ID.
func (s *Stack) Describe(ctx context.Context) []sim.NodeInfo {
	var out []sim.NodeInfo
	if d, ok := s.backend.(sim.Describer); ok {
		out = d.Describe(ctx)
	}
	for _, a := range s.apps {
		n := a.host.describe(a.ID())
		n.AZ = a.AZ()
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Nodes returns every node (infrastructure and app), sorted by ID.
func (s *Stack) Nodes() []sim.Node {
	out := s.backend.Nodes()
	for _, a := range s.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Status().ID < out[j].Status().ID })
	return out
}

// Node finds a node by ID.
func (s *Stack) Node(id string) (sim.Node, bool) {
	for _, n := range s.Nodes() {
		if n.Status().ID == id {
			return n, true
		}
	}
	return nil, false
}

// Release tears one tier down before the rest: the app tier (the load
// balancer and every instance), or a backend service. A run's checks release
// each tier once they have read its state, so a long run's checks never hold
// the whole idle stack beside what they loaded. From the first release on
// the stack is closing: nothing restarts or is promoted. Releasing the
// ledger also closes the Ledger pool. Close still tears down the rest.
func (s *Stack) Release(svc sim.Service) error {
	s.closing.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released[svc] {
		return nil
	}
	if s.released == nil {
		s.released = map[sim.Service]bool{}
	}
	s.released[svc] = true
	var err error
	switch svc {
	case sim.ServiceApp:
		if s.lb != nil {
			err = s.lb.Close()
		}
		var wg sync.WaitGroup
		for _, a := range s.apps { // a container's kill takes a moment
			wg.Go(func() {
				a.Front().Close()
				a.kill()
			})
		}
		wg.Wait()
		return err
	case sim.ServiceMySQL:
		if s.ledger != nil {
			err = s.ledger.Close()
		}
	}
	if b, ok := s.backend.(releaser); ok {
		b.Release(svc)
	}
	return err
}

// Close tears everything down; it is safe to call more than once.
func (s *Stack) Close() error {
	var errs []error
	s.once.Do(func() {
		errs = append(errs, s.Release(sim.ServiceApp), s.Release(sim.ServiceMySQL))
		if s.backend != nil {
			errs = append(errs, s.backend.Close())
		}
	})
	return errors.Join(errs...)
}
