package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"paysim/sim"
)

// BenchmarkWriterEndpointTransfer16 measures three-statement transfer
// transactions from 16 clients through the cluster (writer) endpoint, the
// path the payment service uses, and checks that balances are conserved.
func BenchmarkWriterEndpointTransfer16(b *testing.B) {
	benchTransfers(b, func(s *Stack) string { return s.Endpoints().MySQL.Addr })
}

// BenchmarkInstanceDirectTransfer16 is the same load on the writer
// instance's own listener, bypassing its proxy, to price the proxy hop.
func BenchmarkInstanceDirectTransfer16(b *testing.B) {
	benchTransfers(b, func(s *Stack) string { return s.mysql.inst[s.mysql.nodes[0]].Addr() })
}

func benchTransfers(b *testing.B, addrOf func(*Stack) string) {
	topo := sim.DefaultTopology()
	s, err := Start(context.Background(), topo, Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := s.Endpoints().MySQL
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = m.User, m.Password, "tcp", addrOf(s), m.Database
	c.InterpolateParams = true
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	ctx := context.Background()
	const accounts, initial = 1000, 1_000_000
	for _, q := range []string{
		"CREATE TABLE acct (id INT PRIMARY KEY, balance BIGINT NOT NULL)",
		"CREATE TABLE entries (id INTEGER PRIMARY KEY AUTO_INCREMENT, src INT, dst INT, amount BIGINT)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < accounts; i++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO acct VALUES (?, ?)", i, initial); err != nil {
			b.Fatal(err)
		}
	}
	var seq, retries atomic.Int64
	transfer := func(n int64) error {
		src, dst := n%accounts, (n*7+1)%accounts
		if src == dst {
			dst = (dst + 1) % accounts
		}
		for {
			err := func() error {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				if _, err := tx.ExecContext(ctx, "UPDATE acct SET balance = balance - 1 WHERE id = ? AND balance >= 1", src); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "UPDATE acct SET balance = balance + 1 WHERE id = ?", dst); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "INSERT INTO entries (src, dst, amount) VALUES (?, ?, 1)", src, dst); err != nil {
					return err
				}
				return tx.Commit()
			}()
			if me, ok := err.(*mysql.MySQLError); ok && me.Number == 1213 {
				retries.Add(1)
				continue
			}
			return err
		}
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := seq.Add(1)
				if n > int64(b.N) {
					return
				}
				if err := transfer(n); err != nil {
					errs <- fmt.Errorf("transfer %d: %w", n, err)
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
	var total int64
	if err := db.QueryRowContext(ctx, "SELECT SUM(balance) FROM acct").Scan(&total); err != nil {
		b.Fatal(err)
	}
	if total != accounts*initial {
		b.Fatalf("balances not conserved: %d, want %d", total, accounts*initial)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "txn/s")
	b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/txn")
}

// BenchmarkColdStart measures bringing the whole 3-AZ embedded stack from
// nothing to ready (every node listening behind its proxy) and tearing it down.
func BenchmarkColdStart(b *testing.B) {
	var up time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		s, err := Start(context.Background(), sim.DefaultTopology(), Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		up += time.Since(start)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "ms-to-ready")
}
