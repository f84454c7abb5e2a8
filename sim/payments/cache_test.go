package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/failpoint"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim/embedded/redisnode"
)

// redisService is a Service over one standalone Redis node.
func redisService(t *testing.T, cfg Config) *Service {
	t.Helper()
	n := redisnode.New("p", "")
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: n.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return &Service{rdb: rdb, cfg: cfg.WithDefaults(), metrics: newMetrics()}
}

// TestIdempotencyAnswersByWindow: a stored answer is found again, in its
// window or the next, but not two windows on; however many answers there
// are, they are fields of a window's hash, never a key each.
func TestIdempotencyAnswersByWindow(t *testing.T) {
	s := redisService(t, Config{IdemTTL: 30 * time.Second})
	ctx := context.Background()
	const n = 300
	for i := range n {
		s.remember(ctx, fmt.Sprintf("k-%d", i), Result{ID: fmt.Sprintf("pay-%d", i), Kind: OpPayment, Status: StatusCommitted, Amount: 100, HTTPStatus: 201})
	}
	for i := range n {
		r, hit, _ := s.precheck(ctx, Movement{Key: fmt.Sprintf("k-%d", i)})
		if !hit || r.ID != fmt.Sprintf("pay-%d", i) || r.HTTPStatus != 201 {
			t.Fatalf("replay of k-%d: hit %v, %+v", i, hit, r)
		}
	}
	keys, err := s.rdb.Keys(ctx, idemPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 || len(keys) > 2 { // two if a window ended meanwhile
		t.Fatalf("%d answers stored under %d keys %v, want one per window", n, len(keys), keys)
	}
	raw := `{"id":"pay-old","kind":"payment","status":"committed","amount":1,"http":201}`
	tests := []struct {
		name    string
		back    int64
		wantHit bool
	}{
		{name: "previous window", back: 1, wantHit: true},
		{name: "two windows back", back: 2, wantHit: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "old-" + tc.name
			if err := s.rdb.HSet(ctx, s.idemWindow(time.Now(), tc.back), key, raw).Err(); err != nil {
				t.Fatal(err)
			}
			if _, hit, _ := s.precheck(ctx, Movement{Key: key}); hit != tc.wantHit {
				t.Fatalf("answer %d windows back: hit %v, want %v", tc.back, hit, tc.wantHit)
			}
		})
	}
}

// TestRateLimitPerUserPerSecond: a user gets RateLimit writes in one second
// and others are unaffected; the counters live in rateSlots hashes that
// expire, so the key space stays bounded however long a run lasts.
func TestRateLimitPerUserPerSecond(t *testing.T) {
	const limit = 3
	s := redisService(t, Config{RateLimit: limit})
	rdb := s.rdb
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
				// A try that straddled a second left counts in this
				// second's slot: each try is a user of its own.
				user := tc.user
				if user != "" && try > 0 {
					user = fmt.Sprintf("%s-try%d", user, try)
				}
				allowed := 0
				for range tc.calls {
					seq++
					if _, _, ok := s.precheck(ctx, Movement{Key: fmt.Sprintf("k-%d", seq), From: user}); ok {
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
	slot := regexp.MustCompile(fmt.Sprintf(`^%s[0-%d]$`, ratePrefix, rateSlots-1))
	for _, k := range keys {
		if !slot.MatchString(k) {
			t.Errorf("rate key %q is not one of the %d slots", k, rateSlots)
		}
		if ttl, err := rdb.TTL(ctx, k).Result(); err != nil || ttl <= 0 || ttl > rateTTL {
			t.Errorf("rate key %q has TTL %v (%v), want at most %v", k, ttl, err, rateTTL)
		}
	}
	if len(keys) == 0 {
		t.Fatal("no rate limit keys written")
	}
}

// TestBalanceReadCachesOnlyCurrentVersions: a balance read fills the cache
// only from a current source. An asynchronous replica that lags answers
// with the version before the last commit; cached after that commit dropped
// the entry, it would stay when no later event touches the account (seen in
// containers mode: a balance left one version behind the ledger).
func TestBalanceReadCachesOnlyCurrentVersions(t *testing.T) {
	tests := []struct {
		name        string
		async       bool
		readerDown  bool
		bug         bool  // stale-replica-read switched on
		wantVersion int64 // the answer's version
		wantCached  bool
	}{
		{name: "readers are current (embedded: they share the writer's storage)", async: false, wantVersion: 0, wantCached: true},
		{name: "lagging asynchronous replica", async: true, wantVersion: 0, wantCached: false},
		{name: "replica down, the writer answers", async: true, readerDown: true, wantVersion: 1, wantCached: true},
		{name: "seeded stale-replica-read caches the lagging version", async: true, bug: true, wantVersion: 0, wantCached: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writer, replica, fps := laggingReplica(t, tc.bug)
			ctx := context.Background()
			if tc.readerDown {
				_ = replica.db.Close()
			}
			s := redisService(t, Config{AsyncReader: tc.async, Failpoints: fps})
			s.db, s.reader = writer.db, replica.db
			req := httptest.NewRequest(http.MethodGet, "/v1/accounts/"+UserID(1), nil)
			req.SetPathValue("id", UserID(1))
			rec := httptest.NewRecorder()
			s.handleAccount(rec, req)
			var a Account
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("balance read: %d %s (%v)", rec.Code, rec.Body, err)
			}
			if a.Version != tc.wantVersion || a.Source != "db" {
				t.Fatalf("answer %+v, want version %d from the db", a, tc.wantVersion)
			}
			b, cached := s.cachedBalance(ctx, UserID(1))
			if cached != tc.wantCached || (cached && b.Version != tc.wantVersion) {
				t.Fatalf("cached %v (%+v), want cached %v at version %d", cached, b, tc.wantCached, tc.wantVersion)
			}
		})
	}
}

// TestCacheUpdaterReadsCurrentVersions: the cache updater reads the
// balances an event touched from the writer when the AZ's reader is an
// asynchronous replica; the seeded stale-replica-read reads the replica and
// caches the version before the commit.
func TestCacheUpdaterReadsCurrentVersions(t *testing.T) {
	tests := []struct {
		name        string
		bug         bool
		wantVersion int64
	}{
		{name: "from the writer", wantVersion: 1},
		{name: "seeded stale-replica-read reads the lagging replica", bug: true, wantVersion: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writer, replica, fps := laggingReplica(t, tc.bug)
			ctx := context.Background()
			s := redisService(t, Config{AsyncReader: true, Failpoints: fps})
			s.db, s.reader = writer.db, replica.db
			ev, err := json.Marshal(Event{From: UserID(1), To: MerchantID(1)})
			if err != nil {
				t.Fatal(err)
			}
			// No Redis replica acknowledges here, so the updater reports
			// that after writing; what it wrote is what is checked.
			_ = s.applyCache(ctx, []*kgo.Record{{Value: ev}})
			b, cached := s.cachedBalance(ctx, UserID(1))
			if !cached || b.Version != tc.wantVersion {
				t.Fatalf("cached %v at version %d, want version %d", cached, b.Version, tc.wantVersion)
			}
		})
	}
}

// laggingReplica is a writer that has committed version 1 of UserID(1)'s
// balance and a replica that has not yet, with the run's failpoints
// (stale-replica-read switched on if bug).
func laggingReplica(t *testing.T, bug bool) (writer, replica *Service, fps *failpoint.Failpoints) {
	t.Helper()
	writer, _, _ = ledgerService(t, "")
	replica, _, _ = ledgerService(t, "")
	if _, err := writer.db.ExecContext(context.Background(), "UPDATE accounts SET balance = balance + 5, version = version + 1 WHERE id = ?", UserID(1)); err != nil {
		t.Fatal(err)
	}
	fps = &failpoint.Failpoints{}
	if bug {
		if err := EnableBugs(fps, []string{BugStaleReplicaRead}); err != nil {
			t.Fatal(err)
		}
	}
	return writer, replica, fps
}

// TestCommitCachesTheVersionsItLeft: a committed movement caches the
// balances and versions it left, read inside its transaction, and a later
// write of an older version (a reader or the cache updater that read before
// the commit and lands after it) does not replace them. Deleting instead
// (the classic invalidate-on-write, kept as the seeded stale-replica-read)
// lets that older version in for good.
func TestCommitCachesTheVersionsItLeft(t *testing.T) {
	tests := []struct {
		name      string
		bug       string
		wantAfter int64 // the payer's cached version after the late write of version 0
	}{
		{name: "the commit's versions are cached and stay", wantAfter: 1},
		{name: "seeded stale-replica-read deletes: the late older version stays", bug: BugStaleReplicaRead, wantAfter: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := ledgerService(t, tc.bug)
			s.rdb = redisService(t, Config{}).rdb
			ctx := context.Background()
			m, aerr := ParseMovement("/v1/payments", "k-1", strings.NewReader(`{"user_id":"u-1","merchant_id":"m-1","amount":100}`))
			if aerr != nil {
				t.Fatal(aerr.Error)
			}
			res, err := s.apply(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			s.remember(ctx, m.Key, res)
			for _, id := range []string{m.From, m.To} {
				var want AccountBalance
				if err := s.db.QueryRowContext(ctx, "SELECT id, balance, version FROM accounts WHERE id = ?", id).Scan(&want.ID, &want.Balance, &want.Version); err != nil {
					t.Fatal(err)
				}
				got, cached := s.cachedBalance(ctx, id)
				switch {
				case tc.bug != "" && cached:
					t.Fatalf("%s cached %+v after a commit that deletes", id, got)
				case tc.bug == "" && (!cached || got != want):
					t.Fatalf("%s cached %v %+v, want the ledger's %+v", id, cached, got, want)
				}
			}
			late := AccountBalance{ID: m.From, Balance: 100_000, Version: 0}
			s.cacheBalances(ctx, []AccountBalance{late})
			if got, _ := s.cachedBalance(ctx, m.From); got.Version != tc.wantAfter {
				t.Fatalf("after a late write of version 0: cached %+v, want version %d", got, tc.wantAfter)
			}
		})
	}
}
