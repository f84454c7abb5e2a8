package payments

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Redis key layout.
const (
	idemPrefix = "idem:" // idempotency fast path: the stored Result
	balPrefix  = "bal:"  // balance cache: "version:balance"
	ratePrefix = "rl:"   // rate limit counter per user per second
	idemTTL    = 24 * time.Hour
	balTTL     = time.Hour
)

// casBalance stores "version:balance" only if it is newer than what is
// cached, so out-of-order updates converge to the latest version. It runs as
// EVAL (not EVALSHA) so the replica replays the same script.
const casBalance = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+):'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
return 1`

// cachedResult is the idempotency fast path; the DB unique key stays the
// source of truth, so a Redis miss or outage only costs a DB round trip.
func (s *Service) cachedResult(ctx context.Context, key string) (Result, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	raw, err := s.rdb.Get(ctx, idemPrefix+key).Bytes()
	if err != nil {
		return Result{}, false
	}
	var c struct {
		Result
		HTTP int `json:"http"`
	}
	if json.Unmarshal(raw, &c) != nil || c.HTTP == 0 {
		return Result{}, false
	}
	c.Result.HTTPStatus = c.HTTP
	s.metrics.idemHits.Inc()
	return c.Result, true
}

func (s *Service) rememberResult(ctx context.Context, key string, r Result) {
	raw, err := json.Marshal(struct {
		Result
		HTTP int `json:"http"`
	}{r, r.HTTPStatus})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	_ = s.rdb.Set(ctx, idemPrefix+key, raw, idemTTL).Err()
}

// allow is a fixed-window per-user rate limit; it fails open when Redis is down.
func (s *Service) allow(ctx context.Context, user string) bool {
	if s.cfg.RateLimit <= 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	key := ratePrefix + user + ":" + strconv.FormatInt(time.Now().Unix(), 10)
	pipe := s.rdb.Pipeline()
	incr := pipe.Incr(ctx, key)
	pipe.Expire(ctx, key, 2*time.Second)
	if _, err := pipe.Exec(ctx); err != nil {
		return true
	}
	return incr.Val() <= int64(s.cfg.RateLimit)
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
		pipe.Eval(ctx, casBalance, []string{balPrefix + b.ID}, b.Version, b.Balance, int(balTTL/time.Second))
	}
	_, _ = pipe.Exec(ctx)
}

// invalidateBalances drops cached balances a commit changed, so the next
// read sees the ledger; the cache updater then writes the new versions.
func (s *Service) invalidateBalances(ctx context.Context, ids ...string) {
	var keys []string
	for _, id := range ids {
		if id != "" {
			keys = append(keys, balPrefix+id)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	_ = s.rdb.Del(ctx, keys...).Err()
}

// cachedBalance reads one account's cached balance.
func (s *Service) cachedBalance(ctx context.Context, id string) (AccountBalance, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
	defer cancel()
	raw, err := s.rdb.Get(ctx, balPrefix+id).Result()
	if err != nil {
		return AccountBalance{}, false
	}
	return ParseCachedBalance(id, raw)
}

// ParseCachedBalance decodes a balance cache value ("version:balance").
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

// BalanceKey is the Redis key caching an account's balance.
func BalanceKey(id string) string { return balPrefix + id }
