package payments

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis key layout.
const (
	idemPrefix = "idem:" // idempotency fast path: a hash of stored Results per IdemTTL window
	balPrefix  = "bal:"  // balance cache: "version:balance"
	ratePrefix = "rl:"   // rate limit: a hash per second of a counter per user
	// rateSlots is how many per-second keys the counters cycle through.
	// Each lives rateTTL after its second's first count, so a slot has
	// expired before its second comes round again; the key space stays
	// rateSlots keys (miniredis keeps a version per key name it ever saw,
	// even deleted). One hash per second rather than a key per user and
	// second: its EXPIRE NX is a no-op after the second's first count and is
	// not replicated, where each user's key needed an EXPIRE of its own.
	rateSlots = 4
	rateTTL   = 2 * time.Second
)

// The balance cache keeps, per account, a sorted set of "version:balance"
// members scored by version and trimmed to the highest one. Writers add and
// trim without reading, so concurrent and out-of-order updates converge to
// the newest version with plain commands (no scripts). A key holds one
// member per account, so the cache is bounded by the accounts and needs no
// TTL: an EXPIRE after every write was a quarter of the Redis writes of a
// payment, each applied on the primary and both replicas. The add reports
// changed members too (CH), so a rewrite of the version already there (the
// cache updater after the request's own write) changes nothing and, as in
// Redis, is not replicated.

// queueBalance adds a versioned balance write to a pipeline.
func queueBalance(ctx context.Context, pipe redis.Pipeliner, b AccountBalance) {
	key := balPrefix + b.ID
	member := strconv.FormatInt(b.Version, 10) + ":" + strconv.FormatInt(b.Balance, 10)
	pipe.ZAddArgs(ctx, key, redis.ZAddArgs{Ch: true, Members: []redis.Z{{Score: float64(b.Version), Member: member}}})
	pipe.ZRemRangeByRank(ctx, key, 0, -2)
}

// precheck is one Redis round trip before a movement: the idempotency fast
// path (the DB unique key stays the source of truth, so a miss or an outage
// only costs a DB round trip) and the per-user fixed-window rate limit,
// which fails open when Redis is down.
func (s *Service) precheck(ctx context.Context, m Movement) (cached Result, hit, allowed bool) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	pipe := s.rdb.Pipeline()
	now := time.Now()
	get := pipe.HGet(ctx, s.idemWindow(now, 0), m.Key)
	getPrev := pipe.HGet(ctx, s.idemWindow(now, 1), m.Key)
	var incr *redis.IntCmd
	if m.From != "" && s.cfg.RateLimit > 0 {
		key := ratePrefix + strconv.FormatInt(now.Unix()%rateSlots, 10)
		incr = pipe.HIncrBy(ctx, key, m.From, 1)
		pipe.ExpireNX(ctx, key, rateTTL)
	}
	_, _ = pipe.Exec(ctx)
	allowed = incr == nil || incr.Err() != nil || incr.Val() <= int64(s.cfg.RateLimit)
	raw, err := get.Bytes()
	if err != nil {
		raw, err = getPrev.Bytes()
	}
	if err != nil {
		return Result{}, false, allowed
	}
	var c struct {
		Result
		HTTP int `json:"http"`
	}
	if json.Unmarshal(raw, &c) != nil || c.HTTP == 0 {
		return Result{}, false, allowed
	}
	c.Result.HTTPStatus = c.HTTP
	s.metrics.idemHits.Inc()
	return c.Result, true, true
}

// idemWindow names the hash of the answers stored in the IdemTTL-long
// window back windows before the one holding t. A window's hash expires
// whole 2×IdemTTL after its first answer, so an answer is found (in its
// window or the next) for at least IdemTTL. One key per window rather than
// per answer: miniredis keeps a version for every key name it ever saw,
// even deleted, and a key per answer grew 66 MB in 10 minutes at 1,000/s.
func (s *Service) idemWindow(t time.Time, back int64) string {
	w := max(int64(s.cfg.IdemTTL/time.Second), 1)
	return idemPrefix + strconv.FormatInt(t.Unix()/w-back, 10)
}

// remember is one Redis round trip after a movement: it stores the answer
// for replays and caches the balances a commit left, at their versions, so
// the next read sees them. It never deletes a cached balance: a delete is
// the one write that is not "newest version wins". One that lands after the
// cache updater has written the commit's version (a request's Redis
// commands held up, e.g. through a failover) lets a slower writer's older
// version in, for good when no later event touches the account.
func (s *Service) remember(ctx context.Context, key string, r Result) {
	raw, err := json.Marshal(struct {
		Result
		HTTP int `json:"http"`
	}{r, r.HTTPStatus})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	pipe := s.rdb.Pipeline()
	w := s.idemWindow(time.Now(), 0)
	pipe.HSet(ctx, w, key, raw)
	pipe.ExpireNX(ctx, w, 2*s.cfg.IdemTTL)
	switch {
	case r.Status != StatusCommitted || s.bug(BugCacheNotInvalidated):
	case s.bug(BugStaleReplicaRead):
		keys := make([]string, 0, len(r.balances))
		for _, b := range r.balances {
			keys = append(keys, balPrefix+b.ID)
		}
		if len(keys) > 0 {
			pipe.Del(ctx, keys...) // seeded bug: invalidate, and let a read refill
		}
	default:
		for _, b := range r.balances {
			queueBalance(ctx, pipe, b)
		}
	}
	_, _ = pipe.Exec(ctx)
}

// cacheBalances writes balances through to the cache, newest version wins.
func (s *Service) cacheBalances(ctx context.Context, bs []AccountBalance) {
	if len(bs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	pipe := s.rdb.Pipeline()
	for _, b := range bs {
		queueBalance(ctx, pipe, b)
	}
	_, _ = pipe.Exec(ctx)
}

// cachedBalance reads one account's cached balance.
func (s *Service) cachedBalance(ctx context.Context, id string) (AccountBalance, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	top, err := s.rdb.ZRevRange(ctx, balPrefix+id, 0, 0).Result()
	if err != nil || len(top) == 0 {
		return AccountBalance{}, false
	}
	return ParseCachedBalance(id, top[0])
}

// ParseCachedBalance decodes a balance cache member ("version:balance").
func ParseCachedBalance(id, raw string) (AccountBalance, bool) {
	v, b, ok := strings.Cut(raw, ":")
	if !ok {
		return AccountBalance{}, false
	}
	ver, err1 := strconv.ParseInt(v, 10, 64)
	bal, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return AccountBalance{}, false
	}
	return AccountBalance{ID: id, Balance: bal, Version: ver}, true
}

// BalanceKey is the Redis key (a sorted set) caching an account's balance.
func BalanceKey(id string) string { return balPrefix + id }
