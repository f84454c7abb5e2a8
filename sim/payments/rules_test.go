package payments

import (
	"context"
	"testing"

	"paysim/check"
)

// TestCacheWriterAgreesWithChecker: what the service writes to the balance
// cache, the checker's own statement of the format reads back (key, member,
// newest version on top). check/rules_test.go holds the reader side; this
// holds the writer, so a change to the format on one side alone fails.
func TestCacheWriterAgreesWithChecker(t *testing.T) {
	s := redisService(t, Config{})
	ctx := context.Background()
	tests := []struct {
		name   string
		writes []AccountBalance // in order; the highest version must win
		want   AccountBalance
	}{
		{"one write", []AccountBalance{{ID: "u-1", Balance: 1234, Version: 7}}, AccountBalance{ID: "u-1", Balance: 1234, Version: 7}},
		{"zero balance", []AccountBalance{{ID: "u-2", Balance: 0, Version: 1}}, AccountBalance{ID: "u-2", Balance: 0, Version: 1}},
		{"a newer version replaces", []AccountBalance{{ID: "m-3", Balance: 10, Version: 1}, {ID: "m-3", Balance: 90, Version: 2}}, AccountBalance{ID: "m-3", Balance: 90, Version: 2}},
		{"an older version arriving late loses", []AccountBalance{{ID: "u-4", Balance: 90, Version: 5}, {ID: "u-4", Balance: 10, Version: 4}}, AccountBalance{ID: "u-4", Balance: 90, Version: 5}},
		{"large figures", []AccountBalance{{ID: "u-5", Balance: 1 << 40, Version: 1 << 30}}, AccountBalance{ID: "u-5", Balance: 1 << 40, Version: 1 << 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.writes {
				s.cacheBalances(ctx, []AccountBalance{w})
			}
			top, err := s.rdb.ZRevRange(ctx, check.BalanceCacheKey(tc.want.ID), 0, 0).Result()
			if err != nil || len(top) != 1 {
				t.Fatalf("top member of %s: %v %v", check.BalanceCacheKey(tc.want.ID), top, err)
			}
			got, ok := check.ParseCachedBalance(tc.want.ID, top[0])
			if !ok || got.ID != tc.want.ID || got.Balance != tc.want.Balance || got.Version != tc.want.Version {
				t.Fatalf("checker reads member %q as %+v (ok %v), want %+v", top[0], got, ok, tc.want)
			}
		})
	}
}
