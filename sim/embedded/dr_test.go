package embedded

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"paysim/internal/testwait"
	"paysim/sim"
	"paysim/sim/payments"
)

// TestDRCopyFollowsAndPromotes checks the DR copy receives the primary's
// commits within its lag, serves them read-only, and takes writes once
// promoted after the primary region is lost.
func TestDRCopyFollowsAndPromotes(t *testing.T) {
	topo := sim.DefaultTopology()
	topo.DR = &sim.DRTopology{Region: "ap-northeast-3", ReplicationLag: 200 * time.Millisecond, PromoteAfter: time.Second}
	st, err := Start(context.Background(), topo, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ep := st.Endpoints().MySQL
	db, err := sql.Open("mysql", payments.DSN(ep.User, ep.Password, ep.Addr, ep.Database, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := payments.Migrate(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	if err := payments.Seed(ctx, db, payments.Accounts{Users: 5, Merchants: 1, InitialBalance: 100}); err != nil {
		t.Fatal(err)
	}
	drNode, ok := st.Node(topo.DR.DRNodeID())
	if !ok {
		t.Fatal("no DR node")
	}
	dr, err := sql.Open("mysql", payments.DSN(ep.User, ep.Password, drNode.Status().Addr, ep.Database, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	count := func(db *sql.DB) int {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM accounts").Scan(&n); err != nil {
			return -1
		}
		return n
	}
	testwait.For(t, 5*time.Second, "the DR copy to receive the seed", func() bool { return count(dr) == count(db) && count(db) > 0 })
	// The primary's writers never wait on the copy.
	deadline := time.Now().Add(time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if _, err := db.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 'u-1'"); err != nil {
			t.Fatalf("write %d during copies: %v", i, err)
		}
	}
	var want, got int64
	if err := db.QueryRow("SELECT balance FROM accounts WHERE id = 'u-1'").Scan(&want); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the DR copy to catch up", func() bool {
		return dr.QueryRow("SELECT balance FROM accounts WHERE id = 'u-1'").Scan(&got) == nil && got == want
	})
	if _, err := dr.Exec("UPDATE accounts SET balance = 0"); err == nil {
		t.Fatal("the DR copy took a write before promotion")
	}
	if err := st.LoseRegion(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE accounts SET balance = balance WHERE id = 'u-1'"); err == nil {
		t.Fatal("the lost region still takes writes")
	}
	if err := st.PromoteDR(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the writer endpoint to take writes on the DR copy", func() bool {
		_, err := db.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 'u-1'")
		return err == nil
	})
}
