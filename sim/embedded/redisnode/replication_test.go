package redisnode

import (
	"errors"
	"fmt"
	"paysim/internal/testwait"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestWriteReachesReplicaAfterLag(t *testing.T) {
	for _, lag := range []time.Duration{0, 100 * time.Millisecond, 400 * time.Millisecond} {
		t.Run(lag.String(), func(t *testing.T) {
			p, r, _ := newPair(t, lag)
			cp, cr := newClient(t, p), newClient(t, r)
			ctx := t.Context()

			start := time.Now()
			if err := cp.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			// Sad path: before the lag has passed the replica must not have it.
			_, err := cr.Get(ctx, "k").Result()
			if time.Since(start) < lag && !errors.Is(err, redis.Nil) {
				t.Fatalf("replica has the write before the lag: err=%v", err)
			}
			testwait.For(t, 5*time.Second, "k on the replica", func() bool {
				v, err := cr.Get(ctx, "k").Result()
				return err == nil && v == "v"
			})
			if got := time.Since(start); got < lag {
				t.Fatalf("write applied after %v, before the lag %v", got, lag)
			}
		})
	}
}

func TestWritesApplyInOrder(t *testing.T) {
	p, r, l := newPair(t, 20*time.Millisecond)
	cp, cr := newClient(t, p), newClient(t, r)
	ctx := t.Context()

	const n = 300
	seen := make(chan []int, 1)
	go func() { // sample the replica while it catches up: "last" never goes back
		var vals []int
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			v, err := cr.Get(ctx, "last").Int()
			if err == nil {
				vals = append(vals, v)
				if v == n-1 {
					break
				}
			}
		}
		seen <- vals
	}()
	for i := range n {
		_, err := cp.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Append(ctx, "log", strconv.Itoa(i)+",")
			pipe.Set(ctx, "last", i, 0)
			pipe.Incr(ctx, "count")
			pipe.HIncrBy(ctx, "h", "f", 2)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	drained(t, l)
	vals := <-seen
	if !slices.IsSorted(vals) || len(vals) == 0 || vals[len(vals)-1] != n-1 {
		t.Fatalf("replica saw 'last' out of order or incomplete: %v", vals)
	}
	for _, k := range []string{"log", "last", "count"} {
		pv, rv := must(cp.Get(ctx, k).Result())(t), must(cr.Get(ctx, k).Result())(t)
		if pv != rv {
			t.Fatalf("%s: primary %q, replica %q", k, pv, rv)
		}
	}
	if got := r.HGetAll("h")["f"]; got != strconv.Itoa(2*n) {
		t.Fatalf("h.f on replica = %q", got)
	}
	if st := l.Stats(); st.Applied != 4*n || st.ReplicaErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStringWritesAndTTLs(t *testing.T) {
	tests := []struct {
		name  string
		lag   time.Duration
		write func(t *testing.T, c *redis.Client)
		check func(t *testing.T, p, r *Node, cp, cr *redis.Client, l *Link)
	}{{
		name: "SET NX EX creates once, the refused retry is not streamed",
		write: func(t *testing.T, c *redis.Client) {
			ok := must(c.SetNX(t.Context(), "idem:1", "first", 30*time.Second).Result())(t)
			again := must(c.SetNX(t.Context(), "idem:1", "retry", 30*time.Second).Result())(t)
			if !ok || again {
				t.Fatalf("SET NX: first=%v retry=%v", ok, again)
			}
		},
		check: func(t *testing.T, p, r *Node, cp, cr *redis.Client, l *Link) {
			drained(t, l)
			if v, _ := r.Get("idem:1"); v != "first" {
				t.Fatalf("replica idem:1 = %q", v)
			}
			if ttl := r.TTL("idem:1"); ttl <= 25*time.Second || ttl > 30*time.Second {
				t.Fatalf("replica TTL %v", ttl)
			}
			if st := l.Stats(); st.Applied != 1 {
				t.Fatalf("applied %d commands, want 1 (the refused SET NX is a no-op)", st.Applied)
			}
		},
	}, {
		name: "SETNX, SETEX, INCRBY, DECRBY, DEL, HSET, HDEL",
		write: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			for _, err := range []error{
				c.SetNX(ctx, "a", "1", 0).Err(),
				c.SetEx(ctx, "b", "2", time.Minute).Err(),
				c.IncrBy(ctx, "n", 10).Err(),
				c.DecrBy(ctx, "n", 3).Err(),
				c.Set(ctx, "gone", "x", 0).Err(),
				c.Del(ctx, "gone").Err(),
				c.HSet(ctx, "acct:1", "balance", "100", "points", "5").Err(),
				c.HDel(ctx, "acct:1", "points").Err(),
				c.HIncrBy(ctx, "acct:1", "balance", -30).Err(),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
		},
		check: func(t *testing.T, p, r *Node, cp, cr *redis.Client, l *Link) {
			drained(t, l)
			if !slices.Equal(p.Keys(), r.Keys()) {
				t.Fatalf("keys: primary %v replica %v", p.Keys(), r.Keys())
			}
			for _, k := range []string{"a", "b", "n"} {
				pv, _ := p.Get(k)
				rv, _ := r.Get(k)
				if pv != rv {
					t.Fatalf("%s: primary %q replica %q", k, pv, rv)
				}
			}
			if h := r.HGetAll("acct:1"); len(h) != 1 || h["balance"] != "70" {
				t.Fatalf("replica acct:1 = %v", h)
			}
			if ttl := r.TTL("b"); ttl <= 50*time.Second {
				t.Fatalf("replica TTL of SETEX key = %v", ttl)
			}
		},
	}, {
		name: "PX expires on primary and replica",
		write: func(t *testing.T, c *redis.Client) {
			if err := c.Set(t.Context(), "tmp", "x", 300*time.Millisecond).Err(); err != nil {
				t.Fatal(err)
			}
		},
		check: func(t *testing.T, p, r *Node, cp, cr *redis.Client, l *Link) {
			start := time.Now()
			testwait.For(t, 5*time.Second, "tmp on the replica", func() bool { _, ok := r.Get("tmp"); return ok })
			testwait.For(t, 5*time.Second, "tmp to expire on both", func() bool {
				_, okp := p.Get("tmp")
				_, okr := r.Get("tmp")
				return !okp && !okr
			})
			if time.Since(start) < 200*time.Millisecond {
				t.Fatalf("expired too early")
			}
			if err := cr.Get(t.Context(), "tmp").Err(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET tmp on replica after expiry: %v", err)
			}
		},
	}, {
		name: "EXPIRE is streamed as an absolute time (lag does not extend it)",
		lag:  300 * time.Millisecond,
		write: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if !must(c.Expire(ctx, "k", time.Second).Result())(t) {
				t.Fatal("EXPIRE returned false")
			}
		},
		check: func(t *testing.T, p, r *Node, cp, cr *redis.Client, l *Link) {
			drained(t, l)
			ttl := must(cr.PTTL(t.Context(), "k").Result())(t)
			if ttl <= 0 || ttl > 750*time.Millisecond {
				t.Fatalf("replica PTTL %v: want <= 1s - lag", ttl)
			}
		},
	}, {
		name: "SET PX is streamed as an absolute time (lag does not extend it)",
		lag:  300 * time.Millisecond,
		write: func(t *testing.T, c *redis.Client) {
			if err := c.Set(t.Context(), "k", "v", time.Second).Err(); err != nil {
				t.Fatal(err)
			}
		},
		check: func(t *testing.T, p, r *Node, cp, cr *redis.Client, l *Link) {
			drained(t, l)
			if ttl := r.TTL("k"); ttl <= 0 || ttl > 750*time.Millisecond {
				t.Fatalf("replica TTL %v: want <= 1s - lag", ttl)
			}
		},
	}, {
		name: "a write to a WRONGTYPE key fails on the primary and is not streamed",
		write: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			if err := c.HSet(ctx, "h", "f", "1").Err(); err != nil {
				t.Fatal(err)
			}
			if err := c.Incr(ctx, "h").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
				t.Fatalf("INCR on a hash: %v", err)
			}
		},
		check: func(t *testing.T, p, r *Node, cp, cr *redis.Client, l *Link) {
			drained(t, l)
			if st := l.Stats(); st.Applied != 1 || st.ReplicaErrors != 0 {
				t.Fatalf("stats %+v", st)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, r, l := newPair(t, tc.lag)
			cp, cr := newClient(t, p), newClient(t, r)
			tc.write(t, cp)
			tc.check(t, p, r, cp, cr, l)
		})
	}
}

func TestReplicaIsReadOnlyUntilPromoted(t *testing.T) {
	p, r, l := newPair(t, 0)
	cp, cr := newClient(t, p), newClient(t, r)
	ctx := t.Context()
	if err := cp.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	drained(t, l)

	writes := []struct {
		name string
		do   func() error
	}{
		{"SET", func() error { return cr.Set(ctx, "k", "x", 0).Err() }},
		{"SET NX EX", func() error { return cr.SetNX(ctx, "n", "x", time.Second).Err() }},
		{"DEL", func() error { return cr.Del(ctx, "k").Err() }},
		{"INCR", func() error { return cr.Incr(ctx, "c").Err() }},
		{"HSET", func() error { return cr.HSet(ctx, "h", "f", "v").Err() }},
		{"EXPIRE", func() error { return cr.Expire(ctx, "k", time.Second).Err() }},
		{"EVAL", func() error { return cr.Eval(ctx, "return 1", nil).Err() }},
		{"FLUSHALL", func() error { return cr.FlushAll(ctx).Err() }},
	}
	for _, w := range writes {
		t.Run("replica refuses "+w.name, func(t *testing.T) {
			err := w.do()
			if err == nil || err.Error() != msgReadOnly {
				t.Fatalf("got %v, want %q", err, msgReadOnly)
			}
		})
	}
	t.Run("replica serves reads", func(t *testing.T) {
		if v := must(cr.Get(ctx, "k").Result())(t); v != "v" {
			t.Fatalf("GET = %q", v)
		}
		if n := must(cr.Exists(ctx, "k").Result())(t); n != 1 {
			t.Fatalf("EXISTS = %d", n)
		}
		if v := must(cr.EvalRO(ctx, "return redis.call('GET', KEYS[1])", []string{"k"}).Result())(t); v != "v" {
			t.Fatalf("EVAL_RO = %v", v)
		}
	})
	t.Run("MULTI with a write aborts on a replica", func(t *testing.T) {
		conn := newRawConn(t, r)
		steps := []struct {
			args []string
			want string // reply or error text
		}{
			{[]string{"MULTI"}, "OK"},
			{[]string{"GET", "k"}, "QUEUED"},
			{[]string{"INCR", "c"}, msgReadOnly},
			{[]string{"EXEC"}, "EXECABORT Transaction discarded because of previous errors."},
			{[]string{"GET", "k"}, "v"}, // the connection is out of the transaction
		}
		for _, st := range steps {
			if got := conn.do(t, st.args...); got != st.want {
				t.Fatalf("%v: got %q, want %q", st.args, got, st.want)
			}
		}
		if _, ok := r.Get("c"); ok {
			t.Fatal("c was written on the replica")
		}
	})
	t.Run("WAIT is refused on a replica", func(t *testing.T) {
		if err := cr.Wait(ctx, 1, 10*time.Millisecond).Err(); err == nil {
			t.Fatal("WAIT on a replica succeeded")
		}
	})
	t.Run("ROLE", func(t *testing.T) {
		pr := must(cp.Do(ctx, "ROLE").Slice())(t)
		rr := must(cr.Do(ctx, "ROLE").Slice())(t)
		if pr[0] != "master" || rr[0] != "slave" || rr[3] != "connected" {
			t.Fatalf("ROLE primary %v replica %v", pr, rr)
		}
	})
	t.Run("after Promote the replica accepts writes", func(t *testing.T) {
		r.Promote()
		if r.Role() != Primary || r.Upstream() != nil {
			t.Fatalf("role %v upstream %v", r.Role(), r.Upstream())
		}
		if err := cr.Set(ctx, "k", "promoted", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := cr.Incr(ctx, "c").Err(); err != nil {
			t.Fatal(err)
		}
		// The old link is gone: the old primary's writes no longer arrive.
		if err := cp.Set(ctx, "k", "late", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, _ := r.Get("k"); v != "promoted" {
			t.Fatalf("k = %q", v)
		}
		p.Demote()
		if err := cp.Set(ctx, "k", "x", 0).Err(); err == nil || err.Error() != msgReadOnly {
			t.Fatalf("demoted primary accepted a write: %v", err)
		}
	})
}

func TestKillPrimaryLosesPendingWrites(t *testing.T) {
	p, r, l := newPair(t, 0)
	cp, cr := newClient(t, p), newClient(t, r)
	ctx := t.Context()
	addr := p.Addr()

	for _, k := range []string{"acked:1", "acked:2"} {
		if err := cp.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	drained(t, l)
	l.Hold(true) // cut between the AZs: the next writes stay on the primary
	if err := cp.Set(ctx, "lost:1", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cp.HSet(ctx, "lost:2", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if got := l.Pending(); got != 2 {
		t.Fatalf("pending = %d, want 2", got)
	}

	p.Kill()
	if !errors.Is(l.Err(), ErrPrimaryDown) || l.Pending() != 0 || l.Stats().Dropped != 2 {
		t.Fatalf("after kill: err=%v stats=%+v", l.Err(), l.Stats())
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("link not done after the primary was killed")
	}
	l.Stop() // idempotent
	r.Promote()

	t.Run("replicated keys survive, pending ones are lost", func(t *testing.T) {
		for k, want := range map[string]int64{"acked:1": 1, "acked:2": 1, "lost:1": 0, "lost:2": 0} {
			if n := must(cr.Exists(ctx, k).Result())(t); n != want {
				t.Fatalf("EXISTS %s on the new primary = %d, want %d", k, n, want)
			}
		}
		if err := cr.Set(ctx, "after-failover", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the killed node refuses clients", func(t *testing.T) {
		if err := cp.Ping(ctx).Err(); err == nil {
			t.Fatal("PING on a killed node succeeded")
		}
		if p.Running() || len(p.Keys()) != 0 {
			t.Fatal("killed node still running or has keys")
		}
	})
	t.Run("restart: same address, empty", func(t *testing.T) {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if p.Addr() != addr {
			t.Fatalf("restarted on %s, was %s", p.Addr(), addr)
		}
		testwait.For(t, 5*time.Second, "client to reconnect", func() bool { return cp.Ping(ctx).Err() == nil })
		if n := must(cp.DBSize(ctx).Result())(t); n != 0 {
			t.Fatalf("restarted node has %d keys", n)
		}
	})
	t.Run("resync from the new primary", func(t *testing.T) {
		l2, err := Replicate(r, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l2.Stop)
		if p.Role() != Replica {
			t.Fatalf("old primary role %v", p.Role())
		}
		if want := []string{"acked:1", "acked:2", "after-failover"}; !slices.Equal(p.Keys(), want) {
			t.Fatalf("after full sync old primary has %v, want %v", p.Keys(), want)
		}
		if err := cp.Set(ctx, "x", "v", 0).Err(); err == nil || err.Error() != msgReadOnly {
			t.Fatalf("write on the resynced node: %v", err)
		}
		if err := cr.Set(ctx, "post-resync", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 5*time.Second, "post-resync on the old primary", func() bool {
			_, ok := p.Get("post-resync")
			return ok
		})
	})
}

func TestKillReplicaBreaksLink(t *testing.T) {
	p, r, l := newPair(t, 0)
	cp := newClient(t, p)
	ctx := t.Context()
	if err := cp.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	drained(t, l)
	r.Kill()
	if !errors.Is(l.Err(), ErrReplicaDown) {
		t.Fatalf("link err %v", l.Err())
	}
	if err := cp.Set(ctx, "b", "2", 0).Err(); err != nil {
		t.Fatalf("primary refused a write after its replica died: %v", err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if len(r.Keys()) != 0 {
		t.Fatalf("restarted replica has %v", r.Keys())
	}
	l2 := must(Replicate(p, r, 0))(t)
	t.Cleanup(l2.Stop)
	if !slices.Equal(r.Keys(), []string{"a", "b"}) {
		t.Fatalf("resynced replica has %v", r.Keys())
	}
}

func TestHoldQueuesAndDrains(t *testing.T) {
	tests := []struct {
		name string
		lag  time.Duration
		n    int
	}{
		{"no lag", 0, 50},
		{"lag already elapsed on resume", 50 * time.Millisecond, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, r, l := newPair(t, tc.lag)
			cp := newClient(t, l.Primary())
			ctx := t.Context()
			l.Hold(true)
			for i := range tc.n {
				if err := cp.Set(ctx, fmt.Sprintf("k%03d", i), i, 0).Err(); err != nil {
					t.Fatal(err)
				}
				if got := l.Pending(); got != i+1 {
					t.Fatalf("pending = %d after %d writes", got, i+1)
				}
			}
			if len(r.Keys()) != 0 || !l.Stats().Held {
				t.Fatalf("held link applied writes: %v", r.Keys())
			}
			// WAIT times out while the link is held.
			if got := must(cp.Wait(ctx, 1, 50*time.Millisecond).Result())(t); got != 0 {
				t.Fatalf("WAIT acked %d replicas while held", got)
			}
			l.Hold(false)
			if got := must(cp.Wait(ctx, 1, 5*time.Second).Result())(t); got != 1 {
				t.Fatalf("WAIT acked %d replicas after resume", got)
			}
			if l.Pending() != 0 || len(r.Keys()) != tc.n {
				t.Fatalf("after drain: pending %d, replica keys %d", l.Pending(), len(r.Keys()))
			}
		})
	}
}

func TestSetLagAppliesToQueuedWrites(t *testing.T) {
	_, r, l := newPair(t, time.Hour)
	cp := newClient(t, l.Primary())
	if err := cp.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if l.Pending() != 1 {
		t.Fatalf("pending %d", l.Pending())
	}
	l.SetLag(0)
	testwait.For(t, 5*time.Second, "k on the replica", func() bool { _, ok := r.Get("k"); return ok })
}

func TestTransactionsScriptsAndNonDeterministicCommands(t *testing.T) {
	p, r, l := newPair(t, 0)
	cp := newClient(t, p)
	ctx := t.Context()

	t.Run("MULTI/EXEC", func(t *testing.T) {
		cmds, err := cp.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, "tx:a", "1", 0)
			pipe.IncrBy(ctx, "tx:b", 5)
			pipe.Get(ctx, "tx:a")
			pipe.Expire(ctx, "tx:a", time.Hour)
			return nil
		})
		if err != nil || len(cmds) != 4 {
			t.Fatalf("tx: %v", err)
		}
		drained(t, l)
		if v, _ := r.Get("tx:b"); v != "5" || r.TTL("tx:a") <= 59*time.Minute {
			t.Fatalf("replica tx:b=%q ttl(tx:a)=%v", v, r.TTL("tx:a"))
		}
	})
	t.Run("WATCH conflict aborts and streams nothing", func(t *testing.T) {
		before := l.Stats().AppliedEntries
		other := newClient(t, p)
		err := cp.Watch(ctx, func(tx *redis.Tx) error {
			if err := other.Set(ctx, "w", "other", 0).Err(); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Set(ctx, "w", "mine", 0)
				return nil
			})
			return err
		}, "w")
		if !errors.Is(err, redis.TxFailedErr) {
			t.Fatalf("watch: %v", err)
		}
		drained(t, l)
		if v, _ := r.Get("w"); v != "other" || l.Stats().AppliedEntries != before+1 {
			t.Fatalf("replica w=%q applied=%d before=%d", v, l.Stats().AppliedEntries, before)
		}
	})
	t.Run("SELECT", func(t *testing.T) {
		c3 := redis.NewClient(&redis.Options{Addr: p.Addr(), DB: 3})
		defer c3.Close()
		if err := c3.Set(ctx, "db3", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		drained(t, l)
		if _, ok := r.Get("db3"); ok {
			t.Fatal("db3 key landed in db 0")
		}
		r3 := redis.NewClient(&redis.Options{Addr: r.Addr(), DB: 3})
		defer r3.Close()
		if v := must(r3.Get(ctx, "db3").Result())(t); v != "v" {
			t.Fatalf("replica db3 = %q", v)
		}
		if err := cp.Do(ctx, "SELECT", "16").Err(); err == nil {
			t.Fatal("SELECT 16 succeeded")
		}
	})
	t.Run("SPOP and XADD * replicate what the primary did", func(t *testing.T) {
		for i := range 30 {
			cp.SAdd(ctx, "set", i)
		}
		if err := cp.SPopN(ctx, "set", 10).Err(); err != nil {
			t.Fatal(err)
		}
		id := must(cp.XAdd(ctx, &redis.XAddArgs{Stream: "events", Values: []string{"f", "v"}}).Result())(t)
		drained(t, l)
		cr := newClient(t, r)
		ps, rs := must(cp.SMembers(ctx, "set").Result())(t), must(cr.SMembers(ctx, "set").Result())(t)
		slices.Sort(ps)
		slices.Sort(rs)
		if len(ps) != 20 || !slices.Equal(ps, rs) {
			t.Fatalf("sets differ: primary %v replica %v", ps, rs)
		}
		xs := must(cr.XRange(ctx, "events", "-", "+").Result())(t)
		if len(xs) != 1 || xs[0].ID != id {
			t.Fatalf("replica stream %v, primary id %s", xs, id)
		}
	})
	t.Run("EVAL runs once and replicates", func(t *testing.T) {
		script := "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])"
		if v := must(cp.Eval(ctx, script, []string{"lua:a", "lua:n"}, "x").Int())(t); v != 1 {
			t.Fatalf("EVAL = %d", v)
		}
		drained(t, l)
		if v, _ := r.Get("lua:n"); v != "1" {
			t.Fatalf("replica lua:n = %q", v)
		}
	})
	if st := l.Stats(); st.ReplicaErrors != 0 {
		t.Fatalf("replica errors: %+v", st)
	}
}

func TestFullSyncCopiesDataset(t *testing.T) {
	p := newNode(t, "p")
	r := newNode(t, "r")
	cp, cr := newClient(t, p), newClient(t, r)
	ctx := t.Context()
	if err := cr.Set(ctx, "stale", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := cp.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, "s", "v", time.Hour)
		pipe.HSet(ctx, "h", "a", "1", "b", "2")
		pipe.RPush(ctx, "l", "x", "y", "z")
		pipe.SAdd(ctx, "set", "m1", "m2")
		pipe.ZAdd(ctx, "z", redis.Z{Score: 1.5, Member: "one"}, redis.Z{Score: 3, Member: "three"})
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: "x", ID: "1-1", Values: []string{"k", "v"}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c5 := redis.NewClient(&redis.Options{Addr: p.Addr(), DB: 5})
	defer c5.Close()
	if err := c5.Set(ctx, "in5", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	l := must(Replicate(p, r, time.Hour))(t) // nothing streams: all of it is the full sync
	t.Cleanup(l.Stop)
	if want := []string{"h", "l", "s", "set", "x", "z"}; !slices.Equal(r.Keys(), want) {
		t.Fatalf("replica keys %v, want %v", r.Keys(), want)
	}
	if ttl := r.TTL("s"); ttl < 59*time.Minute {
		t.Fatalf("ttl %v", ttl)
	}
	if l := must(cr.LRange(ctx, "l", 0, -1).Result())(t); !slices.Equal(l, []string{"x", "y", "z"}) {
		t.Fatalf("list %v", l)
	}
	if s := must(cr.ZScore(ctx, "z", "one").Result())(t); s != 1.5 {
		t.Fatalf("zscore %v", s)
	}
	if n := must(cr.XLen(ctx, "x").Result())(t); n != 1 {
		t.Fatalf("xlen %d", n)
	}
	if h := r.HGetAll("h"); len(h) != 2 || h["b"] != "2" {
		t.Fatalf("hash %v", h)
	}
	r5 := redis.NewClient(&redis.Options{Addr: r.Addr(), DB: 5})
	defer r5.Close()
	if v := must(r5.Get(ctx, "in5").Result())(t); v != "v" {
		t.Fatalf("db5 %q", v)
	}
}

func TestReplicateErrors(t *testing.T) {
	up := newNode(t, "up")
	up2 := newNode(t, "up2")
	down := New("down", "127.0.0.1:0")
	rep := newNode(t, "rep", WithRole(Replica))
	tests := []struct {
		name             string
		primary, replica *Node
		lag              time.Duration
		want             error
	}{
		{"nil primary", nil, up, 0, nil},
		{"self", up, up, 0, nil},
		{"negative lag", up, up2, -time.Second, nil},
		{"primary not running", down, up, 0, ErrNotRunning},
		{"replica not running", up, down, 0, ErrNotRunning},
		{"primary is a replica", rep, up, 0, ErrNotPrimary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Replicate(tc.primary, tc.replica, tc.lag)
			if err == nil || l != nil {
				t.Fatalf("Replicate succeeded: %v", l)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if up.Role() != Primary || up2.Role() != Primary {
		t.Fatal("a failed Replicate changed a role")
	}
}

func TestReplicateReplacesUpstream(t *testing.T) {
	a := newNode(t, "a")
	b := newNode(t, "b")
	r := newNode(t, "r")
	l1 := must(Replicate(a, r, 0))(t)
	l2 := must(Replicate(b, r, 0))(t)
	t.Cleanup(l2.Stop)
	select {
	case <-l1.Done():
	default:
		t.Fatal("first link still running")
	}
	if r.Upstream() != l2 || l1.Err() != nil {
		t.Fatalf("upstream %p (l2 %p), l1 err %v", r.Upstream(), l2, l1.Err())
	}
	ca := newClient(t, a)
	if err := ca.Set(t.Context(), "from-a", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if l1.Pending() != 0 {
		t.Fatal("stopped link queued a write")
	}
}

func TestDemoteAbortsOpenTransaction(t *testing.T) {
	tests := []struct {
		name   string
		queued [][]string
		want   string
	}{
		{"with a write", [][]string{{"SET", "k", "v"}}, msgReadOnly},
		{"reads only", [][]string{{"GET", "k"}}, "1"}, // EXEC runs: an array header of 1 (the last step)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, "n")
			conn := newRawConn(t, n)
			if got := conn.do(t, "MULTI"); got != "OK" {
				t.Fatalf("MULTI: %q", got)
			}
			for _, q := range tc.queued {
				if got := conn.do(t, q...); got != "QUEUED" {
					t.Fatalf("%v: %q", q, got)
				}
			}
			n.Demote()
			if got := conn.do(t, "EXEC"); got != tc.want {
				t.Fatalf("EXEC: %q, want %q", got, tc.want)
			}
			if len(n.Keys()) != 0 {
				t.Fatalf("demoted node was written: %v", n.Keys())
			}
		})
	}
}

// TestWaitCoversTheStreamUpToTheClientsLastCommand: as in Redis 7.0, a
// client's WAIT covers the replication stream up to where it was after the
// client's previous command, of any kind: a read, or a write that changed
// nothing (and was not streamed), still covers other clients' earlier
// writes, and a client idle since before a write is answered without
// waiting for it. sim/containers' TestDataTier checks the same on
// redis-server.
func TestWaitCoversTheStreamUpToTheClientsLastCommand(t *testing.T) {
	p, _, l := newPair(t, 0)
	a, idle, noop, reader := newRawConn(t, p), newRawConn(t, p), newRawConn(t, p), newRawConn(t, p)
	if got := a.do(t, "ZADD", "z", "CH", "1", "m"); got != "1" {
		t.Fatalf("ZADD: %q", got)
	}
	drained(t, l)
	l.Hold(true)
	steps := []struct {
		name string
		c    *rawConn
		args []string
		want string
	}{
		{"a writes", a, []string{"SET", "k", "1"}, "OK"},
		{"a's WAIT: its write is not applied", a, []string{"WAIT", "1", "50"}, "0"},
		{"a client idle since before the write: answered at once", idle, []string{"WAIT", "1", "50"}, "1"},
		{"a write that changes nothing", noop, []string{"ZADD", "z", "CH", "1", "m"}, "0"},
		{"its WAIT covers a's earlier write", noop, []string{"WAIT", "1", "50"}, "0"},
		{"a read", reader, []string{"GET", "k"}, "1"},
		{"its WAIT covers a's earlier write", reader, []string{"WAIT", "1", "50"}, "0"},
	}
	for _, s := range steps {
		if got := s.c.do(t, s.args...); got != s.want {
			t.Fatalf("%s: %v = %q, want %q", s.name, s.args, got, s.want)
		}
	}
	l.Hold(false)
	for _, c := range []*rawConn{a, idle, noop, reader} {
		if got := c.do(t, "WAIT", "1", "5000"); got != "1" {
			t.Fatalf("WAIT after the replica caught up: %q", got)
		}
	}
	if st := l.Stats(); st.Offset != 2 || st.AppliedEntries != 2 {
		t.Fatalf("link offset %d, applied entries %d, want 2 and 2", st.Offset, st.AppliedEntries)
	}
	// A replica that joins later starts at the offset its full sync covered.
	l2 := must(Replicate(p, newNode(t, "redis-az3"), 0))(t)
	t.Cleanup(l2.Stop)
	if st := l2.Stats(); st.Offset != 2 || st.AppliedEntries != 0 {
		t.Fatalf("new link offset %d, applied entries %d, want 2 and 0", st.Offset, st.AppliedEntries)
	}
	if got := a.do(t, "WAIT", "2", "5000"); got != "2" {
		t.Fatalf("WAIT for both replicas: %q", got)
	}
}
