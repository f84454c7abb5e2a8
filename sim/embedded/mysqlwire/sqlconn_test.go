package mysqlwire

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	drv "github.com/go-sql-driver/mysql"
)

// conns opens n client connections (one session each) to inst.
func conns(t *testing.T, inst *Instance, n int) []*sql.Conn {
	t.Helper()
	db := newClient(t, inst, func(c *drv.Config) { c.MultiStatements = true })
	out := make([]*sql.Conn, n)
	for i := range out {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		out[i] = c
	}
	return out
}

// withTableT is a storage with table t (an AUTO_INCREMENT id and an int v),
// created on the first of n client connections to one instance over it.
func withTableT(t *testing.T, n int) (*Storage, []*sql.Conn) {
	t.Helper()
	st := newStorage(t, StorageOptions{})
	c := conns(t, newInstance(t, st, Config{}), n)
	mustExec(t, c[0], "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT, v INT)")
	return st, c
}

// lastID reads LAST_INSERT_ID() on c.
func lastID(t *testing.T, c *sql.Conn, q string) int64 {
	t.Helper()
	var id int64
	if err := c.QueryRowContext(context.Background(), q).Scan(&id); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return id
}

// TestLastInsertIDIsPerSession: write transactions share the storage's
// writer connection, yet LAST_INSERT_ID() stays the session's own, as in
// MySQL: after another session's insert, inside and outside a transaction,
// in one multi-statement query, and unchanged by an insert into a table
// without AUTO_INCREMENT (whose OK packet says 0).
func TestLastInsertIDIsPerSession(t *testing.T) {
	ctx := context.Background()
	inst := newInstance(t, newStorage(t, StorageOptions{}), Config{})
	c := conns(t, inst, 3)
	a, b := c[0], c[1] // DDL keeps a session on its own connection: c[2] runs it
	mustExec(t, c[2], "CREATE TABLE seq (id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT, v INT)")
	mustExec(t, c[2], "CREATE TABLE named (k VARCHAR(8) NOT NULL PRIMARY KEY)")

	if got := lastID(t, b, "SELECT LAST_INSERT_ID()"); got != 0 {
		t.Fatalf("a fresh session's LAST_INSERT_ID() = %d, want 0", got)
	}
	mustExec(t, a, "INSERT INTO seq (v) VALUES (1)") // id 1
	mustExec(t, b, "INSERT INTO seq (v) VALUES (2)") // id 2
	mustExec(t, b, "INSERT INTO seq (v) VALUES (3)") // id 3
	if got := lastID(t, a, "SELECT LAST_INSERT_ID()"); got != 1 {
		t.Errorf("a's LAST_INSERT_ID() after b's inserts = %d, want 1", got)
	}
	tx, err := a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE seq SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	var inTxn int64
	if err := tx.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&inTxn); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if inTxn != 1 {
		t.Errorf("a's LAST_INSERT_ID() in a write transaction = %d, want 1 (b's 3 was last on the writer connection)", inTxn)
	}
	if got := lastID(t, b, "INSERT INTO seq (v) VALUES (4); SELECT LAST_INSERT_ID()"); got != 4 {
		// go-sql-driver returns the first result set with rows.
		t.Errorf("b's INSERT; SELECT LAST_INSERT_ID() = %d, want 4", got)
	}
	res, err := b.ExecContext(ctx, "INSERT INTO named (k) VALUES ('x')")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := res.LastInsertId(); id != 0 {
		t.Errorf("insert into a table without AUTO_INCREMENT reported id %d, want 0", id)
	}
	if got := lastID(t, b, "SELECT LAST_INSERT_ID()"); got != 4 {
		t.Errorf("b's LAST_INSERT_ID() after an insert that generated none = %d, want 4", got)
	}
}

// TestWriteTransactionsShareTheWriterConnection: write transactions and
// autocommit writes of every session run on the storage's one writer
// connection, whose page cache no other commit drops; a session that made a
// temporary table (state on its own connection) keeps writing there, and
// sees it.
func TestWriteTransactionsShareTheWriterConnection(t *testing.T) {
	ctx := context.Background()
	st, c := withTableT(t, 3)
	for i, cn := range c[1:] {
		tx, err := cn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		mustExec(t, cn, "UPDATE t SET v = v + 1 WHERE id = 1")
	}
	const ins = "INSERT INTO t (v) VALUES (?)"
	if !st.acquireForTest(t) {
		return
	}
	w := st.writer
	if w == nil {
		st.release()
		t.Fatal("no write ran on the storage's writer connection")
	}
	prepared := 0
	for q := range w.stmts {
		if q == ins || q == "UPDATE t SET v = v + ? WHERE id = ?" {
			prepared++
		}
	}
	st.release()
	if prepared != 2 {
		t.Errorf("the writer connection holds %d of the two write statements prepared, want both: %v", prepared, keys(w.stmts))
	}

	tmp := c[2]
	mustExec(t, tmp, "CREATE TEMPORARY TABLE scratch (x INT)")
	mustExec(t, tmp, "INSERT INTO scratch VALUES (1)")
	tx, err := tmp.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO scratch VALUES (2)"); err != nil {
		t.Fatalf("a write transaction after CREATE TEMPORARY TABLE: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := tmp.QueryRowContext(ctx, "SELECT COUNT(*) FROM scratch").Scan(&n); err != nil || n != 2 {
		t.Errorf("the temporary table holds %d rows (%v), want 2", n, err)
	}
}

// acquireForTest takes the writer gate, so the test may look at the writer
// connection.
func (s *Storage) acquireForTest(t *testing.T) bool {
	t.Helper()
	if err := s.acquire(context.Background(), 5e9); err != nil {
		t.Errorf("writer gate: %v", err)
		return false
	}
	return true
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestLiteralQueriesPreparedOnce: a SELECT whose literals cannot become
// placeholders (a LIMIT, a constant column) is prepared once per connection
// by its exact text, and each run still reads the data as it is then; a
// PRAGMA is not kept prepared.
func TestLiteralQueriesPreparedOnce(t *testing.T) {
	ctx := context.Background()
	st, c := withTableT(t, 2)
	const pragma = "PRAGMA table_info(t)"
	tests := []struct {
		name  string
		query string
		want  []int64 // after each of three inserts
	}{
		{"limit", "SELECT v FROM t ORDER BY id DESC LIMIT 1", []int64{10, 11, 12}},
		{"limit and offset", "SELECT v FROM t ORDER BY id LIMIT 1 OFFSET 1", []int64{-1, 11, 11}},
		{"constant column", "SELECT 7 AS seven, COUNT(*) FROM t", []int64{1, 2, 3}},
	}
	for i := range 3 {
		if _, err := c[1].ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", 10+i); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			// In a write transaction the read runs on the writer connection,
			// whose prepared statements the test can see (c[0] made the
			// table: DDL keeps its session on its own connection).
			tx, err := c[1].BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, tx, "UPDATE t SET v = v WHERE id = 1")
			var got, seven int64 = -1, 0
			var err2 error
			if tc.name == "constant column" {
				err2 = tx.QueryRowContext(ctx, tc.query).Scan(&seven, &got)
				if err2 == nil && seven != 7 {
					t.Errorf("%s: constant column = %d, want 7", tc.name, seven)
				}
			} else {
				err2 = tx.QueryRowContext(ctx, tc.query).Scan(&got)
			}
			if err2 != nil && !errors.Is(err2, sql.ErrNoRows) {
				t.Fatalf("%s: %v", tc.name, err2)
			}
			if i == 0 && tc.name == "limit" {
				rows, err := tx.QueryContext(ctx, pragma)
				if err != nil {
					t.Fatalf("%s: %v", pragma, err)
				}
				_ = rows.Close()
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if got != tc.want[i] {
				t.Errorf("%s after insert %d: got %d, want %d", tc.name, i+1, got, tc.want[i])
			}
		}
	}
	if !st.acquireForTest(t) {
		return
	}
	defer st.release()
	if st.writer == nil {
		t.Fatal("no write ran on the storage's writer connection")
	}
	for _, tc := range tests {
		if _, ok := st.writer.stmts[tc.query]; !ok {
			t.Errorf("%s: %q is not prepared on the writer connection: %v", tc.name, tc.query, keys(st.writer.stmts))
		}
	}
	for q := range st.writer.stmts {
		if strings.HasPrefix(q, "PRAGMA") {
			t.Errorf("%q is kept prepared: some pragmas act when prepared", q)
		}
	}
}
