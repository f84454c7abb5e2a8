package mysqlwire

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"paysim/internal/testwait"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	drv "github.com/go-sql-driver/mysql"
)

func TestStatements(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	db := newClient(t, inst, nil)
	ctx := context.Background()

	tests := []struct {
		name     string
		query    string
		args     []any
		wantCode uint16 // 0: success
		affected int64  // checked when >= 0 and success
		insertID int64  // checked when > 0
	}{
		{"create table", "CREATE TABLE items (id BIGINT PRIMARY KEY AUTO_INCREMENT, sku VARCHAR(32) NOT NULL, qty INT NOT NULL DEFAULT 0, UNIQUE KEY uk_sku (sku)) ENGINE=InnoDB", nil, 0, 0, 0},
		{"create table again", "CREATE TABLE items (id INT)", nil, 1050, -1, 0},
		{"insert", "INSERT INTO items (sku, qty) VALUES (?, ?)", []any{"a", 1}, 0, 1, 1},
		{"insert second", "INSERT INTO items (sku, qty) VALUES (?, ?)", []any{"b", 2}, 0, 1, 2},
		{"insert quote", "INSERT INTO items (sku, qty) VALUES (?, ?)", []any{"it's \\ \"q\"", 3}, 0, 1, 3},
		{"duplicate", "INSERT INTO items (sku, qty) VALUES (?, ?)", []any{"a", 9}, ErDupEntry, -1, 0},
		{"insert ignore duplicate", "INSERT IGNORE INTO items (sku, qty) VALUES (?, ?)", []any{"a", 9}, 0, 0, 0},
		{"update", "UPDATE items SET qty = qty + ? WHERE sku = ?", []any{10, "a"}, 0, 1, 0},
		{"update none", "UPDATE items SET qty = 0 WHERE sku = ?", []any{"zzz"}, 0, 0, 0},
		{"upsert", "INSERT INTO items (sku, qty) VALUES ('b', 5) ON DUPLICATE KEY UPDATE qty = VALUES(qty)", nil, 0, 1, 0},
		{"malformed", "SELEC * FROM items", nil, ErParse, -1, 0},
		{"unterminated", "SELECT 'oops", nil, ErParse, -1, 0},
		{"unknown table", "SELECT * FROM nope", nil, 1146, -1, 0},
		{"unknown column", "SELECT nope FROM items", nil, 1054, -1, 0},
		{"not null", "INSERT INTO items (sku, qty) VALUES (NULL, 1)", nil, 1048, -1, 0},
		{"stacked without multiStatements", "SELECT 1; DROP TABLE items", nil, ErParse, -1, 0},
		{"unsupported", "ATTACH DATABASE '/tmp/x.db' AS x", nil, 1235, -1, 0},
		{"delete", "DELETE FROM items WHERE sku = ?", []any{"it's \\ \"q\""}, 0, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := db.ExecContext(ctx, tc.query, tc.args...)
			if got := code(err); got != tc.wantCode || (tc.wantCode == 0 && err != nil) {
				t.Fatalf("err = %v (code %d), want code %d", err, got, tc.wantCode)
			}
			if err != nil {
				return
			}
			if tc.affected >= 0 {
				if n, _ := res.RowsAffected(); n != tc.affected {
					t.Errorf("affected = %d, want %d", n, tc.affected)
				}
			}
			if tc.insertID > 0 {
				if id, _ := res.LastInsertId(); id != tc.insertID {
					t.Errorf("insert id = %d, want %d", id, tc.insertID)
				}
			}
		})
	}

	// After every error above the connection keeps serving.
	if got := queryInt(t, db, "SELECT qty FROM items WHERE sku = ?", "a"); got != 11 {
		t.Fatalf("qty(a) = %d, want 11", got)
	}
	if got := queryInt(t, db, "SELECT qty FROM items WHERE sku = 'b'"); got != 5 {
		t.Fatalf("qty(b) = %d, want 5 (upsert)", got)
	}
	if got := queryInt(t, db, "SELECT COUNT(*) FROM items"); got != 2 {
		t.Fatalf("count = %d, want 2", got)
	}
	if s := inst.Stats(); s.Errors == 0 || s.Queries == 0 {
		t.Fatalf("stats not counting: %+v", s)
	}
}

func TestTransactions(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	db := newClient(t, inst, nil)
	ctx := context.Background()
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")

	t.Run("rollback leaves nothing", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, "INSERT INTO t VALUES (1, 'a')", "INSERT INTO t VALUES (2, 'b')")
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, db, "SELECT COUNT(*) FROM t"); n != 0 {
			t.Fatalf("count = %d after rollback, want 0", n)
		}
	})
	t.Run("commit keeps", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, "INSERT INTO t VALUES (1, 'a')")
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, db, "SELECT COUNT(*) FROM t"); n != 1 {
			t.Fatalf("count = %d after commit, want 1", n)
		}
	})
	t.Run("duplicate inside txn keeps txn", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO t VALUES (1, 'dup')")
		if code(err) != ErDupEntry {
			t.Fatalf("err = %v, want 1062", err)
		}
		mustExec(t, tx, "INSERT INTO t VALUES (2, 'b')")
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, db, "SELECT COUNT(*) FROM t"); n != 2 {
			t.Fatalf("count = %d, want 2", n)
		}
	})
	t.Run("autocommit off", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		mustExec(t, conn, "SET autocommit=0", "INSERT INTO t VALUES (3, 'c')", "ROLLBACK")
		mustExec(t, conn, "INSERT INTO t VALUES (4, 'd')", "COMMIT", "SET autocommit=1")
		if n := queryInt(t, db, "SELECT COUNT(*) FROM t WHERE id IN (3, 4)"); n != 1 {
			t.Fatalf("count = %d, want 1 (3 rolled back, 4 committed)", n)
		}
	})
	t.Run("read only transaction", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (9, 'x')"); code(err) != ErReadOnlyTxn {
			t.Fatalf("err = %v, want %d", err, ErReadOnlyTxn)
		}
	})
}

func TestReaderAndPromotion(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	writer := newInstance(t, st, Config{Name: "writer"})
	reader := newInstance(t, st, Config{Name: "reader", ReadOnly: true})
	wdb := newClient(t, writer, nil)
	rdb := newClient(t, reader, nil)
	ctx := context.Background()
	mustExec(t, wdb, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 10)")

	writes := []string{
		"INSERT INTO t VALUES (2, 20)",
		"UPDATE t SET v = 0",
		"DELETE FROM t",
		"REPLACE INTO t VALUES (1, 1)",
		"CREATE TABLE u (id INT)",
		"DROP TABLE t",
		"ALTER TABLE t ADD COLUMN w INT",
		"TRUNCATE TABLE t",
		"CREATE INDEX ix ON t (v)",
		"WITH x AS (SELECT 1) DELETE FROM t",
	}
	for _, w := range writes {
		t.Run("reader rejects "+w, func(t *testing.T) {
			_, err := rdb.ExecContext(ctx, w)
			if code(err) != ErReadOnly {
				t.Fatalf("err = %v, want 1290", err)
			}
			if !strings.Contains(err.Error(), "--read-only") {
				t.Fatalf("message = %q", err.Error())
			}
		})
	}
	t.Run("reader reads committed", func(t *testing.T) {
		if v := queryInt(t, rdb, "SELECT v FROM t WHERE id = 1"); v != 10 {
			t.Fatalf("v = %d, want 10", v)
		}
		mustExec(t, wdb, "UPDATE t SET v = 11 WHERE id = 1")
		if v := queryInt(t, rdb, "SELECT v FROM t WHERE id = 1"); v != 11 {
			t.Fatalf("v = %d, want 11 (shared storage)", v)
		}
		if ro := queryInt(t, rdb, "SELECT @@innodb_read_only"); ro != 1 {
			t.Fatalf("@@innodb_read_only = %d on reader", ro)
		}
		var locked int64
		if err := rdb.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1 FOR UPDATE").Scan(&locked); err != nil {
			t.Fatalf("locking read on reader: %v", err)
		}
	})
	t.Run("promotion", func(t *testing.T) {
		writer.SetReadOnly(true)
		reader.SetReadOnly(false)
		if _, err := wdb.ExecContext(ctx, "INSERT INTO t VALUES (3, 30)"); code(err) != ErReadOnly {
			t.Fatalf("demoted writer: err = %v, want 1290", err)
		}
		mustExec(t, rdb, "INSERT INTO t VALUES (3, 30)")
		if ro := queryInt(t, rdb, "SELECT @@read_only"); ro != 0 {
			t.Fatalf("@@read_only = %d after promotion", ro)
		}
		if v := queryInt(t, wdb, "SELECT v FROM t WHERE id = 3"); v != 30 {
			t.Fatalf("old writer reads %d, want 30", v)
		}
		if s := writer.Stats(); s.ReadOnlyRejections == 0 || !s.ReadOnly {
			t.Fatalf("writer stats: %+v", s)
		}
	})
}

func TestKill(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	db := newClient(t, inst, nil)
	ctx := context.Background()
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
	for i := 1; i <= 5; i++ {
		mustExec(t, db, fmt.Sprintf("INSERT INTO t VALUES (%d, 'committed')", i))
	}
	addr := inst.Addr()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "INSERT INTO t VALUES (100, 'uncommitted')", "UPDATE t SET v = 'dirty' WHERE id = 1")
	testwait.For(t, 5*time.Second, "connections open", func() bool { return inst.Stats().OpenConnections >= 1 })

	inst.Kill()
	if inst.Running() {
		t.Fatal("running after Kill")
	}
	if s := inst.Stats(); s.OpenConnections != 0 || s.Rollbacks == 0 {
		t.Fatalf("after Kill: %+v (want no connections, a rollback)", s)
	}
	// The client's connection is gone.
	if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (101, 'x')"); err == nil {
		t.Fatal("statement on a killed instance succeeded")
	}
	_ = tx.Rollback()
	// The open transaction rolled back: the storage is not locked.
	if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, "UPDATE t SET v = 'direct' WHERE id = 5"); err != nil {
		t.Fatalf("storage still locked after Kill: %v", err)
	}
	// While down, new clients cannot connect.
	down := newClient(t, inst, func(c *drv.Config) { c.Timeout = time.Second })
	if err := down.PingContext(ctx); err == nil {
		t.Fatal("ping succeeded on a killed instance")
	}

	if err := inst.Start(); err != nil {
		t.Fatal(err)
	}
	if inst.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", inst.Addr(), addr)
	}
	db2 := newClient(t, inst, nil)
	if n := queryInt(t, db2, "SELECT COUNT(*) FROM t"); n != 5 {
		t.Fatalf("count = %d after restart, want the 5 committed rows", n)
	}
	if n := queryInt(t, db2, "SELECT COUNT(*) FROM t WHERE v = 'dirty' OR id = 100"); n != 0 {
		t.Fatalf("uncommitted changes survived: %d rows", n)
	}
	// The old pool reconnects too (database/sql drops the dead connections).
	testwait.For(t, 10*time.Second, "old pool reconnect", func() bool {
		return db.PingContext(ctx) == nil
	})
	if s := inst.Stats(); s.Kills != 1 || !s.Running {
		t.Fatalf("stats: %+v", s)
	}
}

func TestKillInterruptsLockWait(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{LockWaitTimeout: time.Minute})
	db := newClient(t, inst, nil)
	ctx := context.Background()
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, holder, "INSERT INTO t VALUES (1)")
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, "INSERT INTO t VALUES (2)")
		done <- err
	}()
	testwait.For(t, 5*time.Second, "second connection", func() bool { return inst.Stats().OpenConnections >= 2 })
	inst.Kill()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("waiting insert succeeded on a killed instance")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Kill did not end a statement waiting for the writer lock")
	}
	_ = holder.Rollback()
}

func TestBusyAndLockErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("writer transactions serialise without 1213", func(t *testing.T) {
		st := newStorage(t, StorageOptions{})
		inst := newInstance(t, st, Config{})
		db := newClient(t, inst, nil)
		mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 0)")
		a, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var v int
		if err := a.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := db.ExecContext(ctx, "UPDATE t SET v = v + 10 WHERE id = 1")
			done <- err
		}()
		mustExec(t, a, fmt.Sprintf("UPDATE t SET v = %d WHERE id = 1", v+1)) // read-modify-write
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if v := queryInt(t, db, "SELECT v FROM t WHERE id = 1"); v != 11 {
			t.Fatalf("v = %d, want 11 (no lost update)", v)
		}
	})
	t.Run("stale snapshot after promotion is 1213 and rolls back", func(t *testing.T) {
		st := newStorage(t, StorageOptions{})
		writer := newInstance(t, st, Config{})
		reader := newInstance(t, st, Config{ReadOnly: true})
		wdb := newClient(t, writer, nil)
		rdb := newClient(t, reader, nil)
		mustExec(t, wdb, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 0), (2, 0)")
		a, err := rdb.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Rollback()
		var v int
		if err := a.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil {
			t.Fatal(err)
		}
		mustExec(t, wdb, "UPDATE t SET v = 5 WHERE id = 2") // the old writer commits
		writer.SetReadOnly(true)
		reader.SetReadOnly(false) // failover while a's snapshot is open
		_, err = a.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = 1")
		if code(err) != ErLockDeadlock {
			t.Fatalf("err = %v, want 1213", err)
		}
		var me *drv.MySQLError
		if ok := asMySQL(err, &me); !ok || string(me.SQLState[:]) != "40001" {
			t.Fatalf("SQLSTATE = %v, want 40001", err)
		}
		if v := queryInt(t, rdb, "SELECT v FROM t WHERE id = 1"); v != 0 {
			t.Fatalf("v = %d, want 0", v)
		}
		if s := reader.Stats(); s.Deadlocks != 1 {
			t.Fatalf("deadlocks = %d, want 1", s.Deadlocks)
		}
	})
	t.Run("external writer lock is 1213", func(t *testing.T) {
		st := newStorage(t, StorageOptions{BusyTimeout: 50 * time.Millisecond})
		inst := newInstance(t, st, Config{})
		db := newClient(t, inst, nil)
		mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
		direct, err := st.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close()
		mustExec(t, direct, "BEGIN IMMEDIATE", "INSERT INTO t VALUES (1)")
		_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (2)")
		if code(err) != ErLockDeadlock {
			t.Fatalf("err = %v, want 1213", err)
		}
		mustExec(t, direct, "ROLLBACK")
		mustExec(t, db, "INSERT INTO t VALUES (2)")
	})
	t.Run("writer lock wait timeout is 1205", func(t *testing.T) {
		st := newStorage(t, StorageOptions{})
		inst := newInstance(t, st, Config{LockWaitTimeout: 100 * time.Millisecond})
		db := newClient(t, inst, nil)
		mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
		holder, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, holder, "INSERT INTO t VALUES (1)")
		_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (2)")
		if code(err) != ErLockWaitTimeout {
			t.Fatalf("err = %v, want 1205", err)
		}
		if err := holder.Commit(); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "INSERT INTO t VALUES (2)")
	})
}

func asMySQL(err error, target **drv.MySQLError) bool {
	me, ok := err.(*drv.MySQLError)
	if ok {
		*target = me
	}
	return ok
}

func TestConcurrentTransfers(t *testing.T) {
	const (
		clients   = 16
		perClient = 60
		accounts  = 20
		initial   = 1000
	)
	// A 1 ms busy timeout makes SQLITE_BUSY surface fast when a writer
	// outside the instances (a checker on Storage.DB) holds the file lock.
	st := newStorage(t, StorageOptions{BusyTimeout: time.Millisecond})
	inst := newInstance(t, st, Config{})
	db := newClient(t, inst, nil)
	db.SetMaxOpenConns(clients)
	db.SetMaxIdleConns(clients)
	newBank(t, db, accounts, initial)
	mustExec(t, st.DB(), "CREATE TABLE audit (n INTEGER)")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The external writer holds the lock until the clients have seen busy.
	ext, err := st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	mustExec(t, ext, "BEGIN IMMEDIATE", "INSERT INTO audit VALUES (0)")

	var moved, retries, finished atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients+1)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer finished.Add(1)
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			for range perClient {
				from := rng.Int64N(accounts) + 1
				to := rng.Int64N(accounts-1) + 1
				if to >= from {
					to++
				}
				// Half the clients read the balance before writing.
				ok, r, err := transfer(ctx, db, from, to, rng.Int64N(200)+1, c%2 == 0)
				retries.Add(int64(r))
				if err != nil {
					errs <- err
					return
				}
				if ok {
					moved.Add(1)
				}
			}
		}()
	}
	testwait.For(t, 30*time.Second, "a 1213 from SQLITE_BUSY", func() bool { return inst.Stats().Deadlocks > 0 })
	mustExec(t, ext, "COMMIT")
	// Then the external writer keeps taking the lock now and then.
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := 1; n < 10_000; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_, err := ext.ExecContext(ctx, "INSERT INTO audit WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300) SELECT ? FROM c", n)
			if err != nil && !isBusy(err) {
				errs <- err
				return
			}
		}
	}()
	testwait.For(t, 2*time.Minute, "transfers to finish", func() bool { return finished.Load() == clients })
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := queryInt(t, db, "SELECT SUM(balance) FROM accounts"); got != accounts*initial {
		t.Fatalf("sum of balances = %d, want %d", got, accounts*initial)
	}
	if got := queryInt(t, db, "SELECT COUNT(*) FROM accounts WHERE balance < 0"); got != 0 {
		t.Fatalf("%d negative balances", got)
	}
	if got := queryInt(t, db, "SELECT COUNT(*) FROM ledger"); got != moved.Load() {
		t.Fatalf("ledger rows = %d, transfers = %d", got, moved.Load())
	}
	// The ledger replays to the balances.
	rows, err := db.QueryContext(ctx, `SELECT a.balance,
		COALESCE((SELECT SUM(amount) FROM ledger WHERE to_id = a.id), 0) -
		COALESCE((SELECT SUM(amount) FROM ledger WHERE from_id = a.id), 0) FROM accounts a`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var bal, delta int64
		if err := rows.Scan(&bal, &delta); err != nil {
			t.Fatal(err)
		}
		if bal != initial+delta {
			t.Fatalf("balance %d disagrees with the ledger (%+d)", bal, delta)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	s := inst.Stats()
	t.Logf("moved %d, client retries on 1213: %d, server deadlocks: %d, commits: %d", moved.Load(), retries.Load(), s.Deadlocks, s.Commits)
	if int64(s.Deadlocks) != retries.Load() {
		t.Fatalf("server sent %d deadlocks, clients retried %d times", s.Deadlocks, retries.Load())
	}
}

func TestClientCompatibility(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	db := newClient(t, inst, nil)
	ctx := context.Background()
	mustExec(t, db, "CREATE TABLE accounts (id BIGINT PRIMARY KEY AUTO_INCREMENT, owner VARCHAR(64) NOT NULL, KEY idx_owner (owner))")

	tests := []struct {
		query string
		want  string // first column of the first row; "*" accepts any
		rows  int    // -1: any
	}{
		{"select @@version_comment limit 1", "paysim MySQL wire protocol over SQLite (Aurora-like shared storage)", 1},
		{"SELECT DATABASE()", "paysim", 1},
		{"SELECT VERSION()", ServerVersion, 1},
		{"SELECT @@version", ServerVersion, 1},
		{"SELECT @@max_allowed_packet", "67108864", 1},
		{"SELECT @@session.autocommit", "1", 1},
		{"SELECT @@tx_isolation", "REPEATABLE-READ", 1},
		{"SELECT @@session.transaction_read_only, @@innodb_read_only", "0", 1},
		{"SELECT CONNECTION_ID()", "*", 1},
		{"SELECT USER(), CURRENT_USER()", "root@127.0.0.1", 1},
		{"SELECT NOW(), UTC_TIMESTAMP(), CURDATE(), UNIX_TIMESTAMP(), UUID()", "*", 1},
		{"SHOW DATABASES", "information_schema", 2},
		{"SHOW TABLES", "accounts", 1},
		{"SHOW FULL TABLES", "accounts", 1},
		{"SHOW VARIABLES LIKE 'max_allowed%'", "max_allowed_packet", 1},
		{"SHOW SESSION VARIABLES LIKE 'autocommit'", "autocommit", 1},
		{"SHOW STATUS LIKE 'Threads%'", "Threads_connected", 1},
		{"SHOW WARNINGS", "", 0},
		{"SHOW COLUMNS FROM accounts", "id", 2},
		{"DESCRIBE accounts", "id", 2},
		{"SHOW CREATE TABLE accounts", "accounts", 1},
		{"SHOW INDEX FROM accounts", "accounts", -1},
		{"SHOW ENGINES", "InnoDB", 1},
		{"SELECT 1 FROM DUAL", "1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			rows, err := db.QueryContext(ctx, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			n := 0
			for rows.Next() {
				vals := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				if n == 0 && tc.want != "*" && vals[0].String != tc.want {
					t.Errorf("first value = %q, want %q (columns %v)", vals[0].String, tc.want, cols)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if tc.rows >= 0 && n != tc.rows {
				t.Errorf("rows = %d, want %d", n, tc.rows)
			}
		})
	}

	noops := []string{"SET NAMES utf8mb4", "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", "SET sql_mode = 'STRICT_ALL_TABLES'",
		"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "SET @x = 1", "USE paysim", "LOCK TABLES accounts WRITE", "UNLOCK TABLES",
		"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */", "CREATE DATABASE IF NOT EXISTS paysim"}
	for _, q := range noops {
		t.Run(q, func(t *testing.T) { mustExec(t, db, q) })
	}
	sad := []struct {
		query string
		code  uint16
	}{
		{"USE otherdb", 1049},
		{"SET autocommit = 'maybe'", 1231},
		{"SHOW NONSENSE", ErParse},
		{"SHOW COLUMNS FROM missing", 1146},
	}
	for _, tc := range sad {
		t.Run(tc.query, func(t *testing.T) {
			if _, err := db.ExecContext(ctx, tc.query); code(err) != tc.code {
				t.Fatalf("err = %v, want %d", err, tc.code)
			}
		})
	}
	t.Run("column names", func(t *testing.T) {
		rows, err := db.QueryContext(ctx, "select @@version_comment limit 1")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		if len(cols) != 1 || cols[0] != "@@version_comment" {
			t.Fatalf("columns = %v", cols)
		}
	})
	t.Run("password required", func(t *testing.T) {
		secured := newInstance(t, st, Config{User: "app", Password: "s3cret"})
		good := newClient(t, secured, nil)
		if err := good.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{"wrong", ""} {
			bad := newClient(t, secured, func(c *drv.Config) { c.Passwd = pw })
			if err := bad.PingContext(ctx); code(err) != 1045 {
				t.Fatalf("password %q: err = %v, want 1045", pw, err)
			}
		}
	})
	t.Run("password against empty password survives", func(t *testing.T) {
		bad := newClient(t, inst, func(c *drv.Config) { c.Passwd = "wrong" })
		if err := bad.PingContext(ctx); err == nil {
			t.Fatal("wrong password accepted")
		}
		if err := db.PingContext(ctx); err != nil {
			t.Fatalf("instance stopped serving: %v", err)
		}
	})
	t.Run("unknown database in DSN", func(t *testing.T) {
		bad := newClient(t, inst, func(c *drv.Config) { c.DBName = "nope" })
		if err := bad.PingContext(ctx); code(err) != 1049 {
			t.Fatalf("err = %v, want 1049", err)
		}
	})
}

func TestBinaryRoundTrip(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	ctx := context.Background()
	blob := []byte{0, 1, '\'', '\\', 0xff, 0xfe, '"', 0x1a}
	for i, interpolate := range []bool{true, false} {
		db := newClient(t, inst, func(c *drv.Config) { c.InterpolateParams = interpolate })
		if i == 0 {
			mustExec(t, db, "CREATE TABLE b (id INT PRIMARY KEY, data BLOB, js TEXT)")
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO b VALUES (?, ?, ?)", i, blob, []byte(`{"k":"v'"}`)); err != nil {
			t.Fatal(err)
		}
		var got, js []byte
		if err := db.QueryRowContext(ctx, "SELECT data, js FROM b WHERE id = ?", i).Scan(&got, &js); err != nil {
			t.Fatal(err)
		}
		if string(got) != string(blob) || string(js) != `{"k":"v'"}` {
			t.Fatalf("interpolate=%v: got %x %q", interpolate, got, js)
		}
		// []byte holding text compares equal to a string key.
		if n := queryInt(t, db, "SELECT COUNT(*) FROM b WHERE js = ?", `{"k":"v'"}`); n != int64(i+1) {
			t.Fatalf("interpolate=%v: text match count = %d", interpolate, n)
		}
	}
}

func TestTypesAndPreparedStatements(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	text := newClient(t, inst, nil)
	prep := newClient(t, inst, func(c *drv.Config) { c.InterpolateParams = false })
	parsed := newClient(t, inst, func(c *drv.Config) { c.ParseTime = true; c.InterpolateParams = false })
	ctx := context.Background()
	mustExec(t, text, `CREATE TABLE v (id BIGINT PRIMARY KEY, n BIGINT, f DOUBLE, s VARCHAR(32), b BLOB, ts DATETIME, d DATE)`)
	mustExec(t, text, `INSERT INTO v VALUES (1, -42, 1.5, 'héllo', X'00ff', '2024-05-06 07:08:09', '2024-05-06'), (2, NULL, NULL, NULL, NULL, NULL, NULL)`)

	for name, db := range map[string]*sql.DB{"text": text, "prepared": prep} {
		t.Run(name, func(t *testing.T) {
			var (
				n  sql.NullInt64
				f  sql.NullFloat64
				s  sql.NullString
				b  []byte
				ts sql.NullString
				d  sql.NullString
			)
			err := db.QueryRowContext(ctx, "SELECT n, f, s, b, ts, d FROM v WHERE id = ?", 1).Scan(&n, &f, &s, &b, &ts, &d)
			if err != nil {
				t.Fatal(err)
			}
			if n.Int64 != -42 || f.Float64 != 1.5 || s.String != "héllo" || string(b) != "\x00\xff" ||
				ts.String != "2024-05-06 07:08:09" || d.String != "2024-05-06" {
				t.Fatalf("got %v %v %v %x %v %v", n, f, s, b, ts, d)
			}
			err = db.QueryRowContext(ctx, "SELECT n, f, s, b FROM v WHERE id = ?", 2).Scan(&n, &f, &s, &b)
			if err != nil {
				t.Fatal(err)
			}
			if n.Valid || f.Valid || s.Valid || b != nil {
				t.Fatalf("NULLs scanned as %v %v %v %v", n, f, s, b)
			}
			// Typed scan targets work with the column types we report.
			var i64 int64
			var str string
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*), 'x' FROM v WHERE id > ?", 0).Scan(&i64, &str); err != nil || i64 != 2 || str != "x" {
				t.Fatalf("count = %d %q, %v", i64, str, err)
			}
		})
	}
	t.Run("prepared insert and duplicate keeps 1062", func(t *testing.T) {
		stmt, err := prep.PrepareContext(ctx, "INSERT INTO v (id, n, s, ts) VALUES (?, ?, ?, ?)")
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		when := time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC)
		if _, err := stmt.ExecContext(ctx, 3, uint64(7), []byte("bytes"), when); err != nil {
			t.Fatal(err)
		}
		if _, err := stmt.ExecContext(ctx, 3, 1, "dup", when); code(err) != ErDupEntry {
			t.Fatalf("err = %v, want 1062 on the prepared path", err)
		}
		var got time.Time
		if err := parsed.QueryRowContext(ctx, "SELECT ts FROM v WHERE id = ?", 3).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(when) {
			t.Fatalf("ts = %v, want %v", got, when)
		}
	})
	t.Run("prepare syntax error", func(t *testing.T) {
		if _, err := prep.PrepareContext(ctx, "SELEC 1"); code(err) != ErParse {
			t.Fatalf("err = %v, want 1064", err)
		}
	})
}

func TestMultiStatements(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	multi := newClient(t, inst, func(c *drv.Config) { c.MultiStatements = true })
	ctx := context.Background()
	for _, s := range splitSchema(bankSchema) {
		mustExec(t, multi, s)
	}
	res, err := multi.ExecContext(ctx, "INSERT INTO accounts (owner) VALUES ('a'); INSERT INTO accounts (owner) VALUES ('b'), ('c')")
	if err != nil {
		t.Fatal(err)
	}
	// go-sql-driver reports the last statement's count.
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("affected = %d, want 2", n)
	}
	rows, err := multi.QueryContext(ctx, "SELECT COUNT(*) FROM accounts; SELECT owner FROM accounts ORDER BY owner")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sets [][]string
	for {
		var set []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			set = append(set, v)
		}
		sets = append(sets, set)
		if !rows.NextResultSet() {
			break
		}
	}
	if fmt.Sprint(sets) != "[[3] [a b c]]" {
		t.Fatalf("result sets = %v", sets)
	}
	// An error stops the batch; earlier statements stay executed.
	_, err = multi.ExecContext(ctx, "INSERT INTO accounts (owner) VALUES ('d'); INSERT INTO accounts (owner) VALUES ('a'); INSERT INTO accounts (owner) VALUES ('e')")
	if code(err) != ErDupEntry {
		t.Fatalf("err = %v, want 1062", err)
	}
	if n := queryInt(t, multi, "SELECT COUNT(*) FROM accounts WHERE owner IN ('d', 'e')"); n != 1 {
		t.Fatalf("count = %d, want 1 (d only)", n)
	}
}

func TestConnectionLimitAndStats(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{MaxConnections: 2})
	db := newClient(t, inst, nil)
	ctx := context.Background()
	var conns []*sql.Conn
	for range 2 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	testwait.For(t, 5*time.Second, "two connections", func() bool { return inst.Stats().OpenConnections == 2 })
	_, err := db.Conn(ctx)
	if code(err) != ErTooManyConnection {
		t.Fatalf("err = %v, want 1040", err)
	}
	for _, c := range conns {
		_ = c.Raw(func(any) error { return fmt.Errorf("drop: %w", sql.ErrConnDone) })
		_ = c.Close()
	}
	db.SetMaxIdleConns(0)
	testwait.For(t, 5*time.Second, "connections closed", func() bool { return inst.Stats().OpenConnections == 0 })
}

func TestStartErrors(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	tests := []struct {
		name string
		cfg  Config
	}{
		{"non loopback", Config{Addr: "0.0.0.0:0"}},
		{"bad address", Config{Addr: "nonsense"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inst := NewInstance(st, tc.cfg)
			if err := inst.Start(); err == nil {
				_ = inst.Close()
				t.Fatal("Start succeeded")
			}
		})
	}
	t.Run("double start and start after close", func(t *testing.T) {
		inst := newInstance(t, st, Config{})
		if err := inst.Start(); err == nil {
			t.Fatal("second Start succeeded")
		}
		if err := inst.Close(); err != nil {
			t.Fatal(err)
		}
		if err := inst.Start(); err == nil {
			t.Fatal("Start after Close succeeded")
		}
	})
	t.Run("storage needs a file", func(t *testing.T) {
		if _, err := OpenStorage(":memory:"); err == nil {
			t.Fatal("in-memory storage accepted")
		}
	})
}

func TestStatementTimeout(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{StatementTimeout: 200 * time.Millisecond})
	db := newClient(t, inst, nil)
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	var n int64
	if err := db.QueryRowContext(ctx, endless).Scan(&n); code(err) != ErStatementTimeout {
		t.Fatalf("err = %v, want 3024", err)
	}
	if got := queryInt(t, db, "SELECT 41 + 1"); got != 42 {
		t.Fatalf("after timeout: %d", got)
	}
	// Values are bounded by max_allowed_packet.
	if err := db.QueryRowContext(ctx, "SELECT length(zeroblob(1000000000))").Scan(&n); code(err) == 0 {
		t.Fatalf("1 GB value: err = %v, want a MySQL error", err)
	}
}

// FuzzQuery sends arbitrary text as a query over the wire: every answer must
// be a MySQL result or a MySQL error, and the instance keeps serving.
func FuzzQuery(f *testing.F) {
	st := newStorage(f, StorageOptions{})
	inst := newInstance(f, st, Config{StatementTimeout: 500 * time.Millisecond, LockWaitTimeout: 500 * time.Millisecond})
	db := newClient(f, inst, func(c *drv.Config) { c.MultiStatements = true })
	db.SetMaxOpenConns(1)
	mustExec(f, db, "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(10), KEY kv (v))", "INSERT INTO t (v) VALUES ('a'), ('b')")
	for _, s := range []string{
		"SELECT * FROM t WHERE v = 'a' FOR UPDATE",
		"BEGIN; UPDATE t SET v = 'c' WHERE id = 1; ROLLBACK",
		"INSERT IGNORE INTO t (v) VALUES (_binary'\\0'), (\"x\\\"y\")",
		"SHOW FULL COLUMNS FROM t LIKE 'v%'",
		"select @@version_comment limit 1; SELECT DATABASE()",
		"SET autocommit = 0; INSERT INTO t (v) VALUES ('z'); COMMIT; SET autocommit = 1",
		"CREATE TABLE IF NOT EXISTS u (a INT(10) UNSIGNED, UNIQUE KEY (a)) ENGINE=InnoDB",
		"SELEC", "'", "SELECT 1 /*", "DESCRIBE nope", "USE x", "SHOW", "SET", "BEGIN; BEGIN; COMMIT",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, q); err != nil && code(err) == 0 {
			if strings.Contains(err.Error(), "too large") || strings.Contains(err.Error(), "busy buffer") {
				return
			}
			t.Fatalf("query %q: not a MySQL error: %v", q, err)
		}
		if err := db.PingContext(ctx); err != nil {
			t.Fatalf("after %q: ping: %v", q, err)
		}
		if p := inst.Stats().Panics; p != 0 {
			t.Fatalf("after %q: %d panics", q, p)
		}
	})
}

func TestIdleTransactionTimeout(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{IdleTxnTimeout: 200 * time.Millisecond, LockWaitTimeout: 5 * time.Second})
	db := newClient(t, inst, nil)
	ctx := context.Background()
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
	stalled, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, stalled, "INSERT INTO t VALUES (1)")
	// The stalled client never commits; another writer gets through once
	// the idle transaction is dropped.
	mustExec(t, db, "INSERT INTO t VALUES (2)")
	if err := stalled.Commit(); err == nil {
		t.Fatal("commit of a dropped transaction succeeded")
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM t"); n != 1 {
		t.Fatalf("count = %d, want 1 (only the second insert)", n)
	}
	if s := inst.Stats(); s.IdleTxnTimeouts != 1 {
		t.Fatalf("idle timeouts = %d, want 1", s.IdleTxnTimeouts)
	}
	// Idle in a snapshot (read only) transaction is fine.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExec(t, conn, "START TRANSACTION READ ONLY")
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // the idle period itself is what is tested
	mustExec(t, conn, "COMMIT")
}
