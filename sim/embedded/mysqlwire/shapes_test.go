package mysqlwire

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	drv "github.com/go-sql-driver/mysql"
)

func TestSkeleton(t *testing.T) {
	tests := []struct {
		name, q string
		args    []any
		ok      bool
	}{
		{"strings and integers", `UPDATE a SET b = b - 5 WHERE id = 'u-1'`, []any{int64(5), "u-1"}, true},
		{"escapes decoded", `INSERT INTO t VALUES ('it\'s', "a\\b", '')`, []any{"it's", `a\b`, ""}, true},
		{"multi statement", "START TRANSACTION;\nINSERT INTO t VALUES (1);\nCOMMIT", []any{int64(1)}, true},
		{"words with digits stay words", `SELECT c1 FROM t2 WHERE x3 = 4`, []any{int64(4)}, true},
		{"quoted identifiers", "INSERT INTO `t``1` VALUES (7)", []any{int64(7)}, true},
		{"placeholder", `SELECT * FROM t WHERE a = ?`, nil, false},
		{"comment", `SELECT 1 -- x`, nil, false},
		{"block comment", `SELECT /* x */ 1`, nil, false},
		{"hash comment", "SELECT 1 # x", nil, false},
		{"system variable", `SELECT @@autocommit`, nil, false},
		{"user variable", `SET @a = 1`, nil, false},
		{"hex literal", `SELECT X'0A'`, nil, false},
		{"charset introducer", `SELECT _binary'x'`, nil, false},
		{"decimal", `SELECT 1.5`, nil, false},
		{"exponent", `SELECT 1e3`, nil, false},
		{"leading dot", `SELECT .5`, nil, false},
		{"overflow", `SELECT 99999999999999999999`, nil, false},
		{"collate", `SELECT a FROM t WHERE b = 'x' COLLATE 'utf8mb4_bin'`, nil, false},
		{"interval", `SELECT NOW() + INTERVAL 1 DAY`, nil, false},
		{"order by position", `SELECT a FROM t ORDER BY 1`, nil, false},
		{"unterminated string", `SELECT 'abc`, nil, false},
		{"control character", "SELECT \x01", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, args, ok := skeleton(tc.q, "db")
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && !sameArgs(args, tc.args) {
				t.Fatalf("args %#v, want %#v", args, tc.args)
			}
		})
	}
	a, _, _ := skeleton(`UPDATE a SET b = 5 WHERE id = 'u-1'`, "db")
	b, _, _ := skeleton(`UPDATE a SET b = 70 WHERE id = 'm-22'`, "db")
	c, _, _ := skeleton(`UPDATE a SET b = 5 WHERE id = 'u-1'`, "other")
	if a != b || a == c {
		t.Fatalf("keys: same shape %q vs %q; other database %q", a, b, c)
	}
}

// shapeClient opens a multi-statement client with interpolated values, the
// way the payment service talks to the ledger.
func shapeClient(t *testing.T) (*Storage, *sql.DB) {
	t.Helper()
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{Database: "ledger"})
	db := newClient(t, inst, func(c *drv.Config) { c.MultiStatements = true })
	mustExec(t, db, "CREATE TABLE kv (k VARCHAR(64) PRIMARY KEY, n BIGINT NOT NULL, s TEXT NOT NULL)")
	return st, db
}

// TestShapeCacheKeepsEveryValue: queries that share a shape run from the
// cache with their own values, including values that need escaping.
func TestShapeCacheKeepsEveryValue(t *testing.T) {
	st, db := shapeClient(t)
	ctx := context.Background()
	const q = "START TRANSACTION;\nINSERT INTO kv (k, n, s) VALUES (?, ?, ?);\nUPDATE kv SET n = n - ? WHERE k = ?;\nCOMMIT"
	rows := []struct {
		k    string
		n, d int64
		s    string
	}{
		{"a", 10, 3, "plain"},
		{"b", -4, 0, `quote ' and backslash \ and "double"`},
		{"c", 1 << 62, 1, "日本語 ☃"},
		{"d", 0, -9, ""},
		{"e", 7, 7, "\n\t\x00 zero"},
	}
	for _, r := range rows {
		if _, err := db.ExecContext(ctx, q, r.k, r.n, r.s, r.d, r.k); err != nil {
			t.Fatalf("%s: %v", r.k, err)
		}
	}
	for _, r := range rows {
		var n int64
		var s string
		if err := db.QueryRowContext(ctx, "SELECT n, s FROM kv WHERE k = ?", r.k).Scan(&n, &s); err != nil {
			t.Fatalf("%s: %v", r.k, err)
		}
		if n != r.n-r.d || s != r.s {
			t.Errorf("%s: stored (%d, %q), want (%d, %q)", r.k, n, s, r.n-r.d, r.s)
		}
	}
	for _, q := range []string{
		"START TRANSACTION;\nINSERT INTO kv (k, n, s) VALUES ('x', 1, 'y');\nUPDATE kv SET n = n - 1 WHERE k = 'x';\nCOMMIT",
		"SELECT n, s FROM kv WHERE k = 'x'", // reads too: their values after FROM
	} {
		key, _, ok := skeleton(q, "ledger")
		if sh, found := st.shapes.get(key); !ok || !found || sh == nil {
			t.Fatalf("%q: the shape was not cached (ok %v, found %v)", q, ok, found)
		}
	}
}

// TestShapeCacheReadColumns: a literal in a result column names it, so such
// reads are rewritten each time and keep their own column names.
func TestShapeCacheReadColumns(t *testing.T) {
	_, db := shapeClient(t)
	mustExec(t, db, "INSERT INTO kv (k, n, s) VALUES ('a', 1, 'x')")
	for _, lit := range []string{"first", "second"} {
		rows, err := db.Query(fmt.Sprintf("SELECT '%s', n FROM kv WHERE k = 'a'", lit))
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		rows.Close()
		if err != nil || len(cols) != 2 || !strings.Contains(cols[0], lit) {
			t.Fatalf("columns %q (%v), want the first named for %s", cols, err, lit)
		}
	}
}

// TestShapeCacheRefusesWhatItCannotReplay: shapes whose rewrite depends on
// more than the literals are rewritten every time, and a cached shape whose
// table went away fails like the query itself would.
func TestShapeCacheRefusesWhatItCannotReplay(t *testing.T) {
	st, db := shapeClient(t)
	ctx := context.Background()
	tests := []struct {
		name string
		q    string
	}{
		{"session value", "INSERT INTO kv (k, n, s) VALUES ('c%d', CONNECTION_ID(), 'x')"},
		{"database name", "INSERT INTO kv (k, n, s) VALUES ('d%d', 1, DATABASE())"},
		{"literal in a result column", "SELECT 'c%d', n FROM kv"},
		{"literal in a subquery column", "SELECT (SELECT n FROM kv WHERE k = 'c%d') FROM kv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 2; i++ {
				if _, err := db.ExecContext(ctx, fmt.Sprintf(tc.q, i)); err != nil {
					t.Fatal(err)
				}
			}
			key, _, ok := skeleton(fmt.Sprintf(tc.q, 0), "ledger")
			if sh, _ := st.shapes.get(key); !ok || sh != nil {
				t.Fatalf("cached a shape it cannot replay: %+v", sh)
			}
		})
	}
	// Two connections: each row holds its own connection's id.
	var ids [2]int64
	for i := range ids {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, fmt.Sprintf("INSERT INTO kv (k, n, s) VALUES ('conn%d', CONNECTION_ID(), 'x')", i)); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
		var got int64
		if err := c.QueryRowContext(ctx, fmt.Sprintf("SELECT n FROM kv WHERE k = 'conn%d'", i)).Scan(&got); err != nil || got != ids[i] {
			t.Fatalf("conn %d: stored id %d, want %d (%v)", i, got, ids[i], err)
		}
	}
	// A cached shape over a dropped table fails as the query would.
	const ins = "INSERT INTO kv (k, n, s) VALUES (?, ?, ?)"
	if _, err := db.ExecContext(ctx, ins, "z1", 1, "a"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "DROP TABLE kv")
	if _, err := db.ExecContext(ctx, ins, "z2", 2, "b"); code(err) != 1146 {
		t.Fatalf("insert into a dropped table: %v, want error 1146", err)
	}
	mustExec(t, db, "CREATE TABLE kv (k VARCHAR(64) PRIMARY KEY, n BIGINT NOT NULL, s TEXT NOT NULL)")
	if _, err := db.ExecContext(ctx, ins, "z3", 3, "c"); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT n FROM kv WHERE k = 'z3'").Scan(&n); err != nil || n != 3 {
		t.Fatalf("after re-creating the table: n = %d (%v), want 3", n, err)
	}
}
