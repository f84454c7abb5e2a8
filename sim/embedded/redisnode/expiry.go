package redisnode

import (
	"container/heap"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Key expiry.
//
// miniredis stores a TTL as a duration that only FastForward decrements,
// and FastForward sorts every key of the dataset on each call: at 100k keys
// it holds the server lock ~36ms, at 1M ~0.8s. It also subtracts a whole
// tick from keys set during that tick (they expire early). So nodes never
// call FastForward. Instead each node keeps an index of absolute deadlines,
// fed by the writes it runs (client writes on a primary, the stream on a
// replica, the full sync). miniredis' stored TTL then stays at the value it
// was set to, which lets the index tell whether a key's TTL changed: it did
// if the stored value is not the one indexed.
//
// Like Redis, only a primary expires keys, and it streams a DEL for each,
// so a replica never drops a key whose TTL the primary refreshed in the
// meantime. TTL, PTTL, EXPIRETIME and PEXPIRETIME are answered from the
// index.

// dbKey names a key in a logical database.
type dbKey struct {
	db  int
	key string
}

// ttlEntry is the indexed deadline of a key and the TTL miniredis stores
// for it (the TTL at the time it was set).
type ttlEntry struct {
	deadline time.Time
	stored   time.Duration
	seq      uint64
}

type heapItem struct {
	deadline time.Time
	k        dbKey
	seq      uint64
}

type deadlineHeap []heapItem

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(heapItem)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = heapItem{}
	*h = old[:len(old)-1]
	return it
}

// expiries is a node incarnation's deadline index. Lock order: mu, then
// miniredis' own lock (the index reads TTLs through miniredis' API).
type expiries struct {
	m    *miniredis.Miniredis
	mu   sync.Mutex
	keys map[dbKey]ttlEntry
	h    deadlineHeap
	seq  uint64
}

func newExpiries(m *miniredis.Miniredis) *expiries {
	return &expiries{m: m, keys: map[dbKey]ttlEntry{}}
}

// setLocked indexes k. Callers hold mu.
func (x *expiries) setLocked(k dbKey, stored time.Duration, deadline time.Time) {
	x.seq++
	x.keys[k] = ttlEntry{deadline: deadline, stored: stored, seq: x.seq}
	heap.Push(&x.h, heapItem{deadline: deadline, k: k, seq: x.seq})
	if len(x.h) > 2*len(x.keys)+1024 {
		x.rebuildLocked() // drop superseded items (a replica never pops them)
	}
}

// rebuildLocked rebuilds the heap from the live entries.
func (x *expiries) rebuildLocked() {
	x.h = x.h[:0]
	for k, e := range x.keys {
		x.h = append(x.h, heapItem{deadline: e.deadline, k: k, seq: e.seq})
	}
	heap.Init(&x.h)
}

// storedTTL returns miniredis' stored TTL of k (0: none or no key).
func (x *expiries) storedTTL(k dbKey) time.Duration {
	db := x.m.DB(k.db)
	if !db.Exists(k.key) {
		return 0
	}
	return db.TTL(k.key)
}

// observeLocked syncs k's entry with miniredis after a write. With fresh
// set, the write (re)set the TTL even if to the same stored value.
func (x *expiries) observeLocked(k dbKey, fresh bool, now time.Time) {
	stored := x.storedTTL(k)
	e, ok := x.keys[k]
	switch {
	case stored <= 0:
		if ok {
			delete(x.keys, k)
		}
	case ok && !fresh && e.stored == stored:
		// unchanged
	default:
		x.setLocked(k, stored, now.Add(stored))
	}
}

// carryLocked indexes dst after RENAME/COPY/MOVE: miniredis carried src's
// stored TTL, so dst keeps src's deadline.
func (x *expiries) carryLocked(src, dst dbKey, now time.Time) {
	e, ok := x.keys[src]
	stored := x.storedTTL(dst)
	switch {
	case stored <= 0:
		delete(x.keys, dst)
	case ok && e.stored == stored:
		x.setLocked(dst, stored, e.deadline)
	default:
		x.setLocked(dst, stored, now.Add(stored))
	}
	x.observeLocked(src, false, now)
}

// normalize rewrites the stored TTL of keys to their true remaining time,
// before commands that compare or keep TTLs in ways the index cannot
// follow (EXPIRE GT/LT, scripts). Like any write it bumps the key's WATCH
// version.
func (x *expiries) normalize(db int, keys []string, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, key := range keys {
		k := dbKey{db, key}
		e, ok := x.keys[k]
		if !ok || x.storedTTL(k) != e.stored {
			continue
		}
		rem := e.deadline.Sub(now)
		if rem <= 0 {
			continue // due: the expiry loop deletes it
		}
		x.m.DB(db).SetTTL(key, rem)
		e.stored = rem
		x.keys[k] = e
	}
}

// remaining returns k's time to live from the index; false when k has no
// indexed TTL (miniredis' own answer is then right).
func (x *expiries) remaining(k dbKey, now time.Time) (time.Duration, time.Time, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.keys[k]
	if !ok || x.storedTTL(k) != e.stored {
		return 0, time.Time{}, false
	}
	return e.deadline.Sub(now), e.deadline, true
}

// track updates the index after a write ran in database db with reply r.
func (x *expiries) track(db int, args []string, r reply, now time.Time) {
	if len(args) == 0 || r.isError() && (args[0] == "FLUSHALL" || args[0] == "FLUSHDB") {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case args[0] == "FLUSHALL":
		x.flushLocked(-1)
		return
	case args[0] == "FLUSHDB":
		x.flushLocked(db)
		return
	case len(args) < 2:
		return
	}
	switch args[0] {
	case "SWAPDB":
		a, err1 := strconv.Atoi(args[1])
		b, err2 := strconv.Atoi(args[min(2, len(args)-1)])
		if err1 == nil && err2 == nil && !r.isError() {
			x.swapLocked(a, b)
		}
	case "RENAME", "RENAMENX":
		if len(args) >= 3 {
			x.carryLocked(dbKey{db, args[1]}, dbKey{db, args[2]}, now)
		}
	case "COPY": // COPY src dst [DB n] [REPLACE]
		if len(args) >= 3 {
			dst := db
			for i := 3; i+1 < len(args); i++ {
				if strings.EqualFold(args[i], "DB") {
					dst, _ = strconv.Atoi(args[i+1])
				}
			}
			x.carryLocked(dbKey{db, args[1]}, dbKey{dst, args[2]}, now)
		}
	case "MOVE": // MOVE key db
		if len(args) >= 3 {
			if to, err := strconv.Atoi(args[2]); err == nil {
				x.carryLocked(dbKey{db, args[1]}, dbKey{to, args[1]}, now)
			}
		}
	case "EVAL", "EVALSHA":
		for _, k := range scriptKeys(args) {
			x.observeLocked(dbKey{db, k}, false, now)
		}
	case "DEL", "UNLINK":
		for _, k := range args[1:] {
			x.observeLocked(dbKey{db, k}, false, now)
		}
	case "MSET", "MSETNX":
		for i := 1; i < len(args); i += 2 {
			x.observeLocked(dbKey{db, args[i]}, false, now)
		}
	default:
		// Most commands write args[1]; observing a non-key is harmless.
		x.observeLocked(dbKey{db, args[1]}, setsTTL(args, r), now)
	}
}

// setsTTL reports whether a command that returned r (re)set its key's TTL.
func setsTTL(args []string, r reply) bool {
	if r.isError() {
		return false
	}
	switch args[0] {
	case "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT":
		return r.isInt(1)
	case "SETEX", "PSETEX", "RESTORE":
		return true
	case "SET":
		if r.null && !hasWord(args[3:], "GET") {
			return false
		}
		return hasTTLOpt(args[3:])
	case "GETEX":
		return !r.null && hasTTLOpt(args[2:])
	}
	return false
}

func hasTTLOpt(opts []string) bool {
	for _, o := range opts {
		switch strings.ToUpper(o) {
		case "EX", "PX", "EXAT", "PXAT":
			return true
		}
	}
	return false
}

// scriptKeys returns the KEYS of EVAL/EVALSHA script numkeys key...
func scriptKeys(args []string) []string {
	if len(args) < 3 {
		return nil
	}
	n, err := strconv.Atoi(args[2])
	if err != nil || n <= 0 || 3+n > len(args) {
		return nil
	}
	return args[3 : 3+n]
}

// normalizeFor normalizes the keys whose TTL a command compares or a
// script may rewrite: EXPIRE ... GT|LT and script KEYS.
func (x *expiries) normalizeFor(db int, args []string, now time.Time) {
	switch args[0] {
	case "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT":
		if len(args) > 3 && (hasWord(args[3:], "GT") || hasWord(args[3:], "LT")) {
			x.normalize(db, args[1:2], now)
		}
	case "EVAL", "EVALSHA":
		if ks := scriptKeys(args); len(ks) > 0 {
			x.normalize(db, ks, now)
		}
	}
}

// flushLocked drops the entries of db (-1: all). Heap items of dropped
// entries are skipped when they come due.
func (x *expiries) flushLocked(db int) {
	if db < 0 {
		x.keys = map[dbKey]ttlEntry{}
		x.h = nil
		return
	}
	for k := range x.keys {
		if k.db == db {
			delete(x.keys, k)
		}
	}
}

// swapLocked follows SWAPDB a b.
func (x *expiries) swapLocked(a, b int) {
	old := x.keys
	x.keys = make(map[dbKey]ttlEntry, len(old))
	for k, e := range old {
		switch k.db {
		case a:
			k.db = b
		case b:
			k.db = a
		}
		x.keys[k] = e
	}
	x.rebuildLocked()
}

// expireDue deletes at most limit keys whose deadline passed and whose TTL
// is still the indexed one, and returns them.
func (x *expiries) expireDue(now time.Time, limit int) []dbKey {
	x.mu.Lock()
	defer x.mu.Unlock()
	var gone []dbKey
	for len(x.h) > 0 && len(gone) < limit && !x.h[0].deadline.After(now) {
		it := heap.Pop(&x.h).(heapItem)
		e, ok := x.keys[it.k]
		if !ok || e.seq != it.seq {
			continue // superseded
		}
		delete(x.keys, it.k)
		if x.storedTTL(it.k) != e.stored {
			continue // changed behind the index's back: not ours to expire
		}
		x.m.DB(it.k.db).Del(it.k.key)
		gone = append(gone, it.k)
	}
	return gone
}

// reset empties the index (the dataset was flushed for a full sync).
func (x *expiries) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.flushLocked(-1)
}

// add indexes a key loaded by a full sync with ttl left.
func (x *expiries) add(k dbKey, ttl time.Duration, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.setLocked(k, ttl, now.Add(ttl))
}

// ttlOf returns a key's time to live: from the index, else miniredis'
// stored value (0: none).
func (x *expiries) ttlOf(k dbKey, now time.Time) time.Duration {
	if left, _, ok := x.remaining(k, now); ok {
		return left
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.storedTTL(k)
}

// ttlReply answers TTL, PTTL, EXPIRETIME and PEXPIRETIME for an indexed key.
func ttlReply(cmd string, left time.Duration, deadline time.Time) int {
	if left <= 0 {
		return -2 // logically expired; the expiry loop is about to delete it
	}
	switch cmd {
	case "TTL":
		return int((left.Milliseconds() + 500) / 1000)
	case "PTTL":
		return int(left.Milliseconds())
	case "EXPIRETIME":
		return int((deadline.UnixMilli() + 500) / 1000)
	default: // PEXPIRETIME
		return int(deadline.UnixMilli())
	}
}
