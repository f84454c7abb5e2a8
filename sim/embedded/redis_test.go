package embedded

import (
	"context"
	"paysim/internal/testwait"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"paysim/sim"
)

func newRedisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisPrimaryKillLosesUnreplicatedWrites(t *testing.T) {
	s := newStack(t, func(tp *sim.Topology) { tp.Redis.ReplicationLag = 300 * time.Millisecond })
	ctx := context.Background()
	c := newRedisClient(t, s.Endpoints().Redis.Addr)
	reader := newRedisClient(t, s.Endpoints().Redis.Reader)
	if err := c.Set(ctx, "replicated", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "key on the replica", func() bool { return reader.Get(ctx, "replicated").Val() == "1" })
	if err := c.Set(ctx, "in-flight", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := nodeOf(t, s, sim.ServiceRedis, 0).Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("primary endpoint answered with the primary dead and no failover yet")
	}
	testwait.For(t, 5*time.Second, "writes through the primary endpoint after failover", func() bool {
		return c.Set(ctx, "after", "1", 0).Err() == nil
	})
	if got := c.Get(ctx, "replicated").Val(); got != "1" {
		t.Fatalf("replicated key after failover: %q, want 1", got)
	}
	if n := c.Exists(ctx, "in-flight").Val(); n != 0 {
		t.Fatal("a write not yet replicated survived the primary's death")
	}
	if got := nodeOf(t, s, sim.ServiceRedis, 1).Status().Role; got != sim.RolePrimary {
		t.Fatalf("replica role after failover %s, want primary", got)
	}
	// The old primary restarts empty and rejoins as a replica of the new one.
	old := nodeOf(t, s, sim.ServiceRedis, 0)
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	direct := newRedisClient(t, old.Status().Addr)
	testwait.For(t, 5*time.Second, "old primary resynced", func() bool { return direct.Get(ctx, "after").Val() == "1" })
	if err := direct.Set(ctx, "x", "1", 0).Err(); err == nil {
		t.Fatal("the rejoined replica accepted a write")
	}
}

func TestRedisUnknownCommandKeepsServing(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	c := newRedisClient(t, s.Endpoints().Redis.Addr)
	if err := c.Do(ctx, "NOSUCHCOMMAND", "a").Err(); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("after an unknown command: %v", err)
	}
}
