package mysqlwire

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	benchClients  = 16
	benchAccounts = 1000
	benchInitial  = 1_000_000
)

// runTransfers runs b.N transfers from benchClients goroutines and reports
// txn/s. do performs one transfer and returns how many times it retried.
func runTransfers(b *testing.B, do func(ctx context.Context, worker int, from, to, amount int64) (int, error)) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var next, retries atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchClients)
	b.ResetTimer()
	start := time.Now()
	for c := range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for next.Add(1) <= int64(b.N) {
				from := rng.Int64N(benchAccounts) + 1
				to := rng.Int64N(benchAccounts-1) + 1
				if to >= from {
					to++
				}
				r, err := do(ctx, c, from, to, rng.Int64N(100)+1)
				retries.Add(int64(r))
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "txn/s")
	b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/txn")
}

func checkConservation(b *testing.B, db *sql.DB) {
	b.Helper()
	if got := queryInt(b, db, "SELECT SUM(balance) FROM accounts"); got != benchAccounts*benchInitial {
		b.Fatalf("sum of balances = %d, want %d", got, benchAccounts*benchInitial)
	}
}

// BenchmarkTransfer16 measures the 3-statement transfer transaction over
// the wire: 16 go-sql-driver clients (interpolateParams=true), retrying on
// 1213.
func BenchmarkTransfer16(b *testing.B) {
	st := newStorage(b, StorageOptions{})
	inst := newInstance(b, st, Config{})
	db := newClient(b, inst, nil)
	db.SetMaxOpenConns(benchClients)
	db.SetMaxIdleConns(benchClients)
	newBank(b, db, benchAccounts, benchInitial)
	runTransfers(b, func(ctx context.Context, _ int, from, to, amount int64) (int, error) {
		_, r, err := transfer(ctx, db, from, to, amount, false)
		return r, err
	})
	checkConservation(b, db)
	if s := inst.Stats(); s.Errors != s.Deadlocks {
		b.Fatalf("unexpected errors: %+v", s)
	}
}

// BenchmarkTransfer16Direct is the same workload directly on SQLite
// (database/sql, one connection per worker, BEGIN IMMEDIATE), the baseline
// for the wire overhead.
func BenchmarkTransfer16Direct(b *testing.B) {
	st := newStorage(b, StorageOptions{})
	inst := newInstance(b, st, Config{})
	newBank(b, newClient(b, inst, nil), benchAccounts, benchInitial)
	db := st.DB()
	ctx := context.Background()
	conns := make([]*sql.Conn, benchClients)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	runTransfers(b, func(ctx context.Context, w int, from, to, amount int64) (int, error) {
		c := conns[w]
		retries := 0
		for {
			err := directTransfer(ctx, c, from, to, amount)
			if isBusy(err) {
				retries++
				continue
			}
			return retries, err
		}
	})
	checkConservation(b, db)
}

func directTransfer(ctx context.Context, c *sql.Conn, from, to, amount int64) (err error) {
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	res, err := c.ExecContext(ctx, "UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?", amount, from, amount)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if _, err := c.ExecContext(ctx, "UPDATE accounts SET balance = balance + ? WHERE id = ?", amount, to); err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, "INSERT INTO ledger (from_id, to_id, amount) VALUES (?, ?, ?)", from, to, amount); err != nil {
			return err
		}
	}
	_, err = c.ExecContext(ctx, "COMMIT")
	return err
}
