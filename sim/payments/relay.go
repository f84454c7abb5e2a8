package payments

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim"
)

const relayLease = "outbox-relay"

// relayBatch is the most outbox rows one relay cycle moves.
const relayBatch = 500

// errFencedWriter: what was read came from a read-only node (a fenced or
// demoted writer), not the writer of record.
var errFencedWriter = errors.New("the writer is read-only (fenced)")

// errUnreplicatedWriter: the writer commits without a replica's
// acknowledgement (semi-sync off), so what it shows may be lost in a failover.
var errUnreplicatedWriter = errors.New("the writer's semi-sync replication is off (no replica acknowledges)")

// rowQuerier is a pool or one of its connections.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writerOfRecord checks, after a read through q, that q is the writer of
// record, so that what the read showed is what a failover keeps.
//
// A writer fenced read-only (cut off from its replicas, about to be failed
// over) can show rows that no replica has: commits whose replica
// acknowledgement never came, made visible when the fence killed their
// sessions. The fence sets read_only before it kills, so a read that shows
// such rows is followed by one that sees read_only. A demoted writer that
// rejoins as a replica is read-only too, and may not yet have applied what
// the new writer committed.
//
// The fence cannot come first everywhere: setting read_only waits for the
// commits in flight, and on a writer cut off from its replicas those wait
// for an acknowledgement until semi-sync times out, turns itself off and
// lets them through, visible and writable (az-isolation on MariaDB: 27 and
// 37 events of payments the failover then lost). Semi-sync turns off
// before such a commit shows, so a read that shows it is followed by one
// that sees it off.
func (s *Service) writerOfRecord(ctx context.Context, q rowQuerier) error {
	var ro int
	if err := q.QueryRowContext(ctx, "SELECT @@read_only").Scan(&ro); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	if ro != 0 {
		return errFencedWriter
	}
	if s.cfg.SemiSyncWriter {
		var name, status string
		if err := q.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'").Scan(&name, &status); err != nil {
			return fmt.Errorf("writer: semi-sync status: %w", err)
		}
		if !strings.EqualFold(status, "ON") {
			return errUnreplicatedWriter
		}
	}
	return nil
}

// LogDoc is an app log line as shipped to Elasticsearch.
type LogDoc struct {
	ID        string `json:"log_id"`
	Timestamp string `json:"@timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
	Instance  string `json:"instance"`
	AZ        string `json:"az"`
	PaymentID string `json:"payment_id,omitempty"`
	Key       string `json:"idem_key,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Amount    int64  `json:"amount,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Error     string `json:"error,omitempty"`
}

// CommittedLogID is the log id of a payment's "committed" audit line.
func CommittedLogID(paymentID string) string { return paymentID + "-committed" }

// eventRecords are the Kafka records of one committed movement: the
// `payments` event and the `app-logs` audit line.
func eventRecords(ev Event, payload []byte) []*kgo.Record {
	doc, _ := json.Marshal(LogDoc{
		ID: CommittedLogID(ev.PaymentID), Timestamp: time.Unix(0, ev.CommittedNS).UTC().Format(time.RFC3339Nano),
		Level: "info", Message: ev.Kind + " committed", Instance: ev.Instance, AZ: ev.AZ,
		PaymentID: ev.PaymentID, Key: ev.Key, Kind: ev.Kind, Amount: ev.Amount, From: ev.From, To: ev.To,
	})
	return []*kgo.Record{
		{Topic: sim.TopicPayments, Key: []byte(ev.From), Value: payload},
		{Topic: sim.TopicAppLogs, Key: []byte(ev.PaymentID), Value: doc},
	}
}

// runRelay publishes outbox rows to Kafka while this instance holds the relay
// lease: each row becomes a `payments` event and an `app-logs` audit line,
// then is deleted. Delivery is at least once; consumers are idempotent.
func (s *Service) runRelay(ctx context.Context) {
	var leaseUntil time.Time
	for ctx.Err() == nil {
		// Only a full batch is followed at once by the next: otherwise the
		// relay waits an interval for rows to gather. Polling again at once
		// moved two or three rows a cycle at 500 payments/s, and each cycle
		// is an outbox read, a read-only check, a produce acknowledged by
		// every in-sync replica and a DELETE committed on the ledger.
		n, err := s.relayOnce(ctx, &leaseUntil)
		if n < relayBatch || err != nil {
			wait := s.cfg.RelayInterval
			if err != nil {
				wait = 100 * time.Millisecond
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

// acquireLease takes or renews the relay lease; only the holder relays.
func (s *Service) acquireLease(ctx context.Context) (bool, error) {
	now := time.Now().UnixNano()
	exp := now + s.cfg.LeaseTTL.Nanoseconds()
	r, err := s.db.ExecContext(ctx, "UPDATE leases SET holder = ?, expires_ns = ? WHERE name = ? AND (holder = ? OR expires_ns < ?)",
		s.cfg.Instance, exp, relayLease, s.cfg.Instance, now)
	if err != nil {
		return false, fmt.Errorf("lease: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 1 {
		return true, nil
	}
	_, err = s.db.ExecContext(ctx, "INSERT INTO leases (name, holder, expires_ns) VALUES (?, ?, ?)", relayLease, s.cfg.Instance, exp)
	if err == nil {
		return true, nil
	}
	if mysqlErrno(err) == errDuplicate {
		return false, nil
	}
	return false, fmt.Errorf("lease: %w", err)
}

// relayOnce moves one batch; it returns how many rows it published. The
// lease is renewed once half of it has run out, not on every poll.
func (s *Service) relayOnce(ctx context.Context, leaseUntil *time.Time) (int, error) {
	if time.Until(*leaseUntil) < s.cfg.LeaseTTL/2 {
		asked := time.Now()
		leader, err := s.acquireLease(ctx)
		if err != nil || !leader {
			*leaseUntil = time.Time{}
			if err == nil {
				sleepCtx(ctx, s.cfg.LeaseTTL/4) // a follower checks now and then
			}
			return 0, err
		}
		*leaseUntil = asked.Add(s.cfg.LeaseTTL)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id, payload FROM outbox ORDER BY id LIMIT "+strconv.Itoa(relayBatch))
	if err != nil {
		return 0, fmt.Errorf("outbox read: %w", err)
	}
	var ids []string
	var recs []*kgo.Record
	for rows.Next() {
		var id int64
		var payload string
		if err := rows.Scan(&id, &payload); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox scan: %w", err)
		}
		var ev Event
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox decode %d: %w", id, err)
		}
		ids = append(ids, fmt.Sprint(id))
		recs = append(recs, eventRecords(ev, []byte(payload))...)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, fmt.Errorf("outbox read: %w", err)
	}
	rows.Close()
	if len(ids) == 0 {
		return 0, nil
	}
	// Only what the writer of record shows, and a replica acknowledged, is
	// published.
	if err := s.writerOfRecord(ctx, s.db); err != nil {
		return 0, fmt.Errorf("outbox: %w: nothing published", err)
	}
	if err := s.failpoint(FPBeforePublish); err != nil {
		return 0, err
	}
	if err := s.kc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	if err := s.failpoint(FPAfterPublish); err != nil {
		return 0, err
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM outbox WHERE id IN ("+strings.Join(ids, ",")+")"); err != nil {
		return 0, fmt.Errorf("outbox delete: %w", err)
	}
	s.metrics.published.Add(float64(len(ids)))
	return len(ids), nil
}

// LogTemplate is the index template for `paysim-logs-*`: ids and labels are
// keywords (exact match, sortable), only the message is full text. Explicit
// mappings keep the log index small, as they do on a real cluster.
const LogTemplate = `{
  "index_patterns": ["paysim-logs-*"],
  "template": {
    "mappings": {
      "properties": {
        "log_id":     {"type": "keyword"},
        "@timestamp": {"type": "date"},
        "level":      {"type": "keyword"},
        "message":    {"type": "text"},
        "instance":   {"type": "keyword"},
        "az":         {"type": "keyword"},
        "payment_id": {"type": "keyword"},
        "idem_key":   {"type": "keyword"},
        "kind":       {"type": "keyword"},
        "amount":     {"type": "long"},
        "from":       {"type": "keyword"},
        "to":         {"type": "keyword"},
        "op":         {"type": "keyword"},
        "error":      {"type": "text"}
      }
    }
  }
}`

// InstallLogTemplate puts LogTemplate on the cluster (idempotent).
func InstallLogTemplate(ctx context.Context, urls []string) error {
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: urls})
	if err != nil {
		return fmt.Errorf("log template: %w", err)
	}
	resp, err := es.Indices.PutIndexTemplate("paysim-logs", strings.NewReader(LogTemplate), es.Indices.PutIndexTemplate.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("log template: %w", err)
	}
	defer resp.Body.Close()
	if resp.IsError() {
		return fmt.Errorf("log template: %s", resp.String())
	}
	return nil
}
