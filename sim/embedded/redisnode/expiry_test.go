package redisnode

import (
	"errors"
	"paysim/internal/testwait"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestTTLReadsAreLive(t *testing.T) {
	n := newNode(t, "n")
	c := newClient(t, n)
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 10*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "forever", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// miniredis alone would answer 10s until something fast-forwards it.
	testwait.For(t, 5*time.Second, "PTTL to go down", func() bool {
		return c.PTTL(ctx, "k").Val() < 9950*time.Millisecond
	})
	tests := []struct {
		name   string
		got    func() (time.Duration, error)
		lo, hi time.Duration
	}{
		{"TTL", func() (time.Duration, error) { return c.TTL(ctx, "k").Result() }, 9 * time.Second, 10 * time.Second},
		{"PTTL", func() (time.Duration, error) { return c.PTTL(ctx, "k").Result() }, 5 * time.Second, 9950 * time.Millisecond},
		{"EXPIRETIME", func() (time.Duration, error) {
			s, err := c.Do(ctx, "EXPIRETIME", "k").Int64()
			return time.Until(time.Unix(s, 0)), err
		}, 5 * time.Second, 11 * time.Second},
		{"TTL without expiry", func() (time.Duration, error) { return c.TTL(ctx, "forever").Result() }, -1, -1},
		{"TTL of a missing key", func() (time.Duration, error) { return c.TTL(ctx, "missing").Result() }, -2, -2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.got()
			if err != nil {
				t.Fatal(err)
			}
			if got < tc.lo || got > tc.hi {
				t.Fatalf("%v not in [%v, %v]", got, tc.lo, tc.hi)
			}
		})
	}
}

func TestExpiryFollowsTTLChanges(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, c *redis.Client)
	}{{
		name: "refresh with the same TTL extends the key (sliding window)",
		run: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			must(c.Set(ctx, "k", "v", 300*time.Millisecond).Result())(t)
			testwait.For(t, 5*time.Second, "PTTL below 150ms", func() bool { return c.PTTL(ctx, "k").Val() < 150*time.Millisecond })
			refreshed := time.Now()
			if !must(c.PExpire(ctx, "k", 300*time.Millisecond).Result())(t) {
				t.Fatal("PEXPIRE refused")
			}
			testwait.For(t, 5*time.Second, "k to expire", func() bool { return c.Exists(ctx, "k").Val() == 0 })
			if d := time.Since(refreshed); d < 250*time.Millisecond {
				t.Fatalf("expired %v after the refresh, want ~300ms", d)
			}
		},
	}, {
		name: "a plain SET clears the TTL",
		run: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			must(c.Set(ctx, "k", "v", 100*time.Millisecond).Result())(t)
			must(c.Set(ctx, "k", "v2", 0).Result())(t)
			must(c.Set(ctx, "probe", "v", 150*time.Millisecond).Result())(t)
			testwait.For(t, 5*time.Second, "probe to expire", func() bool { return c.Exists(ctx, "probe").Val() == 0 })
			if v := must(c.Get(ctx, "k").Result())(t); v != "v2" {
				t.Fatalf("k = %q", v)
			}
		},
	}, {
		name: "PERSIST keeps the key",
		run: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			must(c.Set(ctx, "k", "v", 100*time.Millisecond).Result())(t)
			must(c.Persist(ctx, "k").Result())(t)
			must(c.Set(ctx, "probe", "v", 150*time.Millisecond).Result())(t)
			testwait.For(t, 5*time.Second, "probe to expire", func() bool { return c.Exists(ctx, "probe").Val() == 0 })
			if c.Exists(ctx, "k").Val() != 1 || c.TTL(ctx, "k").Val() != -1 {
				t.Fatal("persisted key expired or has a TTL")
			}
		},
	}, {
		name: "RENAME carries the deadline",
		run: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			must(c.Set(ctx, "a", "v", 200*time.Millisecond).Result())(t)
			must(c.Rename(ctx, "a", "b").Result())(t)
			if ttl := c.PTTL(ctx, "b").Val(); ttl <= 0 || ttl > 200*time.Millisecond {
				t.Fatalf("PTTL b = %v", ttl)
			}
			testwait.For(t, 5*time.Second, "b to expire", func() bool { return c.Exists(ctx, "b").Val() == 0 })
		},
	}, {
		name: "EXPIRE LT compares with the remaining TTL",
		run: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			must(c.Set(ctx, "k", "v", 10*time.Second).Result())(t)
			testwait.For(t, 5*time.Second, "PTTL below 9.9s", func() bool { return c.PTTL(ctx, "k").Val() < 9900*time.Millisecond })
			if must(c.Do(ctx, "PEXPIRE", "k", 9950, "LT").Bool())(t) {
				t.Fatal("PEXPIRE LT with a longer TTL than what is left was applied")
			}
			if !must(c.Do(ctx, "PEXPIRE", "k", 5000, "LT").Bool())(t) {
				t.Fatal("PEXPIRE LT with a shorter TTL was refused")
			}
		},
	}, {
		name: "a script refreshing the TTL extends the key",
		run: func(t *testing.T, c *redis.Client) {
			ctx := t.Context()
			must(c.Set(ctx, "k", "v", 300*time.Millisecond).Result())(t)
			testwait.For(t, 5*time.Second, "PTTL below 150ms", func() bool { return c.PTTL(ctx, "k").Val() < 150*time.Millisecond })
			refreshed := time.Now()
			must(c.Eval(ctx, "return redis.call('PEXPIRE', KEYS[1], 300)", []string{"k"}).Result())(t)
			testwait.For(t, 5*time.Second, "k to expire", func() bool { return c.Exists(ctx, "k").Val() == 0 })
			if d := time.Since(refreshed); d < 250*time.Millisecond {
				t.Fatalf("expired %v after the refresh", d)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, "n", WithTTLTick(5*time.Millisecond))
			tc.run(t, newClient(t, n))
		})
	}
}

func TestReplicaWaitsForThePrimarysExpiry(t *testing.T) {
	p, r, l := newPair(t, 0)
	cp, cr := newClient(t, p), newClient(t, r)
	ctx := t.Context()
	if err := cp.Set(ctx, "k", "v", 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	drained(t, l)
	l.Hold(true)
	testwait.For(t, 5*time.Second, "k to expire on the primary", func() bool { _, ok := p.Get("k"); return !ok })

	// The DEL is queued on the held link: the replica keeps the key, but
	// reports it as expired, as a Redis replica does.
	if _, ok := r.Get("k"); !ok || l.Pending() != 1 {
		t.Fatalf("replica lost k before the primary's DEL (pending %d)", l.Pending())
	}
	if ttl := cr.TTL(ctx, "k").Val(); ttl != -2 {
		t.Fatalf("TTL of an expired key on the replica = %v, want -2", ttl)
	}
	l.Hold(false)
	testwait.For(t, 5*time.Second, "the DEL to reach the replica", func() bool { _, ok := r.Get("k"); return !ok })
}

func TestLaggingReplicaKeepsARefreshedKey(t *testing.T) {
	// The primary refreshes a key's TTL; the replica, behind by the lag,
	// must not drop the key at its first deadline. (The TTL is long enough
	// for the refresh to land on a loaded machine.)
	p, r, l := newPair(t, 300*time.Millisecond)
	cp := newClient(t, p)
	ctx := t.Context()
	if err := cp.Set(ctx, "k", "v", time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if !must(cp.PExpire(ctx, "k", 10*time.Second).Result())(t) {
		t.Fatal("PEXPIRE refused")
	}
	drained(t, l)
	first := time.Now().Add(1200 * time.Millisecond)
	testwait.For(t, 5*time.Second, "the first deadline to pass", func() bool { return time.Now().After(first) })
	if _, ok := r.Get("k"); !ok {
		t.Fatal("replica lost a key whose TTL the primary refreshed")
	}
	if ttl := r.TTL("k"); ttl < 7*time.Second {
		t.Fatalf("replica TTL %v", ttl)
	}
	if _, ok := p.Get("k"); !ok {
		t.Fatal("primary lost k")
	}
}

func TestPromotedReplicaExpiresDueKeys(t *testing.T) {
	p, r, l := newPair(t, 0)
	cp := newClient(t, p)
	ctx := t.Context()
	if err := cp.Set(ctx, "k", "v", 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	drained(t, l)
	l.Hold(true)
	testwait.For(t, 5*time.Second, "k to expire on the primary", func() bool { _, ok := p.Get("k"); return !ok })
	p.Kill() // the DEL dies with it
	r.Promote()
	testwait.For(t, 5*time.Second, "the new primary to expire k", func() bool { _, ok := r.Get("k"); return !ok })
	if err := newClient(t, r).Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET k: %v", err)
	}
}
