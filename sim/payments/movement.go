package payments

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
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
	// balances are the accounts' balances and versions as this commit left
	// them, read inside its transaction: what remember writes to the cache.
	balances []AccountBalance
}

// Event is the outbox payload published to Kafka `payments`.
type Event struct {
	PaymentID   string `json:"payment_id"`
	Key         string `json:"idem_key"`
	Kind        string `json:"kind"`
	From        string `json:"from"`
	To          string `json:"to"`
	Amount      int64  `json:"amount"`
	RefundOf    string `json:"refund_of,omitempty"`
	CommittedNS int64  `json:"committed_ns"`
	Instance    string `json:"instance"`
	AZ          string `json:"az"`
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
		if errors.Is(err, errReplay) && s.bug(BugRetryNewPayment) && !strings.HasSuffix(m.Key, retryKeySuffix) {
			// Seeded bug: a key the ledger already holds is taken for a new
			// request, applied again under a derived key (and so a new id).
			m.Key += retryKeySuffix
			res, err = s.tryApply(ctx, m)
		}
		if err == nil {
			return res, nil
		}
		if errors.Is(err, errReplay) {
			return s.lookup(ctx, m.Key)
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

// retryKeySuffix derives the key the retry-new-payment bug applies a
// retry under.
const retryKeySuffix = ".retry"

// tryApply is one attempt: claim the key, move the money, write the ledger
// and the outbox, all in one transaction.
func (s *Service) tryApply(ctx context.Context, m Movement) (Result, error) {
	id := PaymentID(m.Key)
	if s.bug(BugIdempotencyRedisOnly) {
		id = randomPaymentID() // seeded bug: nothing in the ledger ties a retry to its first attempt
	}
	res := Result{ID: id, Kind: m.Op, Status: StatusCommitted, From: m.From, To: m.To, Amount: m.Amount, RefundOf: m.PaymentID, HTTPStatus: http.StatusCreated}
	if m.Op == OpRefund {
		// The refund goes from the merchant back to the payer.
		var kind, payer, merchant string
		// Read outside the transaction: a payment row never changes parties;
		// the refunded amount is checked atomically by the mark below.
		err := s.db.QueryRowContext(ctx, "SELECT kind, from_account, to_account FROM payments WHERE id = ? AND status = 'committed'", m.PaymentID).Scan(&kind, &payer, &merchant)
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
	ev := Event{PaymentID: id, Key: m.Key, Kind: m.Op, From: orFunding(res.From), To: res.To, Amount: m.Amount,
		RefundOf: m.PaymentID, CommittedNS: now, Instance: s.cfg.Instance, AZ: s.cfg.AZ}
	payload, err := json.Marshal(ev)
	if err != nil {
		return Result{}, fmt.Errorf("outbox encode: %w", err)
	}
	// The accounts' existence and kinds are checked inside the batch: a
	// balance moves only on an account of the kind the operation needs, and
	// each ledger entry takes its account id from a lookup of that account
	// and kind, NULL when there is none, which fails the NOT NULL column
	// (strict mode, set on every connection) before COMMIT. Checked apart,
	// before the transaction, it was one more ledger round trip for nearly
	// every movement of a 30 s run (a per-instance cache of 10,500 accounts'
	// kinds is mostly cold that long).
	debitKind, creditKind := wantKind(m.Op, true), wantKind(m.Op, false)
	// The writer holds the ledger's lock from the transaction's first
	// statement to its commit, so the whole movement travels as one
	// multi-statement round trip: the lock is never held across the network.
	// What can still fail fails loudly and stops the batch before COMMIT: a
	// duplicate idempotency key (1062), or a CHECK constraint (3819; 4025
	// on MariaDB) on a balance going negative or a refund exceeding its
	// payment.
	batch := []stmt{{`INSERT INTO payments (id, idem_key, kind, from_account, to_account, amount, refund_of, status, http_status, created_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'committed', 201, ?)`, []any{id, m.Key, m.Op, orFunding(res.From), res.To, m.Amount, m.PaymentID, now}}}
	if m.Op == OpRefund {
		batch = append(batch, stmt{"UPDATE payments SET refunded = refunded + ? WHERE id = ?", []any{m.Amount, m.PaymentID}})
	}
	debit := stmt{"UPDATE accounts SET balance = balance - ?, version = version + 1 WHERE id = ? AND kind = ?", []any{m.Amount, res.From, debitKind}}
	credit := stmt{"UPDATE accounts SET balance = balance + ?, version = version + 1 WHERE id = ? AND kind = ?", []any{m.Amount, res.To, creditKind}}
	if s.bug(BugRMWNoLock) {
		// Seeded bug: read the balances first, outside the transaction, and
		// write back absolute values computed in the app.
		var err error
		if debit, credit, err = s.rmwStatements(ctx, m, res); err != nil {
			return Result{}, err
		}
	}
	if res.From != "" {
		batch = append(batch, debit)
	}
	payer, payerArgs := accountOfKind, []any{res.From, debitKind}
	if res.From == "" {
		payer, payerArgs = "?", []any{FundingAccount} // not a row in accounts
	}
	entryArgs := append(append([]any{id}, payerArgs...), -m.Amount, id, res.To, creditKind, m.Amount)
	batch = append(batch, credit, stmt{"INSERT INTO ledger_entries (payment_id, account_id, amount) VALUES (?, " + payer + ", ?), (?, " + accountOfKind + ", ?)", entryArgs})
	publishEarly := s.bug(BugPublishBeforeCommit)
	if !publishEarly {
		batch = append(batch, stmt{"INSERT INTO outbox (payment_id, payload, created_ns) VALUES (?, ?, ?)", []any{id, string(payload), now}})
	}
	// The balances and versions this movement leaves, read under its locks
	// in the same round trip: the cache gets exactly them (remember).
	touched := []any{res.To}
	if res.From != "" {
		touched = append(touched, res.From)
	}
	batch = append(batch, balancesStmt(touched))
	// A stall or failure before the commit (failpoint), and the seeded bugs
	// acting between the work and the commit, need the commit sent apart.
	split := publishEarly || s.bug(BugAckBeforeCommit) || s.failpointOn(FPBeforeCommit)
	if !split {
		batch = append(batch, stmt{query: "COMMIT"})
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return Result{}, err
	}
	defer tx.close()
	err = tx.query(ctx, batch, func(rows *sql.Rows) error {
		b, err := scanBalance(rows)
		if err == nil {
			res.balances = append(res.balances, b)
		}
		return err
	})
	if err != nil {
		return Result{}, s.batchError(ctx, tx, m, res, err)
	}
	if split {
		if publishEarly {
			// Seeded bug: publish straight to Kafka before the commit.
			if err := s.kc.ProduceSync(ctx, eventRecords(ev, payload)...).FirstErr(); err != nil {
				return Result{}, fmt.Errorf("publish: %w", err)
			}
		}
		if s.bug(BugAckBeforeCommit) {
			// Seeded bug: the answer is already decided; a failed commit is ignored.
			if s.failpoint(FPBeforeCommit) == nil {
				_ = tx.commit(ctx)
			}
			return res, nil
		}
		if err := s.failpoint(FPBeforeCommit); err != nil {
			return Result{}, err
		}
		if err := tx.commit(ctx); err != nil {
			return Result{}, fmt.Errorf("commit: %w", err)
		}
	} else {
		tx.done = true
	}
	if err := s.failpoint(FPAfterCommit); err != nil {
		return Result{}, err
	}
	return res, nil
}

// batchError turns a failed movement batch into its answer: a replay of the
// stored result, a business rejection, or a retryable error.
func (s *Service) batchError(ctx context.Context, tx *ledgerTx, m Movement, res Result, err error) error {
	switch mysqlErrno(err) {
	case errDuplicate:
		return errReplay
	case errNotNull:
		// An account the movement names is missing or of the wrong kind:
		// find out which, outside the (rolled back) transaction.
		tx.close()
		if res.From != "" {
			if err := s.checkKind(ctx, res.From, wantKind(m.Op, true)); err != nil {
				return err
			}
		}
		if err := s.checkKind(ctx, res.To, wantKind(m.Op, false)); err != nil {
			return err
		}
	case errCheck, errConstraint:
		msg := err.Error()
		switch {
		case strings.Contains(msg, "refund_within_amount"):
			return reject(http.StatusUnprocessableEntity, "refund of %d exceeds what is left to refund on %s", m.Amount, m.PaymentID)
		case strings.Contains(msg, "balance_nonnegative"):
			return reject(http.StatusPaymentRequired, "insufficient funds in %s", res.From)
		}
	}
	return fmt.Errorf("movement: %w", err)
}

// errReplay means the key already has a stored answer.
var errReplay = errors.New("idempotency key already used")

// accountOfKind is an account's id when it exists and is of a kind, else
// NULL: a lookup by id and kind.
const accountOfKind = "(SELECT id FROM accounts WHERE id = ? AND kind = ?)"

// checkKind rejects an unknown account or one of the wrong kind. It runs
// only after a movement's batch failed its account checks, to say which.
func (s *Service) checkKind(ctx context.Context, id, want string) error {
	var kind string
	err := s.db.QueryRowContext(ctx, "SELECT kind FROM accounts WHERE id = ?", id).Scan(&kind)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return reject(http.StatusNotFound, "account %s not found", id)
	case err != nil:
		return fmt.Errorf("account lookup: %w", err)
	case kind != want:
		return reject(http.StatusUnprocessableEntity, "account %s is a %s, this operation needs a %s", id, kind, want)
	}
	return nil
}

// rmwStatements builds the seeded read-modify-write bug's balance updates:
// balances read without a lock, written back as absolute values.
func (s *Service) rmwStatements(ctx context.Context, m Movement, res Result) (debit, credit stmt, err error) {
	read := func(id string) (int64, error) {
		var b int64
		err := s.db.QueryRowContext(ctx, "SELECT balance FROM accounts WHERE id = ?", id).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, reject(http.StatusNotFound, "account %s not found", id)
		}
		return b, err
	}
	if res.From != "" {
		b, err := read(res.From)
		if err != nil {
			return stmt{}, stmt{}, err
		}
		debit = stmt{"UPDATE accounts SET balance = ?, version = version + 1 WHERE id = ?", []any{b - m.Amount, res.From}}
	}
	b, err := read(res.To)
	if err != nil {
		return stmt{}, stmt{}, err
	}
	credit = stmt{"UPDATE accounts SET balance = ?, version = version + 1 WHERE id = ?", []any{b + m.Amount, res.To}}
	return debit, credit, nil
}

func randomPaymentID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "pay-" + hex.EncodeToString(b[:])
}

// stmt is one SQL statement and its arguments.
type stmt struct {
	query string
	args  []any
}

// ledgerTx is a transaction on one pooled connection that opens lazily: its
// START TRANSACTION travels with the first batch, saving a round trip.
type ledgerTx struct {
	c     *sql.Conn
	begun bool
	done  bool
}

func (s *Service) begin(ctx context.Context) (*ledgerTx, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &ledgerTx{c: c}, nil
}

// balancesStmt reads the balances and versions of the accounts ids.
func balancesStmt(ids []any) stmt {
	return stmt{"SELECT id, balance, version FROM accounts WHERE id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")", ids}
}

// scanBalance reads one row of balancesStmt.
func scanBalance(rows *sql.Rows) (AccountBalance, error) {
	var b AccountBalance
	err := rows.Scan(&b.ID, &b.Balance, &b.Version)
	return b, err
}

// text joins a batch into one multi-statement query, opening the
// transaction on its first batch.
func (t *ledgerTx) text(batch []stmt) (string, []any) {
	var q strings.Builder
	var args []any
	if !t.begun {
		q.WriteString("START TRANSACTION;\n")
		t.begun = true
	}
	for i, st := range batch {
		if i > 0 {
			q.WriteString(";\n")
		}
		q.WriteString(st.query)
		args = append(args, st.args...)
	}
	return q.String(), args
}

// exec sends statements as one multi-statement round trip and returns the
// last statement's affected rows.
func (t *ledgerTx) exec(ctx context.Context, batch []stmt) (int64, error) {
	q, args := t.text(batch)
	r, err := t.c.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// query sends a batch holding one SELECT as one round trip and hands each of
// its rows to scan. It reads every statement's answer, so any statement's
// failure, before the SELECT or after it (COMMIT), is its error.
func (t *ledgerTx) query(ctx context.Context, batch []stmt, scan func(*sql.Rows) error) error {
	q, args := t.text(batch)
	rows, err := t.c.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	for {
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

func (t *ledgerTx) commit(ctx context.Context) error {
	t.done = true
	_, err := t.c.ExecContext(ctx, "COMMIT")
	return err
}

// close rolls back an unfinished transaction and returns the connection;
// a connection that cannot roll back is discarded (the server then rolls
// back when it drops).
func (t *ledgerTx) close() {
	if t.c == nil {
		return
	}
	if t.begun && !t.done {
		t.done = true
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := t.c.ExecContext(ctx, "ROLLBACK"); err != nil {
			_ = t.c.Raw(func(any) error { return driver.ErrBadConn })
		}
		cancel()
	}
	_ = t.c.Close()
	t.c = nil
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

// lookup returns the stored answer for an idempotency key.
func (s *Service) lookup(ctx context.Context, key string) (Result, error) {
	var r Result
	err := s.db.QueryRowContext(ctx, `SELECT id, kind, status, from_account, to_account, amount, refund_of, http_status, error
		FROM payments WHERE id = ? AND idem_key = ?`, PaymentID(key), key).Scan(&r.ID, &r.Kind, &r.Status, &r.From, &r.To, &r.Amount, &r.RefundOf, &r.HTTPStatus, &r.Error)
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
