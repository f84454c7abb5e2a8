package payments

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"paysim/sim/embedded/redisnode"
)

// TestRateLimitPerUserPerSecond: a user gets RateLimit writes in one second
// and others are unaffected; the counters cycle through rateSlots key names
// per user, so the key space stays bounded however long a run lasts.
func TestRateLimitPerUserPerSecond(t *testing.T) {
	n := redisnode.New("p", "")
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: n.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	const limit = 3
	s := &Service{rdb: rdb, cfg: Config{RateLimit: limit}.WithDefaults()}
	ctx := context.Background()
	tests := []struct {
		name        string
		user        string
		calls       int
		wantAllowed int
	}{
		{name: "under the limit", user: "u-1", calls: limit, wantAllowed: limit},
		{name: "over the limit", user: "u-2", calls: limit + 4, wantAllowed: limit},
		{name: "no payer is never limited", user: "", calls: limit + 2, wantAllowed: limit + 2},
	}
	seq := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for try := 0; ; try++ {
				sec := time.Now().Unix()
				allowed := 0
				for range tc.calls {
					seq++
					if _, _, ok := s.precheck(ctx, Movement{Key: fmt.Sprintf("k-%d", seq), From: tc.user}); ok {
						allowed++
					}
				}
				if time.Now().Unix() != sec { // straddled a second: counts split
					if try < 5 {
						continue
					}
					t.Fatal("could not stay inside one second")
				}
				if allowed != tc.wantAllowed {
					t.Fatalf("%d of %d writes allowed, want %d", allowed, tc.calls, tc.wantAllowed)
				}
				return
			}
		})
	}
	keys, err := rdb.Keys(ctx, ratePrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slot := regexp.MustCompile(fmt.Sprintf(`^%s[^:]+:[0-%d]$`, ratePrefix, rateSlots-1))
	for _, k := range keys {
		if !slot.MatchString(k) {
			t.Errorf("rate key %q is not one of a user's %d slots", k, rateSlots)
		}
	}
	if len(keys) == 0 {
		t.Fatal("no rate limit keys written")
	}
}
