package payments

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"paysim/internal/testwait"
	"paysim/sim/embedded/redisnode"
)

// replicatedRedis starts a primary and a replica linked with no lag, and a
// Service that writes its cache to the primary.
func replicatedRedis(t *testing.T, soloAfter time.Duration) (*Service, *redisnode.Link) {
	t.Helper()
	p := redisnode.New("p", "")
	r := redisnode.New("r", "", redisnode.WithRole(redisnode.Replica))
	for _, n := range []*redisnode.Node{p, r} {
		if err := n.Start(); err != nil {
			t.Fatalf("start %s: %v", n.Name(), err)
		}
		t.Cleanup(func() { _ = n.Close() })
	}
	link, err := redisnode.Replicate(p, r, 0)
	if err != nil {
		t.Fatalf("replicate: %v", err)
	}
	t.Cleanup(link.Stop)
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return &Service{rdb: rdb, cfg: Config{CacheSoloAfter: soloAfter}}, link
}

// TestCacheWaitsForTheReplicaUntilSoloAfter: a cache batch counts as done
// only once the replica has it, and a replica that stays silent is given up
// on only after CacheSoloAfter (longer than a Redis failover), so writes to
// a primary that is about to be replaced are retried rather than lost.
func TestCacheWaitsForTheReplicaUntilSoloAfter(t *testing.T) {
	const soloAfter = 3 * time.Second // past the 2 s (10 batches) the updater once waited
	tests := []struct {
		name     string
		hold     bool
		wantErr  bool
		soloOnly bool // succeeds only once soloAfter has passed
	}{
		{name: "replica acknowledges", hold: false},
		{name: "replica cut off", hold: true, wantErr: true, soloOnly: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, link := replicatedRedis(t, soloAfter)
			link.Hold(tc.hold)
			ctx := context.Background()
			start := time.Now()
			err := s.cacheReplicated(ctx, []AccountBalance{{ID: "u-1", Balance: 100, Version: 1}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("first batch: err %v, want error %v", err, tc.wantErr)
			}
			if !tc.soloOnly {
				return
			}
			testwait.For(t, 10*time.Second, "the updater to go on alone", func() bool {
				return s.cacheReplicated(ctx, []AccountBalance{{ID: "u-1", Balance: 100, Version: 1}}) == nil
			})
			if took := time.Since(start); took < soloAfter {
				t.Fatalf("went on alone after %v, before CacheSoloAfter %v", took, soloAfter)
			}
			// The replica comes back: the next batch waits for it again.
			link.Hold(false)
			if err := s.cacheReplicated(ctx, []AccountBalance{{ID: "u-1", Balance: 50, Version: 2}}); err != nil || s.unreplicatedSince.Load() != 0 {
				t.Fatalf("after the replica came back: err %v, since %d", err, s.unreplicatedSince.Load())
			}
			link.Hold(true)
			if err := s.cacheReplicated(ctx, []AccountBalance{{ID: "u-1", Balance: 20, Version: 3}}); err == nil {
				t.Fatal("a new silent run went on alone at once")
			}
		})
	}
}

// TestCacheBatchCoversTheRequestsWrite: the request caches a balance on its
// own connection; the updater's batch then writes the same version, which
// changes nothing and, as in Redis, is not replicated. The batch must still
// count as done only once the replica has the request's write (its WAIT, on
// the batch's connection, covers the stream up to the batch's commands): a
// batch acknowledged before would let a Redis failover roll the balance
// back for good.
//
// The updater's pool is FIFO and holds two connections idle since before
// the request's write, so a WAIT sent through the pool apart from the
// batch would land on one of those (Redis answers it at once) and count
// the batch as replicated: the test fails for that mistake too.
func TestCacheBatchCoversTheRequestsWrite(t *testing.T) {
	s, link := replicatedRedis(t, time.Hour)
	ctx := context.Background()
	s.rdb = redis.NewClient(&redis.Options{Addr: s.rdb.Options().Addr, PoolFIFO: true})
	t.Cleanup(func() { _ = s.rdb.Close() })
	idle := []*redis.Conn{s.rdb.Conn(), s.rdb.Conn()}
	for _, c := range idle {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range idle {
		_ = c.Close()
	}
	if n := s.rdb.PoolStats().IdleConns; n != 2 {
		t.Fatalf("%d idle connections in the updater's pool, want 2", n)
	}
	request := redis.NewClient(&redis.Options{Addr: s.rdb.Options().Addr})
	t.Cleanup(func() { _ = request.Close() })
	b := AccountBalance{ID: "u-1", Balance: 100, Version: 7}
	link.Hold(true)
	pipe := request.Pipeline()
	queueBalance(ctx, pipe, b)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.cacheReplicated(ctx, []AccountBalance{b}); err == nil {
		t.Fatal("the batch counted as done while the replica lacked the request's write")
	}
	link.Hold(false)
	if err := s.cacheReplicated(ctx, []AccountBalance{b}); err != nil {
		t.Fatalf("after the replica caught up: %v", err)
	}
}
