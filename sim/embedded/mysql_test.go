package embedded

import (
	"context"
	"database/sql"
	"errors"
	"paysim/internal/testwait"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"paysim/sim"
)

func openMySQL(t *testing.T, s *Stack, addr string) *sql.DB {
	t.Helper()
	m := s.Endpoints().MySQL
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = m.User, m.Password, "tcp", addr, m.Database
	c.InterpolateParams = true
	c.Timeout, c.ReadTimeout, c.WriteTimeout = time.Second, time.Second, time.Second
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMySQLWriterAZLossFailsOver(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	db := openMySQL(t, s, s.Endpoints().MySQL.Addr)
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY, v INT)"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (?, ?)", i, i); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	writer := nodeOf(t, s, sim.ServiceMySQL, 0)
	if writer.Status().Role != sim.RolePrimary {
		t.Fatalf("first mysql node role %s, want primary", writer.Status().Role)
	}
	killed := time.Now()
	if err := writer.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	// Writes fail until the failover delay has passed, then succeed.
	failures := 0
	var recovered time.Duration
	testwait.For(t, 10*time.Second, "a write to succeed after failover", func() bool {
		_, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1000, 1)")
		if err != nil {
			failures++
			return false
		}
		recovered = time.Since(killed)
		return true
	})
	if failures == 0 {
		t.Fatal("no write failed while the writer was down")
	}
	if recovered < s.topo.MySQL.FailoverAfter {
		t.Fatalf("writes recovered after %v, before the %v failover delay", recovered, s.topo.MySQL.FailoverAfter)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 51 {
		t.Fatalf("rows after failover: %d (err %v), want 51", n, err)
	}
	if got := nodeOf(t, s, sim.ServiceMySQL, 1).Status().Role; got != sim.RolePrimary {
		t.Fatalf("promoted node role %s, want primary", got)
	}
	// The old writer comes back as a reader.
	if err := writer.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	old := openMySQL(t, s, writer.Status().Addr)
	_, err := old.ExecContext(ctx, "INSERT INTO t VALUES (2000, 1)")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1290 {
		t.Fatalf("write on the demoted instance: %v, want error 1290", err)
	}
	if err := old.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 51 {
		t.Fatalf("read on the demoted instance: %d (err %v)", n, err)
	}
}

func TestMySQLWriterRecoversBeforeFailover(t *testing.T) {
	s := newStack(t, func(tp *sim.Topology) { tp.MySQL.FailoverAfter = time.Hour })
	ctx := context.Background()
	writer := nodeOf(t, s, sim.ServiceMySQL, 0)
	if err := writer.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	db := openMySQL(t, s, s.Endpoints().MySQL.Addr)
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping through a paused writer succeeded")
	}
	if err := writer.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "writer answering again", func() bool { return db.PingContext(ctx) == nil })
	if got := writer.Status().Role; got != sim.RolePrimary {
		t.Fatalf("writer role %s after a short pause, want primary", got)
	}
}
