package payments

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/failpoint"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim/embedded/mysqlwire"
)

// countingConn counts the writes a client makes: one per protocol packet it
// sends, so one per statement round trip.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// ledgerService is a Service over a fresh embedded ledger (one writer
// instance), seeded with users and merchants, whose pool counts the round
// trips it makes. bug switches a seeded bug on.
func ledgerService(t *testing.T, bug string) (s *Service, writes *atomic.Int64, direct *sql.DB) {
	t.Helper()
	st, in := ledgerInstance(t)
	writes = &atomic.Int64{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, writes}, nil
	}
	db, err := OpenLedger("root", "", in.Addr(), "paysim", 3*time.Second, dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1) // every statement on one connection, set up once
	fps := &failpoint.Failpoints{}
	ctx := context.Background()
	if err := Migrate(ctx, db, fps); err != nil {
		t.Fatal(err)
	}
	if err := Seed(ctx, db, Accounts{Users: 4, Merchants: 2, InitialBalance: 100_000}); err != nil {
		t.Fatal(err)
	}
	if bug != "" {
		if err := fps.Enable(bugPath(bug), "return(true)"); err != nil {
			t.Fatal(err)
		}
	}
	s = &Service{db: db, reader: db, cfg: Config{Failpoints: fps}.WithDefaults(), metrics: newMetrics()}
	return s, writes, st.DB()
}

// ledgerInstance starts a ledger writer (MySQL wire over SQLite) for the
// test, closed when it ends.
func ledgerInstance(t *testing.T) (*mysqlwire.Storage, *mysqlwire.Instance) {
	t.Helper()
	st, err := mysqlwire.OpenStorage(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	in := mysqlwire.NewInstance(st, mysqlwire.Config{Name: "writer", LockWaitTimeout: 5 * time.Second})
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return st, in
}

// paymentEvent commits a payment row (as a movement would) and returns the
// event the outbox relay publishes for it.
func paymentEvent(t *testing.T, db *sql.DB, id, user, merchant string, amount int64) *kgo.Record {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO payments (id, idem_key, kind, from_account, to_account, amount, status, created_ns)
		VALUES (?, ?, 'payment', ?, ?, ?, 'committed', 1)`, id, "key-"+id, user, merchant, amount); err != nil {
		t.Fatal(err)
	}
	return eventRecord(t, id, user, merchant, amount)
}

func eventRecord(t *testing.T, id, user, merchant string, amount int64) *kgo.Record {
	t.Helper()
	raw, err := json.Marshal(Event{PaymentID: id, Key: "key-" + id, Kind: OpPayment, From: user, To: merchant, Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Value: raw}
}

// TestBonusHoldsTheWriterForOneRoundTrip: a bonus batch reads which
// payments exist, then sends its grants, the points and the COMMIT as one
// round trip, so the ledger's writer lock is never held while a statement
// crosses the network; a redelivered batch grants nothing twice, and a
// payment the ledger does not have gets nothing. With the seeded
// bonus-double-apply bug, a redelivery pays again.
func TestBonusHoldsTheWriterForOneRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		bug        string
		wantPoints int64 // u-1's points after the batch was delivered twice
	}{
		{"clean", "", BonusPoints(20_000) + BonusPoints(40_000)},
		{"seeded bonus-double-apply", BugBonusDoubleApply, 2 * (BonusPoints(20_000) + BonusPoints(40_000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, writes, direct := ledgerService(t, tc.bug)
			ctx := context.Background()
			batch := []*kgo.Record{
				paymentEvent(t, direct, "pay-a", UserID(1), MerchantID(1), 20_000),
				paymentEvent(t, direct, "pay-b", UserID(1), MerchantID(2), 40_000),
				paymentEvent(t, direct, "pay-c", UserID(2), MerchantID(1), 10_000),
				eventRecord(t, "pay-unknown", UserID(3), MerchantID(1), 50_000), // never committed
			}
			before := writes.Load()
			if err := s.applyBonus(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if n := writes.Load() - before; n != 2 {
				t.Errorf("a bonus batch took %d round trips, want 2 (the read, then grants+points+COMMIT in one)", n)
			}
			if err := s.applyBonus(ctx, batch); err != nil { // redelivered
				t.Fatal(err)
			}
			points := func(id string) int64 {
				t.Helper()
				var p int64
				if err := direct.QueryRow("SELECT points FROM accounts WHERE id = ?", id).Scan(&p); err != nil {
					t.Fatal(err)
				}
				return p
			}
			if got := points(UserID(1)); got != tc.wantPoints {
				t.Errorf("u-1 points = %d, want %d", got, tc.wantPoints)
			}
			if got := points(UserID(3)); got != 0 {
				t.Errorf("u-3 points = %d for a payment the ledger does not have, want 0", got)
			}
			var grants int
			if err := direct.QueryRow("SELECT COUNT(*) FROM bonus_grants").Scan(&grants); err != nil {
				t.Fatal(err)
			}
			if grants != 3 {
				t.Errorf("%d grants, want 3 (one per committed payment)", grants)
			}
		})
	}
}
