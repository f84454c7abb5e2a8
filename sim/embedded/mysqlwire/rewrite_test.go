package mysqlwire

import (
	"strings"
	"testing"
)

func testEnv() *rewriteEnv {
	return &rewriteEnv{
		database: "paysim",
		user:     "root",
		version:  ServerVersion,
		connID:   7,
		sysVar: func(name string) any {
			switch name {
			case "version_comment":
				return "paysim"
			case "max_allowed_packet":
				return int64(67108864)
			}
			return nil
		},
	}
}

func rewriteOne(t *testing.T, q string) statement {
	t.Helper()
	stmts, err := rewrite(q, testEnv())
	if err != nil {
		t.Fatalf("rewrite(%q): %v", q, err)
	}
	if len(stmts) != 1 {
		t.Fatalf("rewrite(%q): %d statements, want 1", q, len(stmts))
	}
	return stmts[0]
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  string
		extra []string
		kind  stmtKind
		lock  bool
	}{
		{"plain select", "SELECT id, balance FROM accounts WHERE id = ?", "SELECT id, balance FROM accounts WHERE id = ?", nil, kindQuery, false},
		{"for update", "SELECT balance FROM accounts WHERE id=1 FOR UPDATE", "SELECT balance FROM accounts WHERE id=1", nil, kindQuery, true},
		{"for update nowait", "select * from t for update of t nowait", "select * from t", nil, kindQuery, true},
		{"lock in share mode", "SELECT 1 FROM t LOCK IN SHARE MODE", "SELECT 1 FROM t", nil, kindQuery, true},
		{"insert ignore", "INSERT IGNORE INTO t (a) VALUES (1)", "INSERT OR IGNORE INTO t (a) VALUES (1)", nil, kindDML, false},
		{"backslash escapes", `INSERT INTO t VALUES ('O\'Brien', "say \"hi\"", 'a\\b', 'x''y')`,
			`INSERT INTO t VALUES ('O''Brien', 'say "hi"', 'a\b', 'x''y')`, nil, kindDML, false},
		{"binary introducer", "INSERT INTO t VALUES (_binary'abc')", "INSERT INTO t VALUES ('abc')", nil, kindDML, false},
		{"binary non utf8", "INSERT INTO t VALUES (_binary'\xff\x00')", "INSERT INTO t VALUES (X'ff00')", nil, kindDML, false},
		{"nul in string", `SELECT 'a\0b'`, "SELECT (CAST(X'610062' AS TEXT))", nil, kindQuery, false},
		{"now", "INSERT INTO t (c) VALUES (NOW())", "INSERT INTO t (c) VALUES ( CURRENT_TIMESTAMP)", nil, kindDML, false},
		{"now fsp", "SELECT NOW(6)", "SELECT " + timestampFSP + " AS `NOW(6)`", nil, kindQuery, false},
		{"version comment", "select @@version_comment limit 1", "select 'paysim' AS `@@version_comment` limit 1", nil, kindQuery, false},
		{"database", "SELECT DATABASE()", "SELECT 'paysim' AS `DATABASE()`", nil, kindQuery, false},
		{"sysvar in expression", "SELECT @@max_allowed_packet + 1", "SELECT 67108864 + 1", nil, kindQuery, false},
		{"unknown sysvar", "SELECT @@session.nope", "SELECT NULL AS `@@session.nope`", nil, kindQuery, false},
		{"db qualified", "SELECT * FROM paysim.accounts JOIN `paysim`.`ledger` l", "SELECT * FROM accounts JOIN `ledger` l", nil, kindQuery, false},
		{"operators", "SELECT a || b && c <=> d, 7 DIV 2", "SELECT a OR b AND c IS d, 7 / 2", nil, kindQuery, false},
		{"if greatest", "SELECT IF(a>1, GREATEST(a,b), LEAST(a,b))", "SELECT iif(a>1, max(a,b), min(a,b))", nil, kindQuery, false},
		{"from dual", "SELECT 1 FROM DUAL", "SELECT 1", nil, kindQuery, false},
		{"on duplicate key", "INSERT INTO t (k, v) VALUES (1, 2) ON DUPLICATE KEY UPDATE v = VALUES(v)",
			"INSERT INTO t (k, v) VALUES (1, 2) ON CONFLICT DO UPDATE SET v = excluded.v", nil, kindDML, false},
		{"comments", "SELECT /* hi */ 1 -- trailing\n # hash\n", "SELECT 1", nil, kindQuery, false},
		{"collate", "SELECT * FROM t WHERE a = 'x' COLLATE utf8mb4_bin", "SELECT * FROM t WHERE a = 'x'", nil, kindQuery, false},
		{"truncate", "TRUNCATE TABLE ledger", "DELETE FROM ledger", nil, kindDDL, false},
		{"auto increment", "CREATE TABLE t (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(64) NOT NULL)", nil, kindDDL, false},
		{"auto increment table pk", "CREATE TABLE IF NOT EXISTS `ledger` (\n `id` bigint unsigned NOT NULL AUTO_INCREMENT,\n `amount` bigint NOT NULL COMMENT 'yen',\n `created_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),\n `kind` enum('a','b') NOT NULL,\n PRIMARY KEY (`id`),\n UNIQUE KEY `uk_amount` (`amount`),\n KEY `idx_created` (`created_at`)\n) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT='x'",
			"CREATE TABLE IF NOT EXISTS `ledger` ( `id` INTEGER PRIMARY KEY AUTOINCREMENT, `amount` bigint NOT NULL, `created_at` datetime(6) NOT NULL DEFAULT " + timestampFSP + ", `kind` TEXT NOT NULL, UNIQUE (`amount`) )",
			[]string{"CREATE INDEX IF NOT EXISTS `ledger_idx_created` ON `ledger` (`created_at`)"}, kindDDL, false},
		{"clustered varchar pk", "CREATE TABLE accounts (id VARCHAR(32) NOT NULL PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
			"CREATE TABLE accounts (id VARCHAR(32) NOT NULL PRIMARY KEY, balance BIGINT NOT NULL) WITHOUT ROWID", nil, kindDDL, false},
		{"clustered table pk", "CREATE TABLE g (a VARCHAR(8), b INT, v INT, PRIMARY KEY (a, b))",
			"CREATE TABLE g (a VARCHAR(8), b INT, v INT, PRIMARY KEY (a, b)) WITHOUT ROWID", nil, kindDDL, false},
		{"integer pk is the rowid", "CREATE TABLE r (id INTEGER PRIMARY KEY, v INT)",
			"CREATE TABLE r (id INTEGER PRIMARY KEY, v INT)", nil, kindDDL, false},
		{"no pk keeps the rowid", "CREATE TABLE h (a INT, UNIQUE KEY u (a))",
			"CREATE TABLE h (a INT, UNIQUE (a))", nil, kindDDL, false},
		{"int unsigned", "CREATE TABLE t (a INT(10) UNSIGNED NOT NULL, b VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)",
			"CREATE TABLE t (a INT(10) NOT NULL, b VARCHAR(10))", nil, kindDDL, false},
		{"create index", "CREATE UNIQUE INDEX ix ON t (a(10), b DESC) USING BTREE", "CREATE UNIQUE INDEX ix ON t (a, b DESC)", nil, kindDDL, false},
		{"drop index on", "DROP INDEX ix ON t", "DROP INDEX ix", nil, kindDDL, false},
		{"drop tables", "DROP TABLE IF EXISTS a, b", "DROP TABLE IF EXISTS a", []string{"DROP TABLE IF EXISTS b"}, kindDDL, false},
		{"alter add index", "ALTER TABLE t ADD INDEX ix (a)", "CREATE INDEX IF NOT EXISTS `t_ix` ON t (a)", nil, kindDDL, false},
		{"alter add column after", "ALTER TABLE t ADD COLUMN c INT UNSIGNED NOT NULL DEFAULT 0 AFTER b", "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 0", nil, kindDDL, false},
		{"with insert", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", nil, kindDML, false},
		{"pragma read", "PRAGMA table_info(t)", "PRAGMA table_info(t)", nil, kindQuery, false},
		{"savepoint", "SAVEPOINT sp1", "SAVEPOINT sp1", nil, kindSavepoint, false},
		{"rollback to", "ROLLBACK TO SAVEPOINT sp1", "ROLLBACK TO SAVEPOINT sp1", nil, kindSavepoint, false},
		{"dollar identifier", "SELECT $x FROM t", "SELECT `$x` FROM t", nil, kindQuery, false},
		{"bit literal", "SELECT b'101'", "SELECT 5", nil, kindQuery, false},
		{"uservar", "SELECT @x", "SELECT NULL", nil, kindQuery, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := rewriteOne(t, tc.in)
			if st.sql != tc.want {
				t.Errorf("sql:\n got %s\nwant %s", st.sql, tc.want)
			}
			if strings.Join(st.extra, "|") != strings.Join(tc.extra, "|") {
				t.Errorf("extra:\n got %q\nwant %q", st.extra, tc.extra)
			}
			if st.kind != tc.kind {
				t.Errorf("kind = %d, want %d", st.kind, tc.kind)
			}
			if st.locking != tc.lock {
				t.Errorf("locking = %v, want %v", st.locking, tc.lock)
			}
		})
	}
}

func TestRewriteKinds(t *testing.T) {
	tests := []struct {
		in   string
		kind stmtKind
		ro   bool
	}{
		{"BEGIN", kindBegin, false},
		{"START TRANSACTION", kindBegin, false},
		{"START TRANSACTION READ ONLY", kindBegin, true},
		{"begin work", kindBegin, false},
		{"COMMIT", kindCommit, false},
		{"commit work", kindCommit, false},
		{"ROLLBACK", kindRollback, false},
		{"SET NAMES utf8mb4", kindSet, false},
		{"SET autocommit=0", kindSet, false},
		{"SHOW TABLES", kindShow, false},
		{"DESCRIBE accounts", kindShow, false},
		{"EXPLAIN SELECT 1", kindQuery, false},
		{"USE paysim", kindUse, false},
		{"LOCK TABLES t WRITE", kindNoop, false},
		{"UNLOCK TABLES", kindNoop, false},
		{"CREATE DATABASE IF NOT EXISTS paysim", kindNoop, false},
		{"DROP DATABASE paysim", kindUnsupported, false},
		{"ATTACH DATABASE 'x' AS y", kindUnsupported, false},
		{"PRAGMA journal_mode=DELETE", kindUnsupported, false},
		{"PRAGMA journal_mode(DELETE)", kindUnsupported, false},
		{"PRAGMA journal_mode", kindQuery, false},
		{"PRAGMA main.index_list(t)", kindQuery, false},
		{"VACUUM INTO '/tmp/copy.db'", kindUnsupported, false},
		{"VACUUM", kindWriteOther, false},
		{"/*!40101 SET NAMES utf8 */", kindEmpty, false},
		{"UPDATE t SET a=1", kindDML, false},
		{"DELETE FROM t", kindDML, false},
		{"REPLACE INTO t VALUES (1)", kindDML, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			stmts, err := rewrite(tc.in, testEnv())
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == kindEmpty {
				if len(stmts) != 0 {
					t.Fatalf("got %d statements, want none", len(stmts))
				}
				return
			}
			if len(stmts) != 1 || stmts[0].kind != tc.kind || stmts[0].txnRO != tc.ro {
				t.Fatalf("got %+v, want kind %d ro %v", stmts, tc.kind, tc.ro)
			}
		})
	}
}

func TestRewriteMultiAndParams(t *testing.T) {
	stmts, err := rewrite("INSERT INTO t VALUES (?, ';'); SELECT ?;;", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 {
		t.Fatalf("got %d statements, want 2", len(stmts))
	}
	if stmts[0].params != 1 || stmts[1].params != 1 {
		t.Fatalf("params = %d, %d, want 1, 1", stmts[0].params, stmts[1].params)
	}
	if !stmts[0].insert {
		t.Fatal("INSERT not flagged as insert")
	}
}

func TestRewriteErrors(t *testing.T) {
	for _, q := range []string{
		"SELECT 'unterminated",
		"SELECT \"unterminated",
		"SELECT `unterminated",
		"SELECT 1 /* open comment",
		"SELECT 1\x00; DROP TABLE t",
		"SELECT 'a\\",
		"START NOW",
	} {
		t.Run(q, func(t *testing.T) {
			_, err := rewrite(q, testEnv())
			if err == nil {
				t.Fatal("want an error")
			}
			if me := toMySQL(err, "paysim"); me.Code != ErParse {
				t.Fatalf("code = %d, want %d", me.Code, ErParse)
			}
		})
	}
}

func TestLikeMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"%", "anything", true},
		{"max%", "max_allowed_packet", true},
		{"%packet", "max_allowed_packet", true},
		{"auto_commit", "autoXcommit", true},
		{"auto\\_commit", "autoXcommit", false},
		{"auto\\_commit", "auto_commit", true},
		{"a%b%c", "aXXbYYc", true},
		{"a%b%c", "aXXbYY", false},
		{"VERSION", "version", true},
		{"", "", true},
		{"", "x", false},
	}
	for _, tc := range tests {
		if got := likeMatch(tc.pat, tc.s); got != tc.want {
			t.Errorf("likeMatch(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
}

// FuzzRewrite checks the rewriter never panics and never emits a NUL byte
// (SQLite would stop reading the statement there).
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		"SELECT 1",
		"select @@version_comment limit 1",
		"CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, KEY k (a(3)), UNIQUE KEY u (b)) ENGINE=InnoDB",
		"INSERT IGNORE INTO t VALUES (_binary'\\0\\'', \"x\") ON DUPLICATE KEY UPDATE a=VALUES(a)",
		"SELECT * FROM t WHERE a = ? FOR UPDATE; COMMIT",
		"DROP TABLE a, b; ALTER TABLE t ADD UNIQUE KEY (c)",
		"SELECT NOW(6), CURRENT_TIMESTAMP, IF(1,2,3) FROM DUAL",
		"/*! comment */ -- x\n#y\n SET autocommit=0",
		"CREATE INDEX i ON t (a(1) DESC) USING HASH",
		"SHOW FULL COLUMNS FROM t LIKE 'a%'",
		"'\\", "`", "((((", "))))", "FOR UPDATE OF", "VALUES(", "@@", "@`x", "0x", "b'2'", "_binary",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		stmts, err := rewrite(q, testEnv())
		if err != nil {
			return
		}
		for _, st := range stmts {
			if strings.IndexByte(st.sql, 0) >= 0 {
				t.Fatalf("NUL in rewritten SQL %q", st.sql)
			}
			for _, x := range st.extra {
				if strings.IndexByte(x, 0) >= 0 {
					t.Fatalf("NUL in rewritten SQL %q", x)
				}
			}
		}
	})
}

func TestParametrize(t *testing.T) {
	tests := []struct {
		name string
		q    string
		psql string
		args []any
	}{
		{"insert values", "INSERT INTO t (a, b) VALUES ('x''y', 42)", "INSERT INTO t (a, b) VALUES (?, ?)", []any{"x'y", int64(42)}},
		{"update where", "UPDATE accounts SET balance = balance - 500 WHERE id = 'u-1'", "UPDATE accounts SET balance = balance - ? WHERE id = ?", []any{int64(500), "u-1"}},
		{"decimal stays literal", "UPDATE t SET r = 1.5 WHERE id = 3", "UPDATE t SET r = 1.5 WHERE id = ?", []any{int64(3)}},
		{"order by position", "DELETE FROM t WHERE a = 'x' ORDER BY 1 LIMIT 2", "", nil},
		{"cast length", "UPDATE t SET a = CAST(b AS CHAR(10)) WHERE id = 1", "", nil},
		{"no literals", "DELETE FROM t", "", nil},
		{"select is not parametrized", "SELECT 'a', 1", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := rewriteOne(t, tc.q)
			if st.psql != tc.psql {
				t.Fatalf("psql %q, want %q", st.psql, tc.psql)
			}
			if len(st.pargs) != len(tc.args) {
				t.Fatalf("args %#v, want %#v", st.pargs, tc.args)
			}
			for i := range tc.args {
				if st.pargs[i] != tc.args[i] {
					t.Fatalf("arg %d = %#v, want %#v", i, st.pargs[i], tc.args[i])
				}
			}
		})
	}
}
