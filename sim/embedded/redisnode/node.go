// Package redisnode runs ElastiCache-like Redis nodes on miniredis: a node
// per AZ, a primary streaming its writes asynchronously to replicas with a
// configurable lag, so that killing a primary loses exactly the writes it had
// not yet replicated.
//
// Every node serves the real Redis protocol on its own 127.0.0.1 listener.
// A killed node drops its connections, closes its listener and loses its
// dataset; Start brings it back, empty, on the same address.
//
// Writes are captured in a miniredis pre-hook (capture.go) and only those
// that changed something are streamed, in execution order, to the replicas
// (link.go). Keys expire through a deadline index rather than miniredis'
// FastForward (expiry.go); only a primary expires keys and it streams a DEL.
package redisnode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"

	"paysim/internal/loopback"
)

// Role is what a node does in its replication group.
type Role int32

// Node roles.
const (
	Primary Role = iota + 1 // accepts writes and streams them to its replicas
	Replica                 // serves reads, rejects client writes with READONLY
)

// String returns "primary" or "replica".
func (r Role) String() string {
	switch r {
	case Primary:
		return "primary"
	case Replica:
		return "replica"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// numDBs is the number of logical databases, as with Redis' default
// `databases 16` (ElastiCache too). SELECT beyond it fails.
const numDBs = 16

const msgReadOnly = "READONLY You can't write against a read only replica."

// Errors reported by nodes and links.
var (
	ErrClosed      = errors.New("node closed")
	ErrNotRunning  = errors.New("node not running")
	ErrNotPrimary  = errors.New("node is not a primary")
	ErrPrimaryDown = errors.New("primary killed")
	ErrReplicaDown = errors.New("replica killed")
)

// Option configures a Node.
type Option func(*Node)

// WithTTLTick sets how often a primary deletes the keys whose TTL passed
// (default 20ms): keys expire at most this late. See expiry.go for why this
// is not miniredis' FastForward.
func WithTTLTick(d time.Duration) Option {
	return func(n *Node) {
		if d > 0 {
			n.tick = d
		}
	}
}

// WithRole sets the role the node starts with (default Primary).
func WithRole(r Role) Option {
	return func(n *Node) { n.role.Store(int32(r)) }
}

// WithListen sets how the node binds its address (default loopback.Listen);
// a stack passes one that also accepts in-memory connections (memnet).
func WithListen(listen func(addr string) (net.Listener, error)) Option {
	return func(n *Node) { n.listen = listen }
}

// Node is one Redis node (one AZ): a miniredis dataset served on a
// 127.0.0.1 listener that keeps its address across Kill and Start.
type Node struct {
	name   string
	tick   time.Duration
	role   atomic.Int32
	listen func(addr string) (net.Listener, error)

	mu     sync.RWMutex
	addr   string    // configured, then the bound address (kept across restarts)
	inst   *instance // nil while killed or not started
	gen    uint64    // incremented by each Start
	up     *Link     // the stream feeding this node, when it is a replica
	closed bool
}

// New returns a stopped node named name that will listen on addr
// ("127.0.0.1:0" picks a free port on the first Start; "" means that too).
func New(name, addr string, opts ...Option) *Node {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	n := &Node{name: name, addr: addr, tick: 20 * time.Millisecond, listen: loopback.Listen}
	n.role.Store(int32(Primary))
	for _, o := range opts {
		o(n)
	}
	return n
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Addr returns the node's address; after the first Start it is the bound
// address, which later Starts reuse.
func (n *Node) Addr() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.addr
}

// Role returns the node's current role.
func (n *Node) Role() Role { return Role(n.role.Load()) }

// Running reports whether the node is serving.
func (n *Node) Running() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.inst != nil
}

// Upstream returns the replication link feeding this node, or nil.
func (n *Node) Upstream() *Link {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.up
}

// Start starts the node on its address with an empty dataset. A running
// node is left alone. After Kill the node comes back on the same address,
// empty, as a restarted cache node does; its role is unchanged.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("redisnode %s start: %w", n.name, ErrClosed)
	}
	if n.inst != nil {
		return nil
	}
	in, err := n.startInstance(n.gen + 1)
	if err != nil {
		return fmt.Errorf("redisnode %s start: %w", n.name, err)
	}
	n.gen++
	n.inst = in
	n.addr = in.ln.Addr().String()
	return nil
}

// Kill crashes the node: client connections drop, the listener closes and
// the dataset is lost. Writes its replication links had not yet delivered
// are dropped (Link.Err reports ErrPrimaryDown), and a link feeding it
// breaks (ErrReplicaDown). Killing a stopped node does nothing.
func (n *Node) Kill() { n.stop(false) }

// Close kills the node for good; Start then fails with ErrClosed.
func (n *Node) Close() error {
	n.stop(true)
	return nil
}

func (n *Node) stop(final bool) {
	n.mu.Lock()
	if final {
		n.closed = true
	}
	in, up := n.inst, n.up
	n.inst, n.up = nil, nil
	n.mu.Unlock()
	if up != nil {
		up.fail(ErrReplicaDown)
	}
	if in != nil {
		in.kill()
	}
}

// Promote makes the node a primary that accepts writes. Like REPLICAOF NO
// ONE it first stops the link feeding it: writes still pending on that link
// are dropped.
func (n *Node) Promote() {
	n.mu.Lock()
	up := n.up
	n.up = nil
	n.mu.Unlock()
	if up != nil {
		up.Stop()
	}
	n.role.Store(int32(Primary))
}

// Demote makes the node a replica: once it returns, no client write is in
// flight and later ones get READONLY. Its outgoing links keep delivering
// what they already hold. Use Replicate to feed it from a primary.
func (n *Node) Demote() {
	n.role.Store(int32(Replica))
	n.mu.RLock()
	in := n.inst
	n.mu.RUnlock()
	if in != nil {
		in.execMu.Lock() // barrier: writes that passed the role check finish
		in.execMu.Unlock()
	}
}

// Get returns a string key of database 0, for checkers. A killed node has
// no keys.
func (n *Node) Get(key string) (string, bool) {
	var v string
	var err error = ErrNotRunning
	n.withDB(func(db *miniredis.RedisDB) { v, err = db.Get(key) })
	return v, err == nil
}

// HGetAll returns a hash key of database 0 (nil when absent), for checkers.
func (n *Node) HGetAll(key string) map[string]string {
	var out map[string]string
	n.withDB(func(db *miniredis.RedisDB) {
		fields, err := db.HKeys(key)
		if err != nil {
			return
		}
		out = make(map[string]string, len(fields))
		for _, f := range fields {
			out[f] = db.HGet(key, f)
		}
	})
	return out
}

// TTL returns the time to live of a key of database 0 (0: none or absent;
// negative: expired, its deletion is pending, as on a replica waiting for
// its primary's DEL).
func (n *Node) TTL(key string) time.Duration {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.inst == nil {
		return 0
	}
	return n.inst.exp.ttlOf(dbKey{0, key}, time.Now())
}

// Keys returns the keys of database 0, sorted, for checkers.
func (n *Node) Keys() []string {
	var keys []string
	n.withDB(func(db *miniredis.RedisDB) { keys = db.Keys() })
	return keys
}

func (n *Node) withDB(f func(db *miniredis.RedisDB)) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.inst != nil {
		f(n.inst.m.DB(0))
	}
}

// instance is one incarnation of a node, from Start to Kill.
type instance struct {
	node *Node
	gen  uint64
	m    *miniredis.Miniredis
	srv  *server.Server
	ln   net.Listener

	exp *expiries

	quit       chan struct{} // closed by kill: ends the ticker and WAITs
	acceptDone chan struct{}
	tickDone   chan struct{}

	// execMu serialises every captured command, so that the order writes
	// are streamed in is the order they ran in. It guards the capture peer,
	// links and dead, and every change of offset.
	execMu  sync.Mutex
	capBuf  bytes.Buffer
	capPeer *server.Peer
	links   []*Link
	offset  atomic.Uint64 // entries streamed: the replication offset
	dead    bool

	nestedIdx int // index of connCtx.nested, see nestedField

	replMu   sync.Mutex // guards the stream-apply peer
	replBuf  bytes.Buffer
	replPeer *server.Peer
	replDB   int

	peersMu sync.Mutex
	peers   map[*server.Peer]*peerState

	ackMu   sync.Mutex
	ackCh   chan struct{} // closed when a link applies an entry and WAITs wait
	waiters atomic.Int32
}

func (n *Node) startInstance(gen uint64) (*instance, error) {
	if err := checkLoopback(n.addr); err != nil {
		return nil, err
	}
	ln, err := n.listen(n.addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	m := miniredis.NewMiniRedis()
	// Dial starts miniredis' command server without a listener of its own:
	// we own the listener, so the pre-hook is in place before any client
	// can send a command.
	c, err := m.Dial()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("miniredis: %w", err)
	}
	c.Close()
	in := &instance{
		node:       n,
		gen:        gen,
		m:          m,
		srv:        m.Server(),
		ln:         ln,
		exp:        newExpiries(m),
		quit:       make(chan struct{}),
		acceptDone: make(chan struct{}),
		tickDone:   make(chan struct{}),
		peers:      map[*server.Peer]*peerState{},
	}
	in.capPeer = server.NewPeer(bufio.NewWriter(&in.capBuf))
	in.replPeer = server.NewPeer(bufio.NewWriter(&in.replBuf))
	in.srv.Dispatch(in.capPeer, []string{"PING"}) // makes miniredis set a connCtx
	in.nestedIdx = nestedField(in.capPeer.Ctx)
	in.capPeer.Ctx = nil
	in.capPeer.Flush()
	in.capBuf.Reset()
	in.srv.SetPreHook(in.hook)
	if err := in.srv.Register("ROLE", in.cmdRole); err != nil {
		ln.Close()
		m.Close()
		return nil, fmt.Errorf("register ROLE: %w", err)
	}
	go in.accept()
	go in.ticker(n.tick)
	return in, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: only loopback addresses are allowed", addr)
	}
	return nil
}

func (in *instance) accept() {
	defer close(in.acceptDone)
	for {
		c, err := in.ln.Accept()
		if err != nil {
			return
		}
		in.srv.ServeConn(newCoalescingConn(c, in.quit))
	}
}

// maxExpirePerTick bounds the work (and lock hold) of one expiry tick.
const maxExpirePerTick = 10000

// ticker expires due keys while the node is a primary and streams a DEL
// for each, in order with the writes (it runs under execMu).
func (in *instance) ticker(d time.Duration) {
	defer close(in.tickDone)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-in.quit:
			return
		case <-t.C:
		}
		if in.node.Role() != Primary {
			continue // a replica waits for its primary's DELs, like Redis
		}
		in.execMu.Lock()
		if in.node.Role() == Primary {
			gone := in.exp.expireDue(time.Now(), maxExpirePerTick)
			if len(gone) > 0 && len(in.links) > 0 {
				cmds := make([]command, len(gone))
				for i, k := range gone {
					cmds[i] = command{db: k.db, args: []string{"DEL", k.key}}
				}
				in.emit(cmds, false)
			}
		}
		in.execMu.Unlock()
	}
}

func (in *instance) kill() {
	close(in.quit)
	in.execMu.Lock()
	in.dead = true
	links := in.links
	in.links = nil
	in.execMu.Unlock()
	for _, l := range links {
		l.fail(ErrPrimaryDown)
	}
	in.ln.Close()
	<-in.acceptDone
	in.m.Close() // closes every client connection and waits for them
	<-in.tickDone
}

// cmdRole answers ROLE like Redis does, so redis-cli and clients can tell
// a primary from a replica.
func (in *instance) cmdRole(c *server.Peer, _ string, _ []string) {
	n := in.node
	if n.Role() == Primary {
		in.execMu.Lock()
		links := append([]*Link(nil), in.links...)
		off := in.offset.Load()
		in.execMu.Unlock()
		c.WriteLen(3)
		c.WriteBulk("master")
		c.WriteInt(int(off))
		c.WriteLen(len(links))
		for _, l := range links {
			host, port, _ := net.SplitHostPort(l.replica.Addr())
			c.WriteLen(3)
			c.WriteBulk(host)
			c.WriteBulk(port)
			c.WriteBulk(strconv.FormatUint(l.Stats().Offset, 10))
		}
		return
	}
	host, port, state, off := "", 0, "connect", int64(-1)
	if up := n.Upstream(); up != nil {
		h, p, _ := net.SplitHostPort(up.primary.Addr())
		host = h
		port, _ = strconv.Atoi(p)
		st := up.Stats()
		off = int64(st.Offset)
		if !st.Held {
			state = "connected"
		}
	}
	c.WriteLen(5)
	c.WriteBulk("slave")
	c.WriteBulk(host)
	c.WriteInt(port)
	c.WriteBulk(state)
	c.WriteInt(int(off))
}
