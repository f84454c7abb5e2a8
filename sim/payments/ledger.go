package payments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/pingcap/failpoint"
)

// Schema is the ledger's DDL, portable across MySQL 8, TiDB and the embedded
// SQLite-backed wire server.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS accounts (
		id VARCHAR(32) NOT NULL PRIMARY KEY,
		kind VARCHAR(16) NOT NULL,
		balance BIGINT NOT NULL,
		points BIGINT NOT NULL DEFAULT 0,
		version BIGINT NOT NULL DEFAULT 0,
		CONSTRAINT balance_nonnegative CHECK (balance >= 0)
	)`,
	// A payment's id is derived from its idempotency key (PaymentID), so
	// the primary key already holds one row per key: a UNIQUE index on
	// idem_key only doubled each insert's index work (a sixth of the pages
	// a payment's commit writes in the embedded ledger).
	`CREATE TABLE IF NOT EXISTS payments (
		id VARCHAR(64) NOT NULL PRIMARY KEY,
		idem_key VARCHAR(128) NOT NULL,
		kind VARCHAR(16) NOT NULL,
		from_account VARCHAR(32) NOT NULL,
		to_account VARCHAR(32) NOT NULL,
		amount BIGINT NOT NULL,
		refund_of VARCHAR(64) NOT NULL DEFAULT '',
		refunded BIGINT NOT NULL DEFAULT 0,
		status VARCHAR(16) NOT NULL,
		http_status INT NOT NULL DEFAULT 201,
		error VARCHAR(255) NOT NULL DEFAULT '',
		created_ns BIGINT NOT NULL,
		CONSTRAINT refund_within_amount CHECK (refunded <= amount)
	)`,
	`CREATE TABLE IF NOT EXISTS ledger_entries (
		id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
		payment_id VARCHAR(64) NOT NULL,
		account_id VARCHAR(32) NOT NULL,
		amount BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS outbox (
		id BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT,
		payment_id VARCHAR(64) NOT NULL,
		payload TEXT NOT NULL,
		created_ns BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS bonus_grants (
		payment_id VARCHAR(64) NOT NULL PRIMARY KEY,
		account_id VARCHAR(32) NOT NULL,
		points BIGINT NOT NULL
	)`,
	`CREATE INDEX bonus_grants_account ON bonus_grants (account_id)`,
	`CREATE TABLE IF NOT EXISTS leases (
		name VARCHAR(32) NOT NULL PRIMARY KEY,
		holder VARCHAR(64) NOT NULL,
		expires_ns BIGINT NOT NULL
	)`,
}

// Account kinds.
const (
	KindUser     = "user"
	KindMerchant = "merchant"
)

// FundingAccount is the ledger's counter-account for money entering the
// system (opening balances and top-ups). It is not a row in accounts.
const FundingAccount = "ext-funding"

// Operation kinds stored in payments.kind.
const (
	OpOpening  = "opening"
	OpTopup    = "topup"
	OpPayment  = "payment"
	OpTransfer = "transfer"
	OpRefund   = "refund"
)

// Payment statuses.
const (
	StatusCommitted = "committed"
	StatusRejected  = "rejected"
)

// Accounts sizes the seeded population.
type Accounts struct {
	Users          int
	Merchants      int
	InitialBalance int64
}

// UserID names the i-th seeded user.
func UserID(i int) string { return fmt.Sprintf("u-%d", i) }

// MerchantID names the i-th seeded merchant.
func MerchantID(i int) string { return fmt.Sprintf("m-%d", i) }

// Migrate creates the schema. With the refund-exceeds bug on, payments have
// no refund limit; with overdraft, accounts have no balance_nonnegative
// CHECK (the debit's only guard).
func Migrate(ctx context.Context, db *sql.DB, fps *failpoint.Failpoints) error {
	for _, stmt := range schema {
		if fps != nil && strings.Contains(stmt, "CONSTRAINT balance_nonnegative") {
			if v, err := fps.Eval(bugPath(BugOverdraft)); err == nil && v != nil {
				stmt = strings.Replace(stmt, ",\n\t\tCONSTRAINT balance_nonnegative CHECK (balance >= 0)", "", 1)
			}
		}
		if fps != nil && strings.Contains(stmt, "CONSTRAINT refund_within_amount") {
			if v, err := fps.Eval(bugPath(BugRefundExceeds)); err == nil && v != nil {
				stmt = strings.Replace(stmt, ",\n\t\tCONSTRAINT refund_within_amount CHECK (refunded <= amount)", "", 1)
			}
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return nil
}

// Seed inserts the users and merchants with their opening balances, recorded
// as one balanced "opening" transaction against FundingAccount.
func Seed(ctx context.Context, db *sql.DB, a Accounts) error {
	if a.Users < 2 || a.Merchants < 1 || a.InitialBalance < 0 {
		return fmt.Errorf("seed: need >= 2 users, >= 1 merchant and a non-negative balance, got %+v", a)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed: begin: %w", err)
	}
	defer tx.Rollback()
	type acct struct {
		id, kind string
		bal      int64
	}
	var all []acct
	for i := 1; i <= a.Users; i++ {
		all = append(all, acct{UserID(i), KindUser, a.InitialBalance})
	}
	for i := 1; i <= a.Merchants; i++ {
		all = append(all, acct{MerchantID(i), KindMerchant, 0})
	}
	const chunk = 500
	for start := 0; start < len(all); start += chunk {
		part := all[start:min(start+chunk, len(all))]
		var rows, entries []string
		var args, eargs []any
		for _, x := range part {
			rows = append(rows, "(?, ?, ?, 0, 0)")
			args = append(args, x.id, x.kind, x.bal)
			if x.bal != 0 {
				entries = append(entries, "('opening', ?, ?)")
				eargs = append(eargs, x.id, x.bal)
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO accounts (id, kind, balance, points, version) VALUES "+strings.Join(rows, ","), args...); err != nil {
			return fmt.Errorf("seed: accounts: %w", err)
		}
		if len(entries) > 0 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO ledger_entries (payment_id, account_id, amount) VALUES "+strings.Join(entries, ","), eargs...); err != nil {
				return fmt.Errorf("seed: ledger: %w", err)
			}
		}
	}
	total := a.InitialBalance * int64(a.Users)
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger_entries (payment_id, account_id, amount) VALUES ('opening', ?, ?)", FundingAccount, -total); err != nil {
		return fmt.Errorf("seed: funding entry: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO payments (id, idem_key, kind, from_account, to_account, amount, status, created_ns)
		VALUES ('opening', 'opening', 'opening', ?, '*', ?, 'committed', 0)`, FundingAccount, total); err != nil {
		return fmt.Errorf("seed: opening payment: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed: commit: %w", err)
	}
	return nil
}

// MySQL error numbers the ledger reacts to.
const (
	errDuplicate = 1062
	errNotNull   = 1048 // ER_BAD_NULL_ERROR: a ledger entry's account was not found
	errDeadlock  = 1213
	errLockWait  = 1205
	errReadOnly  = 1290
	errCheck     = 3819 // MySQL 8: ER_CHECK_CONSTRAINT_VIOLATED
	// errConstraint is MariaDB's CHECK violation (ER_CONSTRAINT_FAILED,
	// "CONSTRAINT `name` failed for `db`.`table`"), the ledger's guard in
	// containers mode.
	errConstraint = 4025
)

func mysqlErrno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// retryable reports whether a failed transaction may be run again: deadlocks,
// lock waits, read-only (writer failing over) and broken connections. Running
// again is safe because every money movement claims its idempotency key first.
func retryable(err error) bool {
	switch mysqlErrno(err) {
	case errDeadlock, errLockWait, errReadOnly:
		return true
	case 0:
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !isBusiness(err)
	}
	return false
}

// DefaultAccounts is the catalogue's default population.
func DefaultAccounts() Accounts {
	return Accounts{Users: 10000, Merchants: 500, InitialBalance: 50000}
}
