// Package check holds the invariant checkers: each reads the client's
// history and the final state of the stack and says whether money was
// created, lost or moved twice.
package check

import (
	"context"
	"database/sql"
	"fmt"
	"unique"
)

// Account is one accounts row.
type Account struct {
	ID      string
	Kind    string
	Balance int64
	Points  int64
	Version int64
}

// Payment is one payments row.
type Payment struct {
	ID       string
	Key      string
	Kind     string
	From     string
	To       string
	Amount   int64
	RefundOf string
	Refunded int64
	Status   string
}

// Ledger is the final state of the ledger database.
type Ledger struct {
	Accounts map[string]Account
	Payments *Payments
	// EntrySum and EntryCount aggregate ledger_entries per payment.
	EntrySum   map[string]int64
	EntryCount map[string]int
	// AccountEntrySum aggregates ledger_entries per account (incl. the
	// external funding account).
	AccountEntrySum map[string]int64
	// BonusGrants maps payment id to points granted (summed, should a
	// payment ever hold more than one grant row).
	BonusGrants map[string]int64
	// GrantAccounts maps payment id to the account its grant credited.
	// When nil or missing an id, checkers assume the payment's payer.
	GrantAccounts map[string]string
	// Outbox is the number of rows not yet relayed.
	Outbox int
}

// LoadLedger reads the ledger's final state through a SQL client.
func LoadLedger(ctx context.Context, db *sql.DB) (Ledger, error) {
	return loadLedger(ctx, db, pageRows)
}

// loadLedger is LoadLedger reading at most page rows per query.
func loadLedger(ctx context.Context, db *sql.DB, page int) (Ledger, error) {
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM payments").Scan(&rows); err != nil {
		return Ledger{}, fmt.Errorf("load ledger: payments: %w", err)
	}
	l := Ledger{
		Accounts: map[string]Account{}, Payments: NewPayments(rows),
		EntrySum: map[string]int64{}, EntryCount: map[string]int{}, AccountEntrySum: map[string]int64{},
		BonusGrants: map[string]int64{}, GrantAccounts: map[string]string{},
	}
	err := query(ctx, db, "SELECT id, kind, balance, points, version FROM accounts", func(r *sql.Rows) error {
		var a Account
		if err := r.Scan(&a.ID, &a.Kind, &a.Balance, &a.Points, &a.Version); err != nil {
			return err
		}
		l.Accounts[a.ID] = a
		return nil
	})
	if err != nil {
		return l, err
	}
	err = queryPages(ctx, db, page, "SELECT id, idem_key, kind, from_account, to_account, amount, refund_of, refunded, status FROM payments WHERE id > ? ORDER BY id LIMIT ?", func(r *sql.Rows) (string, error) {
		var p Payment
		if err := r.Scan(&p.ID, &p.Key, &p.Kind, &p.From, &p.To, &p.Amount, &p.RefundOf, &p.Refunded, &p.Status); err != nil {
			return "", err
		}
		l.Payments.Put(p)
		return p.ID, nil
	})
	if err != nil {
		return l, err
	}
	// Entries are summed a range of entry ids at a time; a payment whose
	// entries straddle two ranges adds up across them.
	var lo, hi sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MIN(id), MAX(id) FROM ledger_entries").Scan(&lo, &hi); err != nil {
		return l, fmt.Errorf("load ledger: entries: %w", err)
	}
	for from := lo.Int64 - 1; lo.Valid && from < hi.Int64; from += int64(page) {
		err = query(ctx, db, "SELECT payment_id, SUM(amount), COUNT(*) FROM ledger_entries WHERE id > ? AND id <= ? GROUP BY payment_id", func(r *sql.Rows) error {
			var id string
			var sum int64
			var n int
			if err := r.Scan(&id, &sum, &n); err != nil {
				return err
			}
			l.EntrySum[id] += sum
			l.EntryCount[id] += n
			return nil
		}, from, from+int64(page))
		if err != nil {
			return l, err
		}
	}
	err = query(ctx, db, "SELECT account_id, SUM(amount) FROM ledger_entries GROUP BY account_id", func(r *sql.Rows) error {
		var id string
		var sum int64
		if err := r.Scan(&id, &sum); err != nil {
			return err
		}
		l.AccountEntrySum[id] = sum
		return nil
	})
	if err != nil {
		return l, err
	}
	err = queryPages(ctx, db, page, "SELECT payment_id, account_id, points FROM bonus_grants WHERE payment_id > ? ORDER BY payment_id LIMIT ?", func(r *sql.Rows) (string, error) {
		var id, acct string
		var pts int64
		if err := r.Scan(&id, &acct, &pts); err != nil {
			return "", err
		}
		l.BonusGrants[id] += pts
		l.GrantAccounts[id] = intern(acct)
		return id, nil
	})
	if err != nil {
		return l, err
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox").Scan(&l.Outbox); err != nil {
		return l, fmt.Errorf("load ledger: outbox: %w", err)
	}
	return l, nil
}

// intern shares one copy of a string that repeats across a long run's
// rows (kinds, statuses, account ids): half a million payments otherwise
// hold half a million copies of each.
func intern(s string) string { return unique.Make(s).Value() }

// pageRows bounds the rows one query returns: the embedded MySQL-wire
// server holds a whole result set in memory before sending it, and the
// 600,000 payments of a ten-minute run took about 130 MB there at once.
const pageRows = 20_000

// queryPages runs q, which takes a key to start after and a row limit, page
// by page in key order; row scans a row and returns its key.
func queryPages(ctx context.Context, db *sql.DB, page int, q string, row func(*sql.Rows) (string, error)) error {
	after := ""
	for {
		n := 0
		err := query(ctx, db, q, func(r *sql.Rows) error {
			key, err := row(r)
			after = key
			n++
			return err
		}, after, page)
		if err != nil || n < page {
			return err
		}
	}
}

func query(ctx context.Context, db *sql.DB, q string, row func(*sql.Rows) error, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("load ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return fmt.Errorf("load ledger: scan: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load ledger: %w", err)
	}
	return nil
}
