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
	err = query(ctx, db, "SELECT id, idem_key, kind, from_account, to_account, amount, refund_of, refunded, status FROM payments", func(r *sql.Rows) error {
		var p Payment
		if err := r.Scan(&p.ID, &p.Key, &p.Kind, &p.From, &p.To, &p.Amount, &p.RefundOf, &p.Refunded, &p.Status); err != nil {
			return err
		}
		l.Payments.Put(p)
		return nil
	})
	if err != nil {
		return l, err
	}
	err = query(ctx, db, "SELECT payment_id, SUM(amount), COUNT(*) FROM ledger_entries GROUP BY payment_id", func(r *sql.Rows) error {
		var id string
		var sum int64
		var n int
		if err := r.Scan(&id, &sum, &n); err != nil {
			return err
		}
		l.EntrySum[id], l.EntryCount[id] = sum, n
		return nil
	})
	if err != nil {
		return l, err
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
	err = query(ctx, db, "SELECT payment_id, account_id, points FROM bonus_grants", func(r *sql.Rows) error {
		var id, acct string
		var pts int64
		if err := r.Scan(&id, &acct, &pts); err != nil {
			return err
		}
		l.BonusGrants[id] += pts
		l.GrantAccounts[id] = intern(acct)
		return nil
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

func query(ctx context.Context, db *sql.DB, q string, row func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q)
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
