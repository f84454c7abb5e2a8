package mysqlwire

import (
	"context"
	"testing"
	"time"

	"paysim/internal/testwait"
)

// endless is a query that runs until it is interrupted.
const endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"

func TestSQLiteHandle(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	c, err := newSQLConn(context.Background(), st.DB())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close(false)
	if c.handle == 0 {
		t.Fatal("no sqlite3 handle on a modernc.org/sqlite connection: its statements cannot be interrupted cheaply")
	}
	type noDB struct{ x int }
	type wrongDB struct{ db string }
	for _, tc := range []struct {
		name string
		dc   any
	}{
		{"nil", nil},
		{"not a pointer", 42},
		{"nil pointer", (*noDB)(nil)},
		{"no db field", &noDB{}},
		{"db not a uintptr", &wrongDB{db: "x"}},
	} {
		if h := sqliteHandle(tc.dc); h != 0 {
			t.Errorf("%s: handle %#x, want 0", tc.name, h)
		}
	}
}

// TestKillInterruptsStatement: a statement that would never end stops when
// its instance is killed, and Kill returns.
func TestKillInterruptsStatement(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	db := newClient(t, inst, nil)
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 0)")
	for _, tc := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"read on the session's connection", func(ctx context.Context) error {
			var n int64
			return db.QueryRowContext(ctx, endless).Scan(&n)
		}},
		{"write on the writer's connection", func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "UPDATE t SET v = ("+endless+") WHERE id = 1")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !inst.Running() {
				if err := inst.Start(); err != nil {
					t.Fatal(err)
				}
			}
			before := inst.Stats().Queries
			errc := make(chan error, 1)
			go func() { errc <- tc.run(context.Background()) }()
			testwait.For(t, 5*time.Second, "the statement running", func() bool { return inst.Stats().Queries > before })
			killed := make(chan struct{})
			go func() { inst.Kill(); close(killed) }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			select {
			case <-killed:
			case <-ctx.Done():
				t.Fatal("Kill did not return: the running statement was not interrupted")
			}
			select {
			case err := <-errc:
				if err == nil {
					t.Fatal("the statement succeeded on a killed instance")
				}
			case <-ctx.Done():
				t.Fatal("the client's statement did not end")
			}
		})
	}
	if got := queryIntOn(t, st, "SELECT v FROM t WHERE id = 1"); got != 0 {
		t.Fatalf("v = %d after the interrupted update, want 0", got)
	}
}

// TestStatementTimeoutOnWriter: the statement timeout also interrupts a
// statement running on the writer's connection, and the writer gate is free
// afterwards.
func TestStatementTimeoutOnWriter(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{StatementTimeout: 200 * time.Millisecond})
	db := newClient(t, inst, nil)
	mustExec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 0)")
	_, err := db.ExecContext(context.Background(), "UPDATE t SET v = ("+endless+") WHERE id = 1")
	if code(err) != ErStatementTimeout {
		t.Fatalf("err = %v, want 3024", err)
	}
	mustExec(t, db, "UPDATE t SET v = 7 WHERE id = 1")
	if got := queryInt(t, db, "SELECT v FROM t WHERE id = 1"); got != 7 {
		t.Fatalf("v = %d, want 7", got)
	}
}

// queryIntOn reads one integer straight from the storage.
func queryIntOn(t *testing.T, st *Storage, q string) int64 {
	t.Helper()
	var n int64
	if err := st.DB().QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
