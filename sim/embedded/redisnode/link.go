package redisnode

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// command is one write to apply on a replica, in database db.
type command struct {
	db   int
	args []string
}

// entry is what one client command produced on the primary: a write, or
// the writes of one MULTI/EXEC (tx), stamped with when it ran.
type entry struct {
	at   time.Time
	cmds []command
	tx   bool
}

// LinkStats is a point-in-time view of a replication link.
type LinkStats struct {
	Lag            time.Duration
	Held           bool
	Pending        int    // write commands not yet applied on the replica
	AppliedEntries uint64 // writes or transactions applied since the link started
	Offset         uint64 // the primary's replication offset the replica has applied up to
	Applied        uint64 // write commands applied
	ReplicaErrors  uint64 // applied commands the replica answered with an error
	Dropped        uint64 // write commands discarded by Stop or a kill
}

// Link is the asynchronous replication stream from a primary to a replica:
// every write the primary executes is queued and applied on the replica,
// in order, `lag` after it ran on the primary.
type Link struct {
	primary, replica *Node
	pin              *instance // the primary incarnation streaming into it
	rgen             uint64    // the replica incarnation it feeds
	base             uint64    // the primary's offset its full sync covered

	mu       sync.Mutex
	q        []entry
	head     int
	pending  int
	lag      time.Duration
	held     bool
	syncing  bool // full sync in progress: nothing is applied yet
	stopped  bool
	err      error
	appliedE uint64
	applied  uint64
	errs     uint64
	dropped  uint64

	applyMu sync.Mutex    // held while an entry is being applied
	wake    chan struct{} // cap 1
	stop    chan struct{} // closed when the link stops
	done    chan struct{} // closed when the apply loop has exited
}

// Replicate makes replica a replica of primary, like REPLICAOF: it stops
// whatever link fed the replica, turns it read-only, replaces its dataset
// with a full copy of the primary's (done when Replicate returns), then
// streams every later write. lag is the delay between a write running on
// the primary and on the replica.
func Replicate(primary, replica *Node, lag time.Duration) (*Link, error) {
	switch {
	case primary == nil || replica == nil:
		return nil, errors.New("redisnode replicate: nil node")
	case primary == replica:
		return nil, fmt.Errorf("redisnode replicate %s: a node cannot replicate itself", primary.name)
	case lag < 0:
		return nil, fmt.Errorf("redisnode replicate %s->%s: negative lag %v", primary.name, replica.name, lag)
	case primary.Role() != Primary:
		return nil, fmt.Errorf("redisnode replicate %s->%s: %s: %w", primary.name, replica.name, primary.name, ErrNotPrimary)
	}
	primary.mu.RLock()
	pin := primary.inst
	primary.mu.RUnlock()
	if pin == nil {
		return nil, fmt.Errorf("redisnode replicate %s->%s: %s: %w", primary.name, replica.name, primary.name, ErrNotRunning)
	}

	replica.mu.Lock()
	rin := replica.inst
	if rin == nil {
		replica.mu.Unlock()
		return nil, fmt.Errorf("redisnode replicate %s->%s: %s: %w", primary.name, replica.name, replica.name, ErrNotRunning)
	}
	l := &Link{
		primary: primary, replica: replica, pin: pin, rgen: rin.gen,
		lag: lag, syncing: true,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	old := replica.up
	replica.up = l
	replica.role.Store(int32(Replica))
	replica.mu.Unlock()
	rin.execMu.Lock() // barrier: client writes in flight finish before the full sync
	rin.execMu.Unlock()
	if old != nil {
		old.Stop()
	}
	go l.run()

	// Snapshot and subscribe atomically with respect to the primary's
	// writes: every write is either in the snapshot or in the stream.
	pin.execMu.Lock()
	if pin.dead {
		pin.execMu.Unlock()
		l.abandon(ErrPrimaryDown)
		return nil, fmt.Errorf("redisnode replicate %s->%s: %s: %w", primary.name, replica.name, primary.name, ErrNotRunning)
	}
	snap := takeSnapshot(pin)
	l.mu.Lock()
	l.base = pin.offset.Load()
	l.mu.Unlock()
	pin.links = append(pin.links, l)
	pin.execMu.Unlock()

	if err := replica.load(rin.gen, snap); err != nil {
		l.abandon(ErrReplicaDown)
		return nil, fmt.Errorf("redisnode replicate %s->%s: full sync: %w", primary.name, replica.name, err)
	}
	l.mu.Lock()
	l.syncing = false
	l.mu.Unlock()
	l.signal()
	return l, nil
}

// Primary returns the node the link streams from.
func (l *Link) Primary() *Node { return l.primary }

// Replica returns the node the link streams to.
func (l *Link) Replica() *Node { return l.replica }

// Pending returns the number of write commands not yet applied on the
// replica (queued or being applied).
func (l *Link) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// Hold pauses (true) or resumes (false) the stream, as a network cut or a
// stall between the nodes would: writes keep queuing on the primary. When
// Hold(true) returns no write is being applied. On resume, writes older
// than the lag are applied at once.
func (l *Link) Hold(hold bool) {
	l.mu.Lock()
	l.held = hold
	l.mu.Unlock()
	l.signal()
	if hold {
		l.applyMu.Lock() // wait for an apply in flight
		l.applyMu.Unlock()
	}
}

// SetLag changes the replication delay; it applies to queued writes too.
func (l *Link) SetLag(lag time.Duration) {
	l.mu.Lock()
	l.lag = max(lag, 0)
	l.mu.Unlock()
	l.signal()
}

// Stop stops the stream. Writes not yet applied are dropped: they were lost
// with the primary. Stop is idempotent and returns once nothing is applied
// any more.
func (l *Link) Stop() { l.fail(nil) }

// Done is closed when the link has stopped (Stop, or a kill of either node).
func (l *Link) Done() <-chan struct{} { return l.stop }

// Err returns why the link stopped: nil while running or after Stop,
// ErrPrimaryDown or ErrReplicaDown after a kill.
func (l *Link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Stats returns the link's counters.
func (l *Link) Stats() LinkStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LinkStats{
		Lag: l.lag, Held: l.held, Pending: l.pending,
		AppliedEntries: l.appliedE, Offset: l.base + l.appliedE, Applied: l.applied,
		ReplicaErrors: l.errs, Dropped: l.dropped,
	}
}

func (l *Link) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// halt stops the link without waiting for the apply loop.
func (l *Link) halt(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.stopped, l.err = true, err
	l.dropped += uint64(l.pending)
	l.pending, l.q, l.head = 0, nil, 0
	close(l.stop)
}

// fail stops the link and waits for the apply loop to exit.
func (l *Link) fail(err error) {
	l.halt(err)
	<-l.done
}

// abandon stops a link Replicate could not set up and unhooks it from its
// replica.
func (l *Link) abandon(err error) {
	l.fail(err)
	l.replica.mu.Lock()
	if l.replica.up == l {
		l.replica.up = nil
	}
	l.replica.mu.Unlock()
}

// enqueue queues an entry; false once the link has stopped. Called with
// the primary's execMu held, so entries queue in execution order.
func (l *Link) enqueue(e entry) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	wasEmpty := l.head == len(l.q)
	l.q = append(l.q, e)
	l.pending += len(e.cmds)
	l.mu.Unlock()
	if wasEmpty {
		l.signal()
	}
	return true
}

// acked reports whether the replica applied the primary's stream up to
// offset off (for WAIT).
func (l *Link) acked(off uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.stopped && l.base+l.appliedE >= off
}

// next pops the head entry when it is due. Otherwise it returns how long to
// wait (-1: until signalled).
func (l *Link) next() (e entry, ok bool, wait time.Duration, stopped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return entry{}, false, 0, true
	}
	if l.held || l.syncing || l.head == len(l.q) {
		return entry{}, false, -1, false
	}
	if d := time.Until(l.q[l.head].at.Add(l.lag)); d > 0 {
		return entry{}, false, d, false
	}
	e = l.q[l.head]
	l.q[l.head] = entry{}
	l.head++
	if l.head == len(l.q) {
		l.q, l.head = l.q[:0], 0
	} else if l.head > 1024 && l.head*2 > len(l.q) {
		l.q = append(l.q[:0], l.q[l.head:]...)
		l.head = 0
	}
	return e, true, 0, false
}

// run is the apply loop: one entry at a time, each once it is due.
func (l *Link) run() {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		l.applyMu.Lock()
		e, ok, wait, stopped := l.next()
		if stopped {
			l.applyMu.Unlock()
			return
		}
		if ok {
			errs, err := l.replica.apply(l.rgen, e)
			l.mu.Lock()
			if !l.stopped {
				l.pending -= len(e.cmds)
				if err == nil {
					l.appliedE++
					l.applied += uint64(len(e.cmds))
					l.errs += uint64(errs)
				} else {
					l.dropped += uint64(len(e.cmds))
				}
			}
			l.mu.Unlock()
			l.applyMu.Unlock()
			if err != nil {
				l.halt(ErrReplicaDown)
				return
			}
			l.pin.notifyAck()
			continue
		}
		l.applyMu.Unlock()
		var fire <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-fire:
		case <-l.wake:
			timer.Stop()
		case <-l.stop:
			timer.Stop()
			return
		}
	}
}

var errReplicaGone = errors.New("replica incarnation gone")

// apply applies one streamed entry, if the node is still the incarnation
// the link was made for. It returns how many commands answered an error.
func (n *Node) apply(gen uint64, e entry) (int, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	in := n.inst
	if in == nil || in.gen != gen {
		return 0, errReplicaGone
	}
	return in.applyEntry(e), nil
}

// applyEntry runs an entry on the replication peer, which the hook lets
// through although the node is a replica. Writes of a transaction are
// applied inside MULTI/EXEC, so readers never see half of one.
func (in *instance) applyEntry(e entry) int {
	in.replMu.Lock()
	defer in.replMu.Unlock()
	errs := 0
	now := time.Now()
	do := func(args ...string) reply {
		in.replBuf.Reset()
		in.srv.Dispatch(in.replPeer, args)
		in.replPeer.Flush()
		r, _, err := parseReply(in.replBuf.Bytes())
		if err != nil {
			return reply{}
		}
		return r
	}
	if e.tx {
		do("MULTI")
	}
	for _, c := range e.cmds {
		if c.db != in.replDB {
			do("SELECT", strconv.Itoa(c.db))
			in.replDB = c.db
		}
		if !e.tx {
			in.exp.normalizeFor(c.db, c.args, now)
		}
		r := do(clampPast(c.args, now)...)
		if r.isError() {
			errs++
		}
		if !e.tx {
			in.exp.track(c.db, c.args, r, time.Now())
		}
	}
	if e.tx {
		r := do("EXEC")
		if r.isError() {
			errs += len(e.cmds)
		}
		aligned := len(r.elems) == len(e.cmds)
		for i, el := range r.elems {
			if el.isError() {
				errs++
			}
			if aligned {
				in.exp.track(e.cmds[i].db, e.cmds[i].args, el, time.Now())
			}
		}
	}
	return errs
}

// keySnap is one key of a full-sync snapshot.
type keySnap struct {
	key, typ string
	ttl      time.Duration
	str      string
	list     []string // list, set members, hash field/value pairs
	zset     map[string]float64
	stream   []miniredis.StreamEntry
}

// dbSnap is one logical database of a snapshot.
type dbSnap struct {
	id   int
	keys []keySnap
}

// takeSnapshot copies every database of a node: strings, hashes, lists,
// sets, sorted sets and stream entries with their key TTLs. HyperLogLogs,
// stream consumer groups and hash field TTLs are not copied.
func takeSnapshot(in *instance) []dbSnap {
	var out []dbSnap
	now := time.Now()
	for id := range numDBs {
		db := in.m.DB(id)
		keys := db.Keys()
		if len(keys) == 0 {
			continue
		}
		ds := dbSnap{id: id, keys: make([]keySnap, 0, len(keys))}
		for _, k := range keys {
			ks := keySnap{key: k, typ: db.Type(k), ttl: in.exp.ttlOf(dbKey{id, k}, now)}
			if ks.ttl < 0 {
				continue // expired, about to be deleted
			}
			var err error
			switch ks.typ {
			case "string":
				ks.str, err = db.Get(k)
			case "hash":
				var fields []string
				fields, err = db.HKeys(k)
				for _, f := range fields {
					ks.list = append(ks.list, f, db.HGet(k, f))
				}
			case "list":
				ks.list, err = db.List(k)
			case "set":
				ks.list, err = db.Members(k)
			case "zset":
				ks.zset, err = db.SortedSet(k)
			case "stream":
				var es []miniredis.StreamEntry
				es, err = db.Stream(k)
				for _, e := range es {
					ks.stream = append(ks.stream, miniredis.StreamEntry{ID: e.ID, Values: append([]string(nil), e.Values...)})
				}
			default:
				continue
			}
			if err == nil {
				ds.keys = append(ds.keys, ks)
			}
		}
		out = append(out, ds)
	}
	return out
}

// load replaces the dataset of incarnation gen with snap.
func (n *Node) load(gen uint64, snap []dbSnap) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	in := n.inst
	if in == nil || in.gen != gen {
		return ErrReplicaDown
	}
	in.m.FlushAll()
	in.exp.reset()
	now := time.Now()
	for _, ds := range snap {
		db := in.m.DB(ds.id)
		for _, k := range ds.keys {
			var err error
			switch k.typ {
			case "string":
				err = db.Set(k.key, k.str)
			case "hash":
				db.HSet(k.key, k.list...)
			case "list":
				_, err = db.Push(k.key, k.list...)
			case "set":
				_, err = db.SetAdd(k.key, k.list...)
			case "zset":
				for member, score := range k.zset {
					if _, err = db.ZAdd(k.key, score, member); err != nil {
						break
					}
				}
			case "stream":
				for _, e := range k.stream {
					if _, err = db.XAdd(k.key, e.ID, e.Values); err != nil {
						break
					}
				}
			}
			if err != nil {
				return fmt.Errorf("load %s: %w", k.key, err)
			}
			if k.ttl > 0 {
				db.SetTTL(k.key, k.ttl)
				in.exp.add(dbKey{ds.id, k.key}, k.ttl, now)
			}
		}
	}
	return nil
}
