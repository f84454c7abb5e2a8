// Package containers runs paysim's data tier as the real servers, one
// Docker container per node through testcontainers-go, on a network of the
// run's own: MariaDB 10.11 (the primary in the first AZ, a GTID replica in
// each other AZ, read_only) with the ledger schema, and Redis 7 (a primary
// in the first AZ, a replica in the second) watched by one Sentinel per AZ.
//
// Every container and the network carry the label paysim.run=<run id> (and
// the node's paysim.az, paysim.service, paysim.role, paysim.node); Close
// removes them, and so does Start on any error, cancellation or panic. What
// a killed process leaves, `paysim down` (engine.Sweep) removes. Ports are
// published on 127.0.0.1 only, each on a port chosen below the ephemeral
// range so that it is still free when a killed node restarts.
//
// Nodes are shaped after sim's node abilities (sim.Node, sim.Pauser,
// sim.Isolator). Stack (StartStack) is the containers-mode backend sim/stack
// runs: this data tier, the Kafka node's container (kafkaContainer) and the
// search nodes, still in-process; the app tier and search containers come
// later.
package containers

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"golang.org/x/sync/errgroup"

	"paysim/internal/loopback"
	"paysim/sim"
	"paysim/sim/containers/engine"
	"paysim/sim/containers/images"
	"paysim/sim/payments"
)

// Options configures the data tier.
type Options struct {
	// Run is the run id every container and the network are labelled with;
	// empty means a new one (engine.NewRunID).
	Run string
	// Topology gives the AZs and the MySQL account (user, password, database).
	Topology sim.Topology
	// Image is the image of every node; empty means images.BaseRef(),
	// built here when it is missing (the first containers run builds it).
	// Another image must be on the engine: paysim never pulls it.
	Image string
	// Images overrides Image for MySQL or Redis (its Sentinels too): each
	// must be on the engine and hold what its service runs (imagePrograms), checked
	// before any node starts.
	Images sim.Images
	// build builds the default image when it is missing; nil means
	// images.Build (tests stand in a cheaper one).
	build func(context.Context, *engine.Engine, images.Options) ([]images.Result, error)
	// Schema creates the ledger's tables on the primary through the
	// application's account, once replication runs (so the replicas get it
	// by replication). Nil means LedgerSchema.
	Schema func(ctx context.Context, db *sql.DB) error
	// NoSchema leaves the database empty.
	NoSchema bool
	// ReadyTimeout bounds each node's readiness wait; 0 means 2 minutes.
	ReadyTimeout time.Duration
	// Logger receives testcontainers' log lines; nil drops them.
	Logger tclog.Logger
	// Progress, if set, is told about each setup step as it completes.
	Progress func(step string, done, total int)
	// Registry receives the nodes' status; nil means a registry of the
	// tier's own. A backend composing the tier with other nodes passes the
	// registry they all share.
	Registry *sim.Registry
}

// ensureImage returns nil when ref is on the engine. A missing image is
// built by build, its statuses told to progress as setup steps, when build
// is set (the default image); otherwise it is an error wrapping
// images.ErrMissing that names the command building it.
func ensureImage(ctx context.Context, eng *engine.Engine, ref string, build func(context.Context, *engine.Engine, images.Options) ([]images.Result, error), progress func(step string, done, total int)) error {
	err := images.Require(ctx, eng, ref)
	if build == nil || !errors.Is(err, images.ErrMissing) {
		return err
	}
	if progress == nil {
		progress = func(string, int, int) {}
	}
	progress("building image "+ref+" (the first containers run builds it; paysim images build does it ahead)", 0, 1)
	if _, err := build(ctx, eng, images.Options{Kinds: []images.Kind{images.KindBase}, Progress: setupSteps(progress)}); err != nil {
		return fmt.Errorf("build %s: %w", ref, err)
	}
	return images.Require(ctx, eng, ref)
}

// readyImages makes the tier's images ready before any node starts: each
// user's image present and holding what its service needs, then paysim's
// base, built where a service uses it and it is missing.
func (d *DataTier) readyImages(ctx context.Context, base string, build func(context.Context, *engine.Engine, images.Options) ([]images.Result, error), opt Options) error {
	usesBase := false
	for _, svc := range []sim.Service{sim.ServiceMySQL, sim.ServiceRedis} {
		if ref := d.images[svc]; ref != base {
			if err := checkImage(ctx, d.eng, d.run, svc, ref); err != nil {
				if ctx.Err() != nil {
					return err
				}
				return fmt.Errorf("%w: %w", sim.ErrEnvironment, err) // the user's image: exit 3, not a failed run
			}
		} else {
			usesBase = true
		}
	}
	if !usesBase {
		return nil
	}
	return ensureImage(ctx, d.eng, base, build, opt.Progress)
}

// setupSteps reports an image build's statuses as setup notes: a
// progress callback told done and total -1 shows the step's text without
// counting it (the images are made beside the tier's counted steps).
type setupSteps func(step string, done, total int)

// Step implements images.Progress.
func (f setupSteps) Step(name string) images.Step { return setupStep{f: f, name: name} }

type setupStep struct {
	f    setupSteps
	name string
}

// Status reports msg as a note between steps: done and total -1.
func (s setupStep) Status(msg string) { s.f("image "+s.name+": "+msg, -1, -1) }

// Done reports the summary as a note between steps.
func (s setupStep) Done(summary string, err error) {
	if err == nil {
		s.f("image "+s.name+": "+summary, -1, -1)
	}
}

// LedgerSchema is the payment service's own DDL (payments.Migrate), so the
// tables are exactly the ones the app's statements run against.
func LedgerSchema(ctx context.Context, db *sql.DB) error { return payments.Migrate(ctx, db, nil) }

// DataTier is a running MariaDB cluster and Redis with Sentinel.
type DataTier struct {
	run    string
	topo   sim.Topology
	eng    *engine.Engine
	reg    *sim.Registry
	images map[sim.Service]string // mysql and redis (with Sentinel)
	logger tclog.Logger           // testcontainers' log lines

	mu      sync.Mutex
	net     *testcontainers.DockerNetwork
	ctrs    []*testcontainers.DockerContainer // every container created, for Close
	mysql   []*Node                           // primary first
	redis   []*Node                           // primary first
	sentinl []*Node
	// direct takes paysim's own connections to the containers' ports
	// past the engine's userland proxy.
	direct *directs

	closeOnce sync.Once
	closeErr  error
}

// closeTimeout bounds Close; it runs on a context of its own, so that a
// cancelled start or run still cleans up.
const closeTimeout = 2 * time.Minute

// Start brings the data tier up and returns when every node is ready,
// replication runs, the schema is on every MySQL node and Sentinel can fail
// over. Without a Docker engine, or without the image, the error wraps
// sim.ErrEnvironment. On any error, cancellation or panic it removes
// everything it created before returning.
func Start(ctx context.Context, opt Options) (_ *DataTier, err error) {
	topo := opt.Topology
	if len(topo.AZs) == 0 {
		return nil, errors.New("data tier: topology has no AZs")
	}
	if topo.MySQL.User == "" || topo.MySQL.Database == "" {
		return nil, errors.New("data tier: topology.mysql needs a user and a database")
	}
	run := opt.Run
	if run == "" {
		run = engine.NewRunID(time.Now())
	}
	if err := engine.ValidRunID(run); err != nil {
		return nil, fmt.Errorf("data tier: %w", err)
	}
	eng, err := engine.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("data tier: %w", err)
	}
	base := opt.Image
	build := opt.build
	if base == "" {
		base = images.BaseRef()
		if build == nil {
			build = images.Build
		}
	}
	imgs := map[sim.Service]string{}
	for _, svc := range []sim.Service{sim.ServiceMySQL, sim.ServiceRedis} {
		imgs[svc] = cmp.Or(opt.Images[svc], base)
	}
	reg := opt.Registry
	if reg == nil {
		reg = sim.NewRegistry()
	}
	d := &DataTier{run: run, topo: topo, eng: eng, reg: reg, images: imgs}
	if err := d.readyImages(ctx, base, build, opt); err != nil {
		eng.Close()
		if errors.Is(err, images.ErrMissing) && !errors.Is(err, sim.ErrEnvironment) {
			return nil, fmt.Errorf("data tier: %w: %w", sim.ErrEnvironment, err)
		}
		return nil, fmt.Errorf("data tier: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			_ = d.Close()
			panic(r)
		}
		if err != nil {
			cerr := d.Close()
			var p *panicError
			if errors.As(err, &p) { // a start goroutine panicked: clean, then go on panicking here
				panic(p.value)
			}
			err = errors.Join(err, cerr)
		}
	}()
	if err := d.start(ctx, opt); err != nil {
		return nil, fmt.Errorf("data tier: %w", err)
	}
	return d, nil
}

func (d *DataTier) start(ctx context.Context, opt Options) error {
	readyTimeout := opt.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = 2 * time.Minute
	}
	logger := opt.Logger
	if logger == nil {
		logger = tclog.NewNoopLogger()
	}
	d.logger = logger
	azs := d.topo.AZs
	my := d.topo.MySQL
	total := len(azs) + 2 + len(azs) + 3 // nodes, replication, schema, failover
	var pmu sync.Mutex
	done := 0
	progress := func(step string) {
		if opt.Progress == nil {
			return
		}
		pmu.Lock()
		defer pmu.Unlock()
		done++
		opt.Progress(step, done, total)
	}

	netLabels, err := engine.Labels{Run: d.run}.Map()
	if err != nil {
		return err
	}
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(netLabels), tcnetwork.WithAttachable())
	d.mu.Lock()
	d.net = nw
	if nw != nil {
		d.direct = newDirects(d.eng.Client(), nw.ID)
	}
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}

	type spec struct {
		id      string
		svc     sim.Service
		az      string
		role    sim.Role
		port    string
		opts    []testcontainers.ContainerCustomizer
		replica bool
	}
	var mysqlSpecs, redisSpecs, sentinelSpecs []spec
	primaryMySQL := "mysql-" + azs[0]
	for i, az := range azs {
		role := sim.RolePrimary
		if i > 0 {
			role = sim.RoleReplica
		}
		ready := mysqlReady{user: my.User, pass: my.Password, db: my.Database, timeout: readyTimeout}
		mysqlSpecs = append(mysqlSpecs, spec{id: "mysql-" + az, svc: sim.ServiceMySQL, az: az, role: role, port: mysqlPort,
			opts: mysqlRequest(mariadbScript(i+1, i > 0), mysqlInitSQL(my.User, my.Password, my.Database), ready), replica: i > 0})
	}
	redisIDs := []string{fmt.Sprintf("redis-0-%s", d.topo.AZAt(0)), fmt.Sprintf("redis-1-%s", d.topo.AZAt(1))}
	redisSpecs = append(redisSpecs,
		spec{id: redisIDs[0], svc: sim.ServiceRedis, az: d.topo.AZAt(0), role: sim.RolePrimary, port: redisPort,
			opts: redisRequest(redisScript(redisIDs[0], ""), redisReady(false, readyTimeout))},
		spec{id: redisIDs[1], svc: sim.ServiceRedis, az: d.topo.AZAt(1), role: sim.RoleReplica, port: redisPort,
			opts: redisRequest(redisScript(redisIDs[1], redisIDs[0]), redisReady(true, readyTimeout)), replica: true})
	quorum := min(2, len(azs))
	for _, az := range azs {
		id := "sentinel-" + az
		sentinelSpecs = append(sentinelSpecs, spec{id: id, svc: sim.ServiceRedis, az: az, role: RoleSentinel, port: sentinelPort,
			opts: sentinelRequest(sentinelConf(id, redisIDs[0], quorum), sentinelReady(readyTimeout))})
	}

	startAll := func(ctx context.Context, specs []spec) ([]*Node, error) {
		out := make([]*Node, len(specs))
		g, gctx := errgroup.WithContext(ctx)
		for i, s := range specs {
			goSafe(g, func() error {
				n, err := d.startNode(gctx, nw, s.id, s.svc, s.az, s.role, s.port, logger, s.opts)
				if err != nil {
					return err
				}
				out[i] = n
				progress(s.id + " ready")
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		return out, nil
	}

	g, gctx := errgroup.WithContext(ctx)
	goSafe(g, func() error { // MySQL: nodes, replication, schema, replicas caught up
		nodes, err := startAll(gctx, mysqlSpecs)
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.mysql = nodes
		d.mu.Unlock()
		rg, rctx := errgroup.WithContext(gctx)
		for _, n := range nodes[1:] {
			goSafe(rg, func() error {
				if err := startReplication(rctx, n.addr, primaryMySQL); err != nil {
					return fmt.Errorf("replication %s: %w", n.id, err)
				}
				return nil
			})
		}
		if err := rg.Wait(); err != nil {
			return err
		}
		progress("mysql replication")
		if !opt.NoSchema {
			schema := opt.Schema
			if schema == nil {
				schema = LedgerSchema
			}
			db, err := openDB(dsn(my.User, my.Password, nodes[0].addr, my.Database, 10*time.Second))
			if err != nil {
				return fmt.Errorf("schema: %w", err)
			}
			err = schema(gctx, db)
			db.Close()
			if err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		if err := d.WaitReplicas(gctx); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		progress("mysql schema")
		return nil
	})
	goSafe(g, func() error { // Redis: primary and replica, then the Sentinels
		nodes, err := startAll(gctx, redisSpecs)
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.redis = nodes
		d.mu.Unlock()
		sents, err := startAll(gctx, sentinelSpecs)
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.sentinl = sents
		d.mu.Unlock()
		fctx, cancel := context.WithTimeout(gctx, readyTimeout)
		defer cancel()
		if err := waitFailoverReady(fctx, d.SentinelAddrs(), len(nodes)-1); err != nil {
			return fmt.Errorf("sentinel: %w", err)
		}
		progress("sentinel quorum")
		return nil
	})
	return g.Wait()
}

// panicError carries a panic out of a start goroutine, where nothing would
// recover it, to Start, which cleans up and panics again.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.value, p.stack) }

// goSafe runs fn in g, turning a panic into a *panicError.
func goSafe(g *errgroup.Group, fn func() error) {
	g.Go(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = &panicError{value: r, stack: debug.Stack()}
			}
		}()
		return fn()
	})
}

// portRetries bounds the attempts to publish a node on a free port that
// something else took between the pick and the container's start.
const portRetries = 3

// startNode creates and starts one node's container, publishing port on a
// free 127.0.0.1 port, and registers it. A container that fails is kept in
// d.ctrs for Close.
func (d *DataTier) startNode(ctx context.Context, nw *testcontainers.DockerNetwork, id string, svc sim.Service, az string,
	role sim.Role, port string, logger tclog.Logger, extra []testcontainers.ContainerCustomizer) (*Node, error) {
	labels, err := nodeLabels(d.run, id, svc, az, role)
	if err != nil {
		return nil, err
	}
	opts := append([]testcontainers.ContainerCustomizer{
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			// For the network faults (iptables in the node's own namespace).
			hc.CapAdd = append(hc.CapAdd, "NET_ADMIN")
		}),
	}, extra...)
	ctr, published, err := d.startContainer(ctx, nw, d.images[svc], id, labels, []string{port}, logger, opts)
	if err != nil {
		return nil, err
	}
	hostAddr := published[port]
	n := &Node{id: id, service: svc, az: az, port: port, addr: hostAddr, reg: d.reg, direct: d.direct,
		cli: d.eng.Client(), netID: nw.ID, ctr: ctr}
	d.reg.Add(sim.NodeStatus{ID: id, Service: svc, AZ: az, Role: role, State: sim.StateUp, Addr: hostAddr})
	return n, nil
}

// startContainer creates and starts a container of image named for the run
// and id on the run's network (with id as its host name and alias),
// publishing each of ports on a free 127.0.0.1 port, and returns the host
// address of each. It retries on other ports when one it picked was taken
// before the container started. A container that fails is kept in d.ctrs
// for Close.
func (d *DataTier) startContainer(ctx context.Context, nw *testcontainers.DockerNetwork, image, id string, labels map[string]string,
	ports []string, logger tclog.Logger, extra []testcontainers.ContainerCustomizer) (*testcontainers.DockerContainer, map[string]string, error) {
	var lastErr error
	for attempt := 0; attempt < portRetries; attempt++ {
		publish := map[string]int{}
		published := map[string]string{}
		for _, port := range ports {
			hostAddr, err := loopback.FreeAddr(engine.LoopbackHost)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", id, err)
			}
			_, hp, _ := net.SplitHostPort(hostAddr)
			hostPort, err := strconv.Atoi(hp)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: port %q: %w", id, hp, err)
			}
			publish[port], published[port] = hostPort, hostAddr
		}
		opts := []testcontainers.ContainerCustomizer{
			testcontainers.WithLogger(logger),
			testcontainers.WithName(fmt.Sprintf("paysim-%s-%s", d.run, id)),
			testcontainers.WithLabels(labels),
			tcnetwork.WithNetwork([]string{id}, nw),
			engine.PublishLoopback(publish),
			testcontainers.WithConfigModifier(func(c *container.Config) { c.Hostname = id }),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				init := true
				hc.Init = &init // the engine's tini as PID 1: signals and zombies handled
			}),
		}
		opts = append(opts, extra...)
		ctr, err := testcontainers.Run(ctx, image, opts...)
		if ctr != nil {
			d.mu.Lock()
			d.ctrs = append(d.ctrs, ctr)
			d.mu.Unlock()
		}
		if err == nil {
			if err := d.direct.track(ctx, ctr.GetContainerID(), published); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", id, err)
			}
			return ctr, published, nil
		}
		lastErr = err
		if ctx.Err() != nil || !portTaken(err) {
			break
		}
		// Someone took a port: drop this container and pick others.
		if ctr != nil {
			_ = ctr.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0))
		}
	}
	return nil, nil, fmt.Errorf("%s: %w", id, lastErr)
}

func portTaken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

// WaitReplicas waits until every MySQL replica has applied everything the
// primary had committed when it was called (MASTER_GTID_WAIT on the
// primary's GTID position).
func (d *DataTier) WaitReplicas(ctx context.Context) error {
	mysqlNodes := d.MySQLNodes()
	if len(mysqlNodes) == 0 {
		return errors.New("wait replicas: no mysql nodes")
	}
	pdb, err := openDB(dsn(adminUser, adminPass, mysqlNodes[0].addr, "", 5*time.Second))
	if err != nil {
		return err
	}
	defer pdb.Close()
	var pos string
	if err := pdb.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		return fmt.Errorf("wait replicas: primary position: %w", err)
	}
	for _, n := range mysqlNodes[1:] {
		if err := waitGTID(ctx, n.addr, pos); err != nil {
			return fmt.Errorf("wait replicas: %s: %w", n.id, err)
		}
	}
	return nil
}

// waitGTID waits, in steps of a second so that ctx is honoured, until the
// replica at addr has applied pos.
func waitGTID(ctx context.Context, addr, pos string) error {
	db, err := openDB(dsn(adminUser, adminPass, addr, "", 5*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		var r int
		if err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 1)", pos).Scan(&r); err != nil {
			return err
		}
		if r == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Run is the run id the tier's containers and network are labelled with.
func (d *DataTier) Run() string { return d.run }

// Image is the image the nodes of svc (mysql or redis) run.
func (d *DataTier) Image(svc sim.Service) string { return d.images[svc] }

// Registry is the live state of every node.
func (d *DataTier) Registry() *sim.Registry { return d.reg }

// Nodes returns every node, MySQL first, then Redis, then the Sentinels.
func (d *DataTier) Nodes() []*Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*Node
	out = append(out, d.mysql...)
	out = append(out, d.redis...)
	out = append(out, d.sentinl...)
	return out
}

// Node finds a node by id.
func (d *DataTier) Node(id string) (*Node, bool) {
	for _, n := range d.Nodes() {
		if n.id == id {
			return n, true
		}
	}
	return nil, false
}

// MySQLNodes returns the MariaDB nodes, the primary (first AZ) first.
func (d *DataTier) MySQLNodes() []*Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Node(nil), d.mysql...)
}

// RedisNodes returns the Redis nodes, the primary first.
func (d *DataTier) RedisNodes() []*Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Node(nil), d.redis...)
}

// SentinelNodes returns the Sentinels, one per AZ.
func (d *DataTier) SentinelNodes() []*Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Node(nil), d.sentinl...)
}

// MySQL is the ledger's endpoint: the writer (the primary's published
// address, until a control plane gives it a stable one) and a reader per
// replica AZ, with the application's account.
func (d *DataTier) MySQL() sim.MySQLEndpoint {
	nodes := d.MySQLNodes()
	ep := sim.MySQLEndpoint{User: d.topo.MySQL.User, Password: d.topo.MySQL.Password, Database: d.topo.MySQL.Database,
		Readers: map[string]string{}, AsyncReaders: true, SemiSync: true}
	if len(nodes) > 0 {
		ep.Addr = nodes[0].addr
	}
	for _, n := range nodes[1:] {
		ep.Readers[n.az] = n.addr
	}
	return ep
}

// Redis is the cache's endpoint: the primary's and the replica's published
// addresses (clients that follow failover ask the Sentinels instead).
func (d *DataTier) Redis() sim.RedisEndpoint {
	nodes := d.RedisNodes()
	var ep sim.RedisEndpoint
	if len(nodes) > 0 {
		ep.Addr = nodes[0].addr
	}
	if len(nodes) > 1 {
		ep.Reader = nodes[1].addr
	}
	return ep
}

// SentinelAddrs are the Sentinels' published addresses, in AZ order.
func (d *DataTier) SentinelAddrs() []string {
	var out []string
	for _, n := range d.SentinelNodes() {
		out = append(out, n.addr)
	}
	return out
}

// DialUpstream dials addr, a published port of one of the run's
// containers straight at the container (see directs), any other as it is.
func (d *DataTier) DialUpstream(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	dir := d.direct
	d.mu.Unlock()
	if dir == nil {
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
	return dir.Dial(ctx, network, addr)
}

// nodeAt is the node at addr: its published address or its name on the
// run's network (InternalAddr).
func (d *DataTier) nodeAt(addr string) (*Node, bool) {
	for _, n := range d.Nodes() {
		if n.Addr() == addr || n.InternalAddr() == addr {
			return n, true
		}
	}
	return nil, false
}

// PublishedAddr maps an address on the run's network, as Sentinel names a
// node ("redis-0-ap-northeast-1a:6379"), to its published 127.0.0.1 address.
func (d *DataTier) PublishedAddr(internal string) (string, bool) {
	if n, ok := d.nodeAt(internal); ok && n.InternalAddr() == internal {
		return n.Addr(), true
	}
	return "", false
}

// Close removes every container and the network of the tier, then sweeps
// anything else labelled with its run id; it is safe to call more than
// once and works after the start's context is cancelled.
func (d *DataTier) Close() error {
	d.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		d.mu.Lock()
		ctrs, nw := d.ctrs, d.net
		d.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range ctrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A paused container is thawed so that it can be stopped.
				if st, err := c.State(ctx); err == nil && st.Paused {
					_ = d.unpause(ctx, c.GetContainerID())
				}
				_ = c.Terminate(ctx, testcontainers.StopTimeout(0))
			}()
		}
		wg.Wait()
		if nw != nil {
			_ = nw.Remove(ctx)
		}
		// Whatever is left (a container whose creation the cancelled context
		// did not report back, a failed terminate) goes by label.
		_, err := d.eng.Sweep(ctx, d.run)
		if err == nil {
			var left []engine.Resource
			if left, err = d.eng.Leftovers(ctx, d.run); err == nil && len(left) > 0 {
				err = fmt.Errorf("%d containers or networks of run %s remain", len(left), d.run)
			}
		}
		if err != nil {
			d.closeErr = fmt.Errorf("close: %w", err)
		}
		d.eng.Close()
	})
	return d.closeErr
}

func (d *DataTier) unpause(ctx context.Context, id string) error {
	_, err := d.eng.Client().ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
	return err
}

// String describes the tier for logs.
func (d *DataTier) String() string {
	var parts []string
	for _, n := range d.Nodes() {
		parts = append(parts, fmt.Sprintf("%s=%s", n.id, n.addr))
	}
	return fmt.Sprintf("run %s: %s", d.run, strings.Join(parts, " "))
}

// Describe asks every container what it runs: MariaDB's SELECT VERSION(),
// Redis' and Sentinel's INFO server (redis_version). A node that does not
// answer within a second says why in its version.
func (d *DataTier) Describe(ctx context.Context) []sim.NodeInfo {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	nodes := d.Nodes()
	out := make([]sim.NodeInfo, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := serverVersion(ctx, n)
			if err != nil {
				v = "unknown: " + err.Error()
			}
			out[i] = sim.NodeInfo{ID: n.ID(), Service: n.Service(), AZ: n.AZ(), Image: d.images[n.Service()], Version: v}
		}()
	}
	wg.Wait()
	return out
}

// serverVersion is the node's server's own version string.
func serverVersion(ctx context.Context, n *Node) (string, error) {
	if n.Service() == sim.ServiceMySQL {
		db, err := openDB(dsn(adminUser, adminPass, n.Addr(), "", time.Second))
		if err != nil {
			return "", err
		}
		defer db.Close()
		var v string
		err = db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v)
		return v, err
	}
	c := redis.NewClient(&redis.Options{Addr: n.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			mode := "redis"
			if n.Status().Role == RoleSentinel {
				mode = "redis-sentinel"
			}
			return mode + " " + v, nil
		}
	}
	return "", errors.New("INFO server has no redis_version")
}
