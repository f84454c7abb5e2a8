package redisnode

import (
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2/server"
)

// peerState is what a node tracks about one client connection: its
// selected database, its open MULTI and the replication offset its WAIT
// covers. Only the connection's own goroutine touches it (the hook and the
// disconnect callback both run there).
type peerState struct {
	db     int
	woff   uint64 // the replication offset after its last command (WAIT's)
	inTx   bool
	dirty  bool       // a command was refused while queuing: EXEC aborts
	queued [][]string // commands answered QUEUED, in order
}

// hook runs before miniredis handles any client command. It returns true
// when it has answered the command itself.
//
// On a primary every write runs here, under execMu, on a capture peer that
// shares the client's connection state: the reply tells whether the write
// changed anything, and only then is it streamed to the replicas, in
// execution order. On a replica writes are refused with READONLY.
func (in *instance) hook(p *server.Peer, cmd string, args ...string) bool {
	if p == in.capPeer || p == in.replPeer || in.nested(p) {
		return false // our own dispatches, or redis.call from a Lua script
	}
	st := in.peerState(p, true)
	if cmd != "WAIT" {
		// As Redis 7.0 does after every command, reads and writes that
		// changed nothing too: a WAIT then covers the stream up to here.
		// A streamed write moves it past its own entry (write, exec).
		st.woff = in.offset.Load()
	}
	inTx := st.inTx
	switch cmd {
	case "ROLE":
		return false
	case "MULTI":
		return in.multi(p)
	case "EXEC":
		return in.exec(p, st)
	case "DISCARD":
		return in.discard(p, st)
	case "SELECT":
		return in.selectDB(p, args, st)
	case "WAIT":
		if !inTx {
			in.wait(p, args, st)
			return true
		}
	case "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME":
		if !inTx && len(args) == 1 {
			return in.ttl(p, cmd, args[0])
		}
	}
	cl := classify(cmd, args)
	primary := in.node.Role() == Primary
	if cl&write != 0 && !primary {
		if inTx {
			st.dirty = true
		}
		p.WriteError(msgReadOnly)
		return true
	}
	if inTx {
		in.queue(p, cmd, args, st)
		return true
	}
	if !primary || cl&(write|replicated) == 0 || cl&blocking != 0 {
		return false
	}
	in.write(p, cmd, args, st)
	return true
}

// nestedField finds miniredis' connCtx.nested flag, which marks the peer a
// Lua script's redis.call runs on. Those calls run inside the script's
// command (already captured or already refused), so the hook must let them
// through: intercepting them would deadlock on execMu. Returns -1 if this
// miniredis has no such field.
func nestedField(ctx any) int {
	t := reflect.TypeOf(ctx)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return -1
	}
	f, ok := t.Elem().FieldByName("nested")
	if !ok || f.Type.Kind() != reflect.Bool {
		return -1
	}
	return f.Index[0]
}

func (in *instance) nested(p *server.Peer) bool {
	if in.nestedIdx < 0 || p.Ctx == nil {
		return false
	}
	v := reflect.ValueOf(p.Ctx)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	return v.Elem().Field(in.nestedIdx).Bool()
}

// run dispatches a command on the capture peer with p's connection state
// and returns the reply bytes. Callers hold execMu.
func (in *instance) run(p *server.Peer, full []string) string {
	cp := in.capPeer
	cp.Ctx, cp.Resp3 = p.Ctx, p.Resp3
	in.capBuf.Reset()
	in.srv.Dispatch(cp, full)
	cp.Flush()
	p.Ctx, cp.Ctx = cp.Ctx, nil
	return in.capBuf.String()
}

// ttl answers TTL/PTTL/EXPIRETIME/PEXPIRETIME from the expiry index.
func (in *instance) ttl(p *server.Peer, cmd, key string) bool {
	db := 0
	if st := in.peerState(p, false); st != nil {
		db = st.db
	}
	left, deadline, ok := in.exp.remaining(dbKey{db, key}, time.Now())
	if !ok {
		return false // no indexed TTL: miniredis' answer is right
	}
	p.WriteInt(ttlReply(cmd, left, deadline))
	return true
}

// write runs one write outside MULTI, updates the expiry index and streams
// the write if it changed anything.
func (in *instance) write(p *server.Peer, cmd string, args []string, st *peerState) {
	full := append([]string{cmd}, args...)
	db := st.db
	in.execMu.Lock()
	if in.node.Role() != Primary { // demoted since the hook looked
		in.execMu.Unlock()
		p.WriteError(msgReadOnly)
		return
	}
	in.exp.normalizeFor(db, full, time.Now())
	rep := in.run(p, full)
	if r, _, err := parseReply([]byte(rep)); err == nil {
		now := time.Now()
		in.exp.track(db, full, r, now)
		if len(in.links) > 0 {
			if a, ok := streamForm(full, r, now); ok {
				in.emit([]command{{db: db, args: a}}, false)
				st.woff = in.offset.Load()
			}
		}
	}
	in.execMu.Unlock()
	p.WriteRaw(rep)
}

// emit hands an entry to every live link and advances the replication
// offset. Callers hold execMu.
func (in *instance) emit(cmds []command, tx bool) {
	if len(cmds) == 0 {
		return
	}
	in.offset.Add(1)
	e := entry{at: time.Now(), cmds: cmds, tx: tx}
	live := in.links[:0]
	for _, l := range in.links {
		if l.enqueue(e) {
			live = append(live, l)
		}
	}
	clear(in.links[len(live):])
	in.links = live
}

func (in *instance) multi(p *server.Peer) bool {
	in.execMu.Lock()
	rep := in.run(p, []string{"MULTI"})
	in.execMu.Unlock()
	if rep == "+OK\r\n" {
		st := in.peerState(p, true)
		st.inTx, st.dirty, st.queued = true, false, nil
	}
	p.WriteRaw(rep)
	return true
}

func (in *instance) endTx(st *peerState) {
	if st.inTx {
		st.inTx, st.dirty, st.queued = false, false, nil
	}
}

// queue runs a command of an open MULTI (miniredis answers QUEUED) and
// remembers it to interpret EXEC's reply.
func (in *instance) queue(p *server.Peer, cmd string, args []string, st *peerState) {
	full := append([]string{cmd}, args...)
	in.execMu.Lock()
	rep := in.run(p, full)
	in.execMu.Unlock()
	if rep == "+QUEUED\r\n" {
		st.queued = append(st.queued, full)
	}
	p.WriteRaw(rep)
}

func (in *instance) discard(p *server.Peer, st *peerState) bool {
	if st == nil || !st.inTx {
		return false
	}
	in.execMu.Lock()
	rep := in.run(p, []string{"DISCARD"})
	in.execMu.Unlock()
	in.endTx(st)
	p.WriteRaw(rep)
	return true
}

// exec runs EXEC and streams the transaction's writes as one entry, which
// the replica applies inside MULTI/EXEC too.
func (in *instance) exec(p *server.Peer, st *peerState) bool {
	if st == nil || !st.inTx {
		return false // miniredis answers "EXEC without MULTI"
	}
	defer in.endTx(st)
	if st.dirty { // a write was refused with READONLY while queuing
		in.execMu.Lock()
		in.run(p, []string{"DISCARD"})
		in.execMu.Unlock()
		p.WriteError("EXECABORT Transaction discarded because of previous errors.")
		return true
	}
	in.execMu.Lock()
	if in.node.Role() != Primary && slices.ContainsFunc(st.queued, func(q []string) bool {
		return classify(q[0], q[1:])&write != 0
	}) { // demoted while the transaction was open
		in.run(p, []string{"DISCARD"})
		in.execMu.Unlock()
		p.WriteError(msgReadOnly)
		return true
	}
	rep := in.run(p, []string{"EXEC"})
	r, _, err := parseReply([]byte(rep))
	if err == nil && r.kind == '*' && !r.null {
		now := time.Now()
		aligned := len(r.elems) == len(st.queued)
		var cmds []command
		for i, q := range st.queued {
			res := reply{kind: '+', str: "OK"} // unknown result: replay as is
			if aligned {
				res = r.elems[i]
			}
			if q[0] == "SELECT" {
				if res.isOK() && len(q) == 2 {
					st.db, _ = strconv.Atoi(q[1])
				}
				continue
			}
			if classify(q[0], q[1:])&(write|replicated) == 0 {
				continue
			}
			in.exp.track(st.db, q, res, now)
			if a, ok := streamForm(q, res, now); ok {
				cmds = append(cmds, command{db: st.db, args: a})
			}
		}
		if len(cmds) > 0 {
			in.emit(cmds, true)
			st.woff = in.offset.Load()
		}
	}
	in.execMu.Unlock()
	p.WriteRaw(rep)
	return true
}

// selectDB answers SELECT, refusing databases beyond numDBs like Redis, and
// tracks the connection's database so its writes replicate to the same one.
func (in *instance) selectDB(p *server.Peer, args []string, st *peerState) bool {
	inTx := st != nil && st.inTx
	if len(args) == 1 {
		if id, err := strconv.Atoi(args[0]); err == nil && id >= numDBs {
			if inTx {
				st.dirty = true
			}
			p.WriteError("ERR DB index is out of range")
			return true
		}
	}
	if inTx {
		in.queue(p, "SELECT", args, st)
		return true
	}
	in.execMu.Lock()
	rep := in.run(p, append([]string{"SELECT"}, args...))
	in.execMu.Unlock()
	if rep == "+OK\r\n" {
		id, _ := strconv.Atoi(args[0])
		if st := in.peerState(p, id != 0); st != nil {
			st.db = id
		}
	}
	p.WriteRaw(rep)
	return true
}

// peerState returns p's state, creating it when create is set.
func (in *instance) peerState(p *server.Peer, create bool) *peerState {
	in.peersMu.Lock()
	defer in.peersMu.Unlock()
	st := in.peers[p]
	if st == nil && create {
		st = &peerState{}
		in.peers[p] = st
		p.OnDisconnect(func() {
			in.peersMu.Lock()
			delete(in.peers, p)
			in.peersMu.Unlock()
			in.endTx(st)
		})
	}
	return st
}

// wait implements WAIT numreplicas timeout-ms: it blocks until that many
// links applied the stream up to where it was after the client's previous
// command, or the timeout passes, and answers how many did. 0 means no
// timeout (until the node is killed). As in Redis 7.0 (measured against
// redis-server 7.0.15, sim/containers' TestDataTier): a command that
// streamed nothing, a read or a write that changed nothing, still moves
// the client's offset to the stream's end, so its WAIT covers other
// clients' writes before it; a client idle since before a write is
// answered without waiting for it.
func (in *instance) wait(p *server.Peer, args []string, st *peerState) {
	if in.node.Role() != Primary {
		p.WriteError("ERR WAIT cannot be used with replica instances.")
		return
	}
	if len(args) != 2 {
		p.WriteError("ERR wrong number of arguments for 'wait' command")
		return
	}
	want, err1 := strconv.Atoi(args[0])
	ms, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || want < 0 {
		p.WriteError("ERR value is not an integer or out of range")
		return
	}
	if ms < 0 {
		p.WriteError("ERR timeout is negative")
		return
	}
	target := st.woff
	defer func() { st.woff = in.offset.Load() }()
	in.execMu.Lock()
	links := append([]*Link(nil), in.links...)
	in.execMu.Unlock()

	in.waiters.Add(1)
	defer in.waiters.Add(-1)
	var deadline <-chan time.Time
	if ms > 0 {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		deadline = t.C
	}
	count := func() int {
		acked := 0
		for _, l := range links {
			if l.acked(target) {
				acked++
			}
		}
		return acked
	}
	for {
		ch := in.ackChan()
		if count() >= want {
			break
		}
		select {
		case <-ch:
			continue
		case <-deadline:
		case <-in.quit:
		}
		break
	}
	p.WriteInt(count())
}

func (in *instance) ackChan() chan struct{} {
	in.ackMu.Lock()
	defer in.ackMu.Unlock()
	if in.ackCh == nil {
		in.ackCh = make(chan struct{})
	}
	return in.ackCh
}

// notifyAck wakes WAITs after a link applied an entry.
func (in *instance) notifyAck() {
	if in.waiters.Load() == 0 {
		return
	}
	in.ackMu.Lock()
	if in.ackCh != nil {
		close(in.ackCh)
		in.ackCh = nil
	}
	in.ackMu.Unlock()
}
