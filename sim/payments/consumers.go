package payments

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim"
)

// Consumer group names.
const (
	GroupBonus   = "bonus"
	GroupCache   = "cache-updater"
	GroupShipper = "log-shipper"
)

// BonusPoints is the bonus rule: 0.5% of a QR payment, rounded down.
func BonusPoints(amount int64) int64 { return amount * 5 / 1000 }

// consumerFetchBytes bounds one fetch of a consumer (franz-go's default is
// 50 MB); a consumer catching up holds no more than this in flight.
const consumerFetchBytes = 4 << 20

// consumerFetchMinBytes and consumerFetchWait batch a caught-up consumer's
// fetches: a broker answers once this much is waiting or the wait is over,
// so a consumer makes at most ten fetches (and commits, and handler round
// trips) a second per broker. Answering as soon as one record was there,
// the nine consumers of a 500/s run fetched and committed a few records at
// a time, and Kafka's part of the stack's CPU was mostly that.
//
// The cache updater waits least: it repairs a balance the request could
// not cache (Redis slow or failing over), which readers see until it does.
// At 250 ms its fetches cost 4% less CPU at 350/s (side by side), but at
// 1,800/s each fetch's batch of ledger reads, Redis writes and WAIT held
// the requests' own Redis commands back: 12% more CPU a payment and p99
// 131–242 ms against 86–122 (alternated runs), so it stays at 100 ms. The
// bonus and the log shipper wait up to half a second, as a log line waits
// for Elasticsearch's one-second refresh anyway. At 100 ms for every
// group, Kafka was a quarter of an idle stack's CPU, most of it the nine
// consumers' fetches.
const (
	consumerFetchMinBytes = 256 << 10
	consumerFetchWait     = 100 * time.Millisecond
	lazyFetchWait         = 500 * time.Millisecond
)

// fetchWait is how long a broker holds a fetch of group's consumers.
func fetchWait(group string) time.Duration {
	if group == GroupCache {
		return consumerFetchWait
	}
	return lazyFetchWait
}

// consume runs a consumer group member: poll, handle the batch until it
// succeeds, then commit its offsets (at least once).
//
// A partition is never reset: a new group starts at the log start, and a
// consumer that finds its position out of range stops on that partition
// (counted in paysim_consumer_fetch_errors_total) rather than jump. With a
// reset policy (AtStart), every Kafka leader change made every group re-read
// its whole topic: kfake answers the leader-epoch check of a consumer's
// position with "undefined" until the new epoch has a batch, and franz-go
// then resets the partition as if it were out of range. The replays were
// idempotent but cost more the longer the run: by 333 s of the seed-21
// nemesis the bonus consumers had applied 162k grants for 67k payments and
// the shippers indexed 286k log lines for 105k, and each leader move or
// broker loss added another full replay.
func (s *Service) consume(ctx context.Context, group, topic string, handle func(context.Context, []*kgo.Record) error) {
	cl, err := kgo.NewClient(append(s.cfg.kafkaOpts(),
		kgo.SeedBrokers(s.cfg.KafkaBrokers...),
		kgo.ConsumerGroup(group+s.cfg.GroupSuffix),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		// NoResetOffset alone is franz-go's "at -1", the log end: a group
		// whose partitions were assigned after the first records skipped
		// them (a 12-minute seed-21 soak lost the bonus of the 37 payments
		// of its first 0.5 s).
		kgo.ConsumeResetOffset(kgo.NoResetOffset().AtStart()),
		kgo.FetchMaxBytes(consumerFetchBytes),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.FetchMinBytes(consumerFetchMinBytes),
		kgo.FetchMaxWait(fetchWait(group)),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.ClientID(s.cfg.Instance+"-"+group+s.cfg.GroupSuffix),
	)...)
	if err != nil {
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			return
		}
		for range fs.Errors() {
			s.metrics.fetchErrors.WithLabelValues(group).Inc()
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		for ctx.Err() == nil {
			if err := s.failpoint(FPConsumerApply); err != nil && ctx.Err() == nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			if err := handle(ctx, recs); err == nil {
				break
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
		// A crash here has applied the batch without committing its offsets:
		// the batch comes again and must not take effect twice.
		if err := s.failpoint(FPConsumerCommit); err != nil {
			continue
		}
		if ctx.Err() == nil {
			_ = cl.CommitRecords(ctx, recs...)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (s *Service) runBonus(ctx context.Context) {
	s.consume(ctx, GroupBonus, sim.TopicPayments, s.applyBonus)
}

// applyBonus grants points for QR payments, once per payment: the grant's
// primary key makes a redelivered event a no-op, and each touched account's
// points are recomputed from its grants, so replays cannot double-count.
//
// The grants, the points and the COMMIT travel as one multi-statement round
// trip (like a movement): the ledger's writer lock is never held across the
// network. Run as separate statements, a batch held it for four round trips,
// and with latency or loss injected in the consumer's AZ every payment in the
// region waited behind it (200-450 ms a batch under a 1a latency fault).
func (s *Service) applyBonus(ctx context.Context, recs []*kgo.Record) error {
	type grant struct {
		payment, account string
		points           int64
	}
	var grants []grant
	for _, r := range recs {
		var ev Event
		if json.Unmarshal(r.Value, &ev) != nil || ev.Kind != OpPayment {
			continue
		}
		if pts := BonusPoints(ev.Amount); pts > 0 {
			grants = append(grants, grant{ev.PaymentID, ev.From, pts})
		}
	}
	if len(grants) == 0 {
		return nil
	}
	// Grant only for payments the ledger has: after a DR promotion the topic
	// still holds events of payments the copy never received. A read outside
	// the transaction: a committed payment row is never deleted.
	pids := make([]any, len(grants))
	for i, g := range grants {
		pids[i] = g.payment
	}
	known := make(map[string]bool, len(grants))
	rs, err := s.db.QueryContext(ctx, "SELECT id FROM payments WHERE id IN (?"+strings.Repeat(", ?", len(pids)-1)+")", pids...)
	if err != nil {
		return fmt.Errorf("bonus: payments: %w", err)
	}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return fmt.Errorf("bonus: payments: %w", err)
		}
		known[id] = true
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("bonus: payments: %w", err)
	}
	var rows []string
	var args []any
	accts := map[string]bool{}
	for _, g := range grants {
		if !known[g.payment] {
			continue
		}
		rows = append(rows, "(?, ?, ?)")
		args = append(args, g.payment, g.account, g.points)
		accts[g.account] = true
	}
	if len(rows) == 0 {
		return nil
	}
	batch := []stmt{{"INSERT IGNORE INTO bonus_grants (payment_id, account_id, points) VALUES " + strings.Join(rows, ","), args}}
	if s.bug(BugBonusDoubleApply) {
		// Seeded bug: add the points of every delivery, granted before or not.
		for i := 0; i < len(args); i += 3 {
			batch = append(batch, stmt{"UPDATE accounts SET points = points + ? WHERE id = ?", []any{args[i+2], args[i+1]}})
		}
	} else {
		ids := make([]any, 0, len(accts))
		for a := range accts {
			ids = append(ids, a)
		}
		batch = append(batch, stmt{`UPDATE accounts SET points = (SELECT COALESCE(SUM(points), 0) FROM bonus_grants WHERE bonus_grants.account_id = accounts.id)
		WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + ")", ids})
	}
	batch = append(batch, stmt{query: "COMMIT"})
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("bonus: %w", err)
	}
	defer tx.close()
	if _, err := tx.exec(ctx, batch); err != nil {
		return fmt.Errorf("bonus: grant: %w", err)
	}
	tx.done = true
	s.metrics.bonus.Add(float64(len(rows)))
	return nil
}

func (s *Service) runCacheUpdater(ctx context.Context) {
	s.consume(ctx, GroupCache, sim.TopicPayments, s.applyCache)
}

// applyCache refreshes the cache for every account an event touched: it
// reads their balances and versions from the ledger and writes them with a
// version check, so replays and reordering are harmless.
func (s *Service) applyCache(ctx context.Context, recs []*kgo.Record) error {
	if s.bug(BugCacheNotInvalidated) {
		return nil
	}
	seen := map[string]bool{}
	var ids []any
	for _, r := range recs {
		var ev Event
		if json.Unmarshal(r.Value, &ev) != nil {
			continue
		}
		for _, id := range []string{ev.From, ev.To} {
			if id != "" && id != FundingAccount && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// An asynchronous replica is never read here: an event can arrive
	// before the replica has applied its commit, and the version read there
	// would be the one before, left in the cache for good when no later
	// event touches the account (a baseline on MariaDB replicas at 50/s left
	// 126 of 1,210 cached balances one version behind). A reader that shares
	// the writer's storage (embedded) is current and keeps this catch-up
	// work off the writer's pool, which the requests use.
	q := balancesStmt(ids)
	db := s.reader
	if s.cfg.AsyncReader && !s.bug(BugStaleReplicaRead) {
		db = s.db
	}
	bs, err := s.readBalances(ctx, db, q)
	if err != nil && db != s.db {
		bs, err = s.readBalances(ctx, s.db, q) // this AZ's reader is down
	}
	if err != nil {
		return fmt.Errorf("cache: read balances: %w", err)
	}
	return s.cacheReplicated(ctx, bs)
}

// Cache writes are acknowledged to Kafka only once the replica has them, so
// a Redis failover cannot roll a balance back to an older version for good.
// A replica that stays silent for CacheSoloAfter (dead, resyncing) is given
// up on and the updater goes on alone: by then a failover would have
// happened, and a primary cut off from the region cannot be reached any more.
const replicaWait = 200 * time.Millisecond

// cacheReplicated writes bs to the cache and waits for a replica to have
// the stream up to the end of the batch. The WAIT goes on the batch's own
// connection: Redis's WAIT covers the stream up to where it was after the
// waiting connection's previous command, so on another pooled connection,
// idle since before the batch, it could answer without waiting for the
// batch. Most of a batch's writes change nothing (the request cached that
// version already, on its own connection) and are not replicated; the
// batch's commands still move its connection's offset past the request's
// write, so the WAIT covers that write too.
func (s *Service) cacheReplicated(ctx context.Context, bs []AccountBalance) error {
	conn := s.rdb.Conn()
	defer conn.Close()
	if _, err := conn.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, b := range bs {
			queueBalance(ctx, pipe, b)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return s.waitReplicated(ctx, conn)
}

// waitReplicated waits for a replica to acknowledge what conn wrote, and
// applies the CacheSoloAfter rule to a replica that stays silent.
func (s *Service) waitReplicated(ctx context.Context, conn *redis.Conn) error {
	n, err := conn.Wait(ctx, 1, replicaWait).Result()
	if err != nil {
		return fmt.Errorf("cache: wait for the replica: %w", err)
	}
	if n >= 1 {
		s.unreplicatedSince.Store(0)
		return nil
	}
	now := time.Now().UnixNano()
	since := s.unreplicatedSince.Load()
	if since == 0 {
		s.unreplicatedSince.CompareAndSwap(0, now)
		since = now
	}
	if silent := time.Duration(now - since); silent < s.cfg.CacheSoloAfter {
		return fmt.Errorf("cache: the replica has not acknowledged a batch for %v", silent.Round(time.Millisecond))
	}
	return nil
}

// readBalances reads balances through one connection of db. Read from the
// writer's pool with an asynchronous reader beside it, they must be the
// writer of record's: a pooled connection can outlive a failover and reach
// the old writer, demoted and rejoining as a replica that has not applied
// the new writer's commits (az-isolation on MariaDB cached a balance one
// version behind for good). Such a connection is dropped and the batch
// retried.
func (s *Service) readBalances(ctx context.Context, db *sql.DB, q stmt) ([]AccountBalance, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, q.query, q.args...)
	if err != nil {
		return nil, err
	}
	var bs []AccountBalance
	for rows.Next() {
		b, err := scanBalance(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		bs = append(bs, b)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if db == s.db && s.cfg.AsyncReader {
		if err := s.writerOfRecord(ctx, conn); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // not back into the pool
			return nil, err
		}
	}
	return bs, nil
}

func (s *Service) runShipper(ctx context.Context) {
	s.consume(ctx, GroupShipper, sim.TopicAppLogs, s.ship)
}

// shipTimeout bounds one bulk request, so that no line reaches a log index
// later than this after its span ended (see sim.LogIndexSpan).
const shipTimeout = 30 * time.Second

// ship bulk-indexes log lines into the index of the span it ships in; the
// log id is the document id, so a line redelivered within a span
// overwrites itself (one redelivered later has a copy in the next index).
func (s *Service) ship(ctx context.Context, recs []*kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, shipTimeout)
	defer cancel()
	var body bytes.Buffer
	n := 0
	index := sim.LogIndex(time.Now())
	for _, r := range recs {
		var d LogDoc
		if json.Unmarshal(r.Value, &d) != nil || d.ID == "" {
			continue
		}
		meta, _ := json.Marshal(map[string]any{"index": map[string]string{"_index": index, "_id": d.ID}})
		body.Write(meta)
		body.WriteByte('\n')
		body.Write(r.Value)
		body.WriteByte('\n')
		n++
	}
	if n == 0 {
		return nil
	}
	if err := s.failpoint(FPShipBulk); err != nil {
		if s.bug(BugShipperDropsOnRetry) {
			return nil // seeded bug: the failed batch is skipped, its offsets committed
		}
		return err
	}
	resp, err := s.es.Bulk(bytes.NewReader(body.Bytes()), s.es.Bulk.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("ship: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.IsError() {
		return fmt.Errorf("ship: bulk %s", resp.Status())
	}
	var br struct {
		Errors bool `json:"errors"`
	}
	if err := json.Unmarshal(raw, &br); err != nil {
		return fmt.Errorf("ship: decode: %w", err)
	}
	if br.Errors {
		return fmt.Errorf("ship: some bulk items failed")
	}
	s.metrics.shipped.Add(float64(n))
	return nil
}

// logAsync emits an app log line to Kafka without waiting (best effort):
// see appLog.
func (s *Service) logAsync(level, msg string, fields map[string]any) {
	s.logs.emit(level, msg, fields)
}
