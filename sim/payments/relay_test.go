package payments

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim/embedded/mysqlwire"
)

// The outbox relay publishes nothing from a writer fenced read-only: a
// fenced MariaDB writer can show commits no replica has (their sessions
// killed while awaiting the acknowledgement), and their events would
// outlive the payments a failover loses. Once writable, the relay goes on
// to publish them.
func TestRelayPublishesNothingFromAFencedWriter(t *testing.T) {
	db, in := migratedLedger(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "INSERT INTO outbox (payment_id, payload, created_ns) VALUES (?, ?, ?)",
		"pay-1", `{"payment_id":"pay-1","kind":"topup","to":"u-1","amount":5}`, time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	s := &Service{db: db, reader: db, cfg: Config{}.WithDefaults(), metrics: newMetrics()}
	lease := time.Now().Add(time.Hour) // held: no lease statement

	in.SetReadOnly(true)
	if n, err := s.relayOnce(ctx, &lease); !errors.Is(err, errFencedWriter) || n != 0 {
		t.Fatalf("relay on a read-only writer: %d published, %v; want none and errFencedWriter", n, err)
	}
	var left int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox").Scan(&left); err != nil || left != 1 {
		t.Fatalf("outbox after the fenced relay: %d rows (%v), want 1", left, err)
	}

	in.SetReadOnly(false)
	// No broker answers here: a relay that goes on to publish fails there.
	kc, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RecordDeliveryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	s.kc = kc
	if _, err := s.relayOnce(ctx, &lease); err == nil || !strings.Contains(err.Error(), "publish") {
		t.Fatalf("relay on a writable writer: %v, want it to try to publish", err)
	}
}

// The cache updater caches only balances the writer of record showed: a
// pooled connection that reaches a read-only node (a writer fenced, or
// demoted and rejoining as a replica) is dropped and the batch retried,
// else a balance one version behind would stay cached.
func TestCacheReadsOnlyTheWriterOfRecord(t *testing.T) {
	db, in := migratedLedger(t)
	ctx := context.Background()
	q := balancesStmt([]any{"u-1"})
	tests := []struct {
		name      string
		async     bool
		readOnly  bool
		wantFence bool
	}{
		{"the writer of record", true, false, false},
		{"a read-only node behind the writer's pool", true, true, true},
		{"a reader that shares the writer's storage is not checked", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in.SetReadOnly(tt.readOnly)
			t.Cleanup(func() { in.SetReadOnly(false) })
			cfg := Config{AsyncReader: tt.async}.WithDefaults()
			s := &Service{db: db, reader: db, cfg: cfg, metrics: newMetrics()}
			_, err := s.readBalances(ctx, db, q)
			if got := errors.Is(err, errFencedWriter); got != tt.wantFence || (!tt.wantFence && err != nil) {
				t.Fatalf("readBalances: %v, want fenced %v", err, tt.wantFence)
			}
		})
	}
}

// migratedLedger is a ledger instance with the schema, and a pool on it.
func migratedLedger(t *testing.T) (*sql.DB, *mysqlwire.Instance) {
	t.Helper()
	_, in := ledgerInstance(t)
	db, err := OpenLedger("root", "", in.Addr(), "paysim", 3*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := Migrate(context.Background(), db, nil); err != nil {
		t.Fatal(err)
	}
	return db, in
}
