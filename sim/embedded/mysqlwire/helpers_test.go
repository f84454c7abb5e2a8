package mysqlwire

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	drv "github.com/go-sql-driver/mysql"
)

// newStorage opens a fresh shared storage in a temporary directory.
func newStorage(t testing.TB, opt StorageOptions) *Storage {
	t.Helper()
	st, err := OpenStorageWith(filepath.Join(t.TempDir(), "cluster.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newInstance starts an instance over st; it is closed at cleanup.
func newInstance(t testing.TB, st *Storage, cfg Config) *Instance {
	t.Helper()
	inst := NewInstance(st, cfg)
	if err := inst.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	return inst
}

// newClient opens a go-sql-driver pool to inst. mod adjusts the config.
func newClient(t testing.TB, inst *Instance, mod func(*drv.Config)) *sql.DB {
	t.Helper()
	cfg := drv.NewConfig()
	cfg.User = inst.cfg.User
	cfg.Passwd = inst.cfg.Password
	cfg.Net = "tcp"
	cfg.Addr = inst.Addr()
	cfg.DBName = inst.cfg.Database
	cfg.InterpolateParams = true
	cfg.Timeout = 5 * time.Second
	cfg.ReadTimeout = 30 * time.Second
	cfg.WriteTimeout = 30 * time.Second
	cfg.Logger = &drv.NopLogger{} // killed instances make the driver log dropped connections
	if mod != nil {
		mod(cfg)
	}
	conn, err := drv.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// code returns the MySQL error number of err (0 if not a MySQL error).
func code(err error) uint16 {
	var me *drv.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// mustExec runs statements, failing the test on error.
func mustExec(t testing.TB, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// queryInt runs a one-value query.
func queryInt(t testing.TB, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

const bankSchema = `CREATE TABLE accounts (
  id BIGINT NOT NULL AUTO_INCREMENT,
  owner VARCHAR(64) NOT NULL,
  balance BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uk_owner (owner)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE ledger (
  id BIGINT PRIMARY KEY AUTO_INCREMENT,
  from_id BIGINT NOT NULL,
  to_id BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  created_at DATETIME NOT NULL DEFAULT NOW(),
  KEY idx_from (from_id)
) ENGINE=InnoDB`

// newBank creates accounts 1..n with balance each, over the wire.
func newBank(t testing.TB, db *sql.DB, n int, balance int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range splitSchema(bankSchema) {
		mustExec(t, conn, s)
	}
	mustExec(t, conn, "BEGIN")
	for i := 1; i <= n; i++ {
		if _, err := conn.ExecContext(ctx, "INSERT INTO accounts (owner, balance) VALUES (?, ?)", fmt.Sprintf("user-%d", i), balance); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, conn, "COMMIT")
}

func splitSchema(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ';' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// transferOnce is the 3-statement transfer transaction. readFirst adds a
// plain (non-locking) read before the writes.
func transferOnce(ctx context.Context, db *sql.DB, from, to, amount int64, readFirst bool) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	if readFirst {
		var bal int64
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM accounts WHERE id = ?", from).Scan(&bal); err != nil {
			return false, err
		}
	}
	res, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?", amount, from, amount)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err // insufficient funds: nothing moved
	}
	if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + ? WHERE id = ?", amount, to); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger (from_id, to_id, amount) VALUES (?, ?, ?)", from, to, amount); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// transfer retries transferOnce on 1213 (deadlock), as a client would.
func transfer(ctx context.Context, db *sql.DB, from, to, amount int64, readFirst bool) (moved bool, retries int, err error) {
	for attempt := 0; attempt < 1000; attempt++ {
		moved, err = transferOnce(ctx, db, from, to, amount, readFirst)
		if code(err) == ErLockDeadlock {
			retries++
			continue
		}
		return moved, retries, err
	}
	return false, retries, err
}
