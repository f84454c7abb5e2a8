package mysqlwire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"paysim/internal/loopback"
)

// maxAllowedPacket bounds statement values (and is reported as @@max_allowed_packet).
const maxAllowedPacket = 64 << 20

// ServerVersion is the version the instances report (handshake, VERSION(), @@version).
const ServerVersion = "8.0.36-paysim"

// Config configures one DB instance.
type Config struct {
	// Addr is the listen address; it must be a loopback address. Default
	// "127.0.0.1:0" (any free port, kept across Kill/Start).
	Addr string
	// User and Password are the only credentials accepted
	// (mysql_native_password). Default user "root", empty password.
	User, Password string
	// Database is the schema name clients see (USE, DATABASE(), SHOW
	// DATABASES). Default "paysim".
	Database string
	// ReadOnly starts the instance as a reader: writes fail with 1290.
	ReadOnly bool
	// Name identifies the instance (@@hostname, @@aurora_server_id).
	// Default: the listen address.
	Name string
	// LockWaitTimeout bounds how long a statement waits for the storage's
	// single writer lock before failing with 1205. Default 10s.
	LockWaitTimeout time.Duration
	// MaxConnections caps open client connections (1040 beyond). Default 1000.
	MaxConnections int
	// HandshakeTimeout bounds connection setup. Default 10s.
	HandshakeTimeout time.Duration
	// StatementTimeout interrupts statements running longer (error 3024,
	// like MySQL's max_execution_time). Default 0: no limit.
	StatementTimeout time.Duration
	// IdleTxnTimeout drops a connection that sits idle this long while its
	// transaction holds the storage's writer lock (the transaction rolls
	// back). InnoDB would only block the rows such a client locked; here one
	// stalled client (a partitioned app) would block every writer. Default
	// 30s; negative disables.
	IdleTxnTimeout time.Duration
	// Listen binds the listen address; nil is loopback.Listen. A stack
	// passes one that also accepts in-memory connections (memnet).
	Listen func(addr string) (net.Listener, error)
}

// Stats is a snapshot of an instance's counters.
type Stats struct {
	Name               string
	Addr               string
	Running            bool
	ReadOnly           bool
	OpenConnections    int    // client connections open now
	TotalConnections   uint64 // client connections authenticated since creation
	Queries            uint64 // statements executed (COM_QUERY statements and COM_STMT_EXECUTE)
	Errors             uint64 // error responses sent
	Commits            uint64 // transactions committed (COMMIT and implicit commits)
	Rollbacks          uint64 // transactions rolled back (ROLLBACK, deadlock, dropped connection)
	Deadlocks          uint64 // 1213 responses (SQLite busy)
	LockWaitTimeouts   uint64 // 1205 responses
	ReadOnlyRejections uint64 // 1290 responses
	Kills              uint64 // Kill calls that stopped a running instance
	Panics             uint64 // connections dropped after a recovered panic
	IdleTxnTimeouts    uint64 // connections dropped by IdleTxnTimeout
}

// Instance is one DB instance serving the MySQL protocol over the shared
// storage. Several instances (one writer, readers) can serve one Storage.
type Instance struct {
	st   *Storage
	cfg  Config
	srv  *server.Server
	auth *authHandler

	readOnly atomic.Bool

	life sync.Mutex // serialises Start/Kill/Close

	mu         sync.Mutex
	ln         net.Listener
	addr       string
	running    bool
	closed     bool
	cancel     context.CancelFunc
	conns      map[net.Conn]struct{}
	acceptDone chan struct{}
	sessions   sync.WaitGroup

	open                                     atomic.Int64
	total, queries, errors, commits          atomic.Uint64
	rollbacks, deadlocks, lockWaits, roRejct atomic.Uint64
	kills, panics, idleKills                 atomic.Uint64
}

// NewInstance creates an instance over st. It does not listen until Start.
func NewInstance(st *Storage, cfg Config) *Instance {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.Database == "" {
		cfg.Database = "paysim"
	}
	if cfg.LockWaitTimeout <= 0 {
		cfg.LockWaitTimeout = 10 * time.Second
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 1000
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.IdleTxnTimeout == 0 {
		cfg.IdleTxnTimeout = 30 * time.Second
	}
	i := &Instance{
		st:    st,
		cfg:   cfg,
		srv:   server.NewServer(ServerVersion, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil),
		conns: make(map[net.Conn]struct{}),
	}
	i.auth = &authHandler{InMemoryAuthenticationHandler: server.NewInMemoryAuthenticationHandler(mysql.AUTH_NATIVE_PASSWORD), inst: i}
	// AddUser only fails for an unknown auth plugin; native is always known.
	_ = i.auth.AddUser(cfg.User, cfg.Password)
	i.readOnly.Store(cfg.ReadOnly)
	return i
}

// authHandler checks credentials and the connection limit.
type authHandler struct {
	*server.InMemoryAuthenticationHandler
	inst *Instance
}

// OnAuthSuccess enforces MaxConnections and sets the initial status flags.
func (a *authHandler) OnAuthSuccess(c *server.Conn) error {
	if a.inst.open.Load() > int64(a.inst.cfg.MaxConnections) {
		return myErr(ErTooManyConnection, "08004", "Too many connections")
	}
	c.SetStatus(mysql.SERVER_STATUS_AUTOCOMMIT)
	return nil
}

// listenAddr validates and normalises a loopback listen address.
func listenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	switch host {
	case "", "localhost":
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("listen address %q: only loopback addresses are allowed", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// Start listens and serves. After Kill it listens again on the same address.
func (i *Instance) Start() error {
	i.life.Lock()
	defer i.life.Unlock()
	i.mu.Lock()
	closed, running, addr := i.closed, i.running, i.addr
	i.mu.Unlock()
	if closed {
		return errors.New("start: instance closed")
	}
	if running {
		return errors.New("start: already running")
	}
	if addr == "" {
		a, err := listenAddr(i.cfg.Addr)
		if err != nil {
			return fmt.Errorf("start: %w", err)
		}
		addr = a
	}
	listen := i.cfg.Listen
	if listen == nil {
		listen = loopback.Listen
	}
	ln, err := listen(addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	i.mu.Lock()
	i.ln, i.addr, i.running, i.cancel, i.acceptDone = ln, ln.Addr().String(), true, cancel, done
	i.mu.Unlock()
	go i.acceptLoop(ctx, ln, done)
	return nil
}

func (i *Instance) acceptLoop(ctx context.Context, ln net.Listener, done chan struct{}) {
	defer close(done)
	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. too many open files): back off, bounded.
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		i.mu.Lock()
		i.conns[nc] = struct{}{}
		i.sessions.Add(1)
		i.mu.Unlock()
		i.open.Add(1)
		go i.serve(ctx, nc)
	}
}

func (i *Instance) serve(ctx context.Context, nc net.Conn) {
	defer func() {
		// go-mysql v1.16.0 panics on some inputs (a non-empty scramble
		// against an empty password): drop the connection, keep serving.
		if r := recover(); r != nil {
			i.panics.Add(1)
		}
		_ = nc.Close()
		i.mu.Lock()
		delete(i.conns, nc)
		i.mu.Unlock()
		i.open.Add(-1)
		i.sessions.Done()
	}()
	s := newSession(i, ctx, nc)
	_ = nc.SetDeadline(time.Now().Add(i.cfg.HandshakeTimeout))
	sc, err := i.srv.NewCustomizedConn(&capConn{Conn: nc, extra: mysql.CLIENT_MULTI_STATEMENTS}, i.auth, s)
	if err != nil {
		return
	}
	_ = nc.SetDeadline(time.Time{})
	i.total.Add(1)
	conn, err := newSQLConn(ctx, i.st.db)
	if err != nil {
		return
	}
	s.attach(sc, conn)
	defer s.close()
	deadline := false
	idle := i.cfg.IdleTxnTimeout
	var until time.Time
	for !sc.Closed() {
		switch {
		case s.gate && idle > 0:
			until = time.Now().Add(idle)
			_ = nc.SetReadDeadline(until)
			deadline = true
		case deadline:
			_ = nc.SetReadDeadline(time.Time{})
			deadline = false
		}
		if err := sc.HandleCommand(); err != nil {
			// go-mysql wraps the read error; the clock tells the idle
			// timeout apart from a client that went away.
			if deadline && ctx.Err() == nil && !time.Now().Before(until) {
				i.idleKills.Add(1)
			}
			return
		}
	}
}

// Addr is the listen address ("127.0.0.1:port"); empty before the first Start.
func (i *Instance) Addr() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.addr
}

// Kill simulates the instance dying: the listener closes, every client
// connection drops, in-flight statements are interrupted and open
// transactions roll back. Committed data stays in the shared storage. Kill
// returns once every session is gone.
func (i *Instance) Kill() {
	i.life.Lock()
	defer i.life.Unlock()
	i.kill()
}

func (i *Instance) kill() {
	i.mu.Lock()
	if !i.running {
		i.mu.Unlock()
		return
	}
	i.running = false
	ln, cancel, done := i.ln, i.cancel, i.acceptDone
	i.mu.Unlock()
	_ = ln.Close()
	cancel()
	<-done
	i.mu.Lock()
	for c := range i.conns {
		_ = c.Close()
	}
	i.mu.Unlock()
	i.sessions.Wait()
	i.kills.Add(1)
}

// SetReadOnly switches the instance between writer (false) and reader
// (true), as a failover promotes a reader. Open transactions keep running;
// their later writes are refused once read-only.
func (i *Instance) SetReadOnly(ro bool) { i.readOnly.Store(ro) }

// ReadOnly reports whether the instance refuses writes.
func (i *Instance) ReadOnly() bool { return i.readOnly.Load() }

// Running reports whether the instance is listening.
func (i *Instance) Running() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.running
}

// Close stops the instance for good (like Kill, but Start fails afterwards).
func (i *Instance) Close() error {
	i.life.Lock()
	defer i.life.Unlock()
	i.kill()
	i.mu.Lock()
	i.closed = true
	i.mu.Unlock()
	return nil
}

// Name identifies the instance (Config.Name, default its address).
func (i *Instance) Name() string {
	if i.cfg.Name != "" {
		return i.cfg.Name
	}
	return i.Addr()
}

// Stats returns a snapshot of the counters.
func (i *Instance) Stats() Stats {
	i.mu.Lock()
	addr, running := i.addr, i.running
	i.mu.Unlock()
	return Stats{
		Name:               i.Name(),
		Addr:               addr,
		Running:            running,
		ReadOnly:           i.readOnly.Load(),
		OpenConnections:    int(i.open.Load()),
		TotalConnections:   i.total.Load(),
		Queries:            i.queries.Load(),
		Errors:             i.errors.Load(),
		Commits:            i.commits.Load(),
		Rollbacks:          i.rollbacks.Load(),
		Deadlocks:          i.deadlocks.Load(),
		LockWaitTimeouts:   i.lockWaits.Load(),
		ReadOnlyRejections: i.roRejct.Load(),
		Kills:              i.kills.Load(),
		Panics:             i.panics.Load(),
		IdleTxnTimeouts:    i.idleKills.Load(),
	}
}

// capConn adds capability flags to the server's initial handshake packet.
// go-mysql v1.16.0 does not let a server advertise CLIENT_MULTI_STATEMENTS,
// and clients (go-sql-driver) only use flags the server advertises.
type capConn struct {
	net.Conn
	extra   uint32
	patched bool
}

// Write patches the first packet written (the initial handshake).
func (c *capConn) Write(b []byte) (int, error) {
	if !c.patched {
		c.patched = true
		patchHandshake(b, c.extra)
	}
	return c.Conn.Write(b)
}

// patchHandshake ORs extra into the capability flags of a protocol-10
// initial handshake packet (with its 4-byte header). It leaves anything else
// untouched.
func patchHandshake(b []byte, extra uint32) {
	const header = 4
	if len(b) < header+1 || b[header] != 10 {
		return
	}
	end := -1
	for i := header + 1; i < len(b); i++ {
		if b[i] == 0 {
			end = i
			break
		}
	}
	if end < 0 {
		return
	}
	lower := end + 1 + 4 + 8 + 1 // connection id, auth data part 1, filler
	upper := lower + 2 + 1 + 2   // lower flags, charset, status
	if upper+2 > len(b) {
		return
	}
	b[lower] |= byte(extra)
	b[lower+1] |= byte(extra >> 8)
	b[upper] |= byte(extra >> 16)
	b[upper+1] |= byte(extra >> 24)
}
