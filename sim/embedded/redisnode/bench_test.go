package redisnode

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// BenchmarkSET measures SET throughput from parallel go-redis clients on a
// primary, without a replica and with one at various lags.
func BenchmarkSET(b *testing.B) {
	cases := []struct {
		name      string
		raw       bool // plain miniredis, no redisnode hook: the baseline
		replicate bool
		lag       time.Duration
		preload   int // keys with a 24h TTL loaded before timing (idempotency keys)
	}{
		{"miniredis-raw", true, false, 0, 0},
		{"standalone", false, false, 0, 0},
		{"replicated-lag0", false, true, 0, 0},
		{"replicated-lag50ms", false, true, 50 * time.Millisecond, 0},
		{"replicated-lag0-200k-ttl-keys", false, true, 0, 200_000},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var addr string
			var l *Link
			if bc.raw {
				m := miniredis.NewMiniRedis()
				if err := m.StartAddr("127.0.0.1:0"); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(m.Close)
				addr = m.Addr()
			} else {
				p := newNode(b, "p")
				addr = p.Addr()
				if bc.replicate {
					r := newNode(b, "r")
					l = must(Replicate(p, r, bc.lag))(b)
					b.Cleanup(l.Stop)
				}
			}
			c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 32})
			b.Cleanup(func() { _ = c.Close() })
			for i := 0; i < bc.preload; i += 1000 {
				_, err := c.Pipelined(b.Context(), func(pipe redis.Pipeliner) error {
					for j := i; j < min(i+1000, bc.preload); j++ {
						pipe.SetNX(b.Context(), "idem:"+strconv.Itoa(j), "x", 24*time.Hour)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if l != nil {
				drained(b, l)
			}
			var seq atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := b.Context()
				for pb.Next() {
					i := seq.Add(1)
					if err := c.Set(ctx, "key:"+strconv.FormatInt(i%10000, 10), i, 0).Err(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sets/s")
			if l != nil {
				drained(b, l)
			}
		})
	}
}

// BenchmarkPrecheckPipeline measures the app's per-request Redis round trip
// (GET, INCR, EXPIRE in one pipeline) from parallel clients on a replicated
// primary: replies to one pipeline should leave in one write.
func BenchmarkPrecheckPipeline(b *testing.B) {
	p := newNode(b, "p")
	r := newNode(b, "r")
	l := must(Replicate(p, r, 0))(b)
	b.Cleanup(l.Stop)
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), PoolSize: 32})
	b.Cleanup(func() { _ = c.Close() })
	var seq atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := b.Context()
		for pb.Next() {
			i := strconv.FormatInt(seq.Add(1)%10000, 10)
			pipe := c.Pipeline()
			pipe.Get(ctx, "idem:"+i)
			pipe.Incr(ctx, "rl:"+i)
			pipe.Expire(ctx, "rl:"+i, 2*time.Second)
			if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pipelines/s")
}
