package payments

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Movement is a validated money-moving request.
type Movement struct {
	Op        string // topup, payment, transfer, refund
	Key       string // idempotency key
	From      string // debited account (empty for a top-up)
	To        string // credited account (empty for a refund: it goes back to the payer)
	PaymentID string // refunds: the payment refunded
	Amount    int64
}

// Result is the answer to a movement; a replayed key gets the same one.
type Result struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Status   string `json:"status"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	Amount   int64  `json:"amount"`
	RefundOf string `json:"refund_of,omitempty"`
	Error    string `json:"error,omitempty"`
	// HTTPStatus is the status the first answer carried.
	HTTPStatus int `json:"-"`
}

// Event is the outbox payload published to Kafka `payments`.
type Event struct {
	PaymentID   string           `json:"payment_id"`
	Key         string           `json:"idem_key"`
	Kind        string           `json:"kind"`
	From        string           `json:"from"`
	To          string           `json:"to"`
	Amount      int64            `json:"amount"`
	RefundOf    string           `json:"refund_of,omitempty"`
	Balances    []AccountBalance `json:"balances"`
	CommittedNS int64            `json:"committed_ns"`
	Instance    string           `json:"instance"`
	AZ          string           `json:"az"`
}

// AccountBalance is an account's balance at a version, for cache updates.
type AccountBalance struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
	Version int64  `json:"version"`
}

// bizError is a definite business rejection: no money moved.
type bizError struct {
	status int
	msg    string
}

func (e *bizError) Error() string { return e.msg }

func reject(status int, format string, args ...any) error {
	return &bizError{status: status, msg: fmt.Sprintf(format, args...)}
}

func isBusiness(err error) bool {
	var b *bizError
	return errors.As(err, &b)
}

// PaymentID derives a movement's id from its idempotency key, so every
// attempt of one key names the same payment.
func PaymentID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "pay-" + hex.EncodeToString(sum[:10])
}

// apply runs a movement with bounded retries on deadlocks and broken
// connections; a business rejection is stored so a replay gets it too.
func (s *Service) apply(ctx context.Context, m Movement) (Result, error) {
	backoff := s.cfg.RetryBackoff
	var lastErr error
	for attempt := 0; attempt < s.cfg.MaxDBAttempts; attempt++ {
		if attempt > 0 {
			s.metrics.dbRetries.Inc()
			select {
			case <-ctx.Done():
				return Result{}, fmt.Errorf("apply: %w (last: %v)", ctx.Err(), lastErr)
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
		res, err := s.tryApply(ctx, m)
		if err == nil {
			return res, nil
		}
		var b *bizError
		if errors.As(err, &b) {
			return s.storeRejection(ctx, m, b)
		}
		lastErr = err
		if !retryable(err) {
			break
		}
	}
	return Result{}, fmt.Errorf("apply %s: %w", m.Op, lastErr)
}

// tryApply is one attempt: claim the key, move the money, write the ledger
// and the outbox, all in one transaction.
func (s *Service) tryApply(ctx context.Context, m Movement) (Result, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	id := PaymentID(m.Key)
	res := Result{ID: id, Kind: m.Op, Status: StatusCommitted, From: m.From, To: m.To, Amount: m.Amount, RefundOf: m.PaymentID, HTTPStatus: http.StatusCreated}
	if m.Op == OpRefund {
		// The refund goes from the merchant back to the payer.
		var kind, payer, merchant string
		err := tx.QueryRowContext(ctx, "SELECT kind, from_account, to_account FROM payments WHERE id = ? AND status = 'committed'", m.PaymentID).Scan(&kind, &payer, &merchant)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return Result{}, reject(http.StatusNotFound, "payment %s not found", m.PaymentID)
		case err != nil:
			return Result{}, fmt.Errorf("refund lookup: %w", err)
		case kind != OpPayment:
			return Result{}, reject(http.StatusUnprocessableEntity, "%s is a %s, only payments can be refunded", m.PaymentID, kind)
		}
		res.From, res.To = merchant, payer
	}
	now := time.Now().UnixNano()
	if _, err := tx.ExecContext(ctx, `INSERT INTO payments (id, idem_key, kind, from_account, to_account, amount, refund_of, status, http_status, created_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'committed', 201, ?)`, id, m.Key, m.Op, orFunding(res.From), res.To, m.Amount, m.PaymentID, now); err != nil {
		if mysqlErrno(err) == errDuplicate {
			_ = tx.Rollback()
			return s.lookup(ctx, m.Key)
		}
		return Result{}, fmt.Errorf("claim key: %w", err)
	}
	if m.Op == OpRefund {
		r, err := tx.ExecContext(ctx, "UPDATE payments SET refunded = refunded + ? WHERE id = ? AND refunded + ? <= amount", m.Amount, m.PaymentID, m.Amount)
		if err != nil {
			return Result{}, fmt.Errorf("refund mark: %w", err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return Result{}, reject(http.StatusUnprocessableEntity, "refund of %d exceeds what is left to refund on %s", m.Amount, m.PaymentID)
		}
	}
	if res.From != "" {
		if err := s.debit(ctx, tx, m.Op, res.From, m.Amount); err != nil {
			return Result{}, err
		}
	}
	if err := s.credit(ctx, tx, m.Op, res.To, m.Amount); err != nil {
		return Result{}, err
	}
	balances, err := readBalances(ctx, tx, res.From, res.To)
	if err != nil {
		return Result{}, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger_entries (payment_id, account_id, amount) VALUES (?, ?, ?), (?, ?, ?)",
		id, orFunding(res.From), -m.Amount, id, res.To, m.Amount); err != nil {
		return Result{}, fmt.Errorf("ledger: %w", err)
	}
	ev := Event{PaymentID: id, Key: m.Key, Kind: m.Op, From: orFunding(res.From), To: res.To, Amount: m.Amount,
		RefundOf: m.PaymentID, Balances: balances, CommittedNS: now, Instance: s.cfg.Instance, AZ: s.cfg.AZ}
	payload, err := json.Marshal(ev)
	if err != nil {
		return Result{}, fmt.Errorf("outbox encode: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO outbox (payment_id, payload, created_ns) VALUES (?, ?, ?)", id, string(payload), now); err != nil {
		return Result{}, fmt.Errorf("outbox: %w", err)
	}
	if err := s.failpoint(FPBeforeCommit); err != nil {
		return Result{}, err
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("commit: %w", err)
	}
	if err := s.failpoint(FPAfterCommit); err != nil {
		return Result{}, err
	}
	s.cacheBalances(ctx, balances)
	return res, nil
}

func orFunding(acct string) string {
	if acct == "" {
		return FundingAccount
	}
	return acct
}

// wantKind is the account kind each side of an operation must have.
func wantKind(op string, debit bool) string {
	switch {
	case op == OpPayment && !debit, op == OpRefund && debit:
		return KindMerchant
	}
	return KindUser
}

func (s *Service) debit(ctx context.Context, tx *sql.Tx, op, acct string, amount int64) error {
	kind := wantKind(op, true)
	r, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - ?, version = version + 1 WHERE id = ? AND kind = ? AND balance >= ?", amount, acct, kind, amount)
	if err != nil {
		return fmt.Errorf("debit: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 1 {
		return nil
	}
	return diagnose(ctx, tx, acct, kind, true)
}

func (s *Service) credit(ctx context.Context, tx *sql.Tx, op, acct string, amount int64) error {
	kind := wantKind(op, false)
	r, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + ?, version = version + 1 WHERE id = ? AND kind = ?", amount, acct, kind)
	if err != nil {
		return fmt.Errorf("credit: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 1 {
		return nil
	}
	return diagnose(ctx, tx, acct, kind, false)
}

// diagnose explains why a conditional balance update touched no row.
func diagnose(ctx context.Context, tx *sql.Tx, acct, kind string, debit bool) error {
	var got string
	err := tx.QueryRowContext(ctx, "SELECT kind FROM accounts WHERE id = ?", acct).Scan(&got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return reject(http.StatusNotFound, "account %s not found", acct)
	case err != nil:
		return fmt.Errorf("diagnose: %w", err)
	case got != kind:
		return reject(http.StatusUnprocessableEntity, "account %s is a %s, this operation needs a %s", acct, got, kind)
	case debit:
		return reject(http.StatusPaymentRequired, "insufficient funds in %s", acct)
	}
	return fmt.Errorf("diagnose: update of %s matched no row", acct)
}

func readBalances(ctx context.Context, tx *sql.Tx, ids ...string) ([]AccountBalance, error) {
	var want []string
	for _, id := range ids {
		if id != "" {
			want = append(want, id)
		}
	}
	q := "SELECT id, balance, version FROM accounts WHERE id IN (?" + strings.Repeat(", ?", len(want)-1) + ")"
	args := make([]any, len(want))
	for i, w := range want {
		args[i] = w
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	defer rows.Close()
	var out []AccountBalance
	for rows.Next() {
		var b AccountBalance
		if err := rows.Scan(&b.ID, &b.Balance, &b.Version); err != nil {
			return nil, fmt.Errorf("read balances: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// lookup returns the stored answer for an idempotency key.
func (s *Service) lookup(ctx context.Context, key string) (Result, error) {
	var r Result
	err := s.db.QueryRowContext(ctx, `SELECT id, kind, status, from_account, to_account, amount, refund_of, http_status, error
		FROM payments WHERE idem_key = ?`, key).Scan(&r.ID, &r.Kind, &r.Status, &r.From, &r.To, &r.Amount, &r.RefundOf, &r.HTTPStatus, &r.Error)
	if err != nil {
		return Result{}, fmt.Errorf("lookup key: %w", err)
	}
	if r.From == FundingAccount {
		r.From = ""
	}
	return r, nil
}

// storeRejection records a business rejection under the key so a retry gets
// the same answer; if another attempt already stored an answer, that wins.
func (s *Service) storeRejection(ctx context.Context, m Movement, b *bizError) (Result, error) {
	res := Result{ID: PaymentID(m.Key), Kind: m.Op, Status: StatusRejected, From: m.From, To: m.To, Amount: m.Amount,
		RefundOf: m.PaymentID, Error: b.msg, HTTPStatus: b.status}
	_, err := s.db.ExecContext(ctx, `INSERT INTO payments (id, idem_key, kind, from_account, to_account, amount, refund_of, status, http_status, error, created_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'rejected', ?, ?, ?)`, res.ID, m.Key, m.Op, orFunding(m.From), m.To, m.Amount, m.PaymentID, b.status, truncate(b.msg, 255), time.Now().UnixNano())
	switch {
	case err == nil:
		return res, nil
	case mysqlErrno(err) == errDuplicate:
		return s.lookup(ctx, m.Key)
	default:
		// The rejection itself is definite; failing to store it only means a
		// retry re-evaluates the request.
		return res, nil
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
