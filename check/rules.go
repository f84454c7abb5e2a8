package check

import (
	"strconv"
	"strings"
)

// The checkers judge by their own statement of the business rules and data
// formats, written from the spec (shared ARCHITECTURE.md: amounts in whole
// yen, one transaction per movement with its ledger entries and an outbox
// row, consumers idempotent, bonus points = rule × payments) and from the
// payment API's documented behaviour, never by calling the service under
// test: a rule the app gets wrong would otherwise be "confirmed" by the
// checker running the same code. rules_test.go holds the app's statement
// and this one to the same table of cases, so a change to either alone
// fails.

// The ledger's vocabulary: the values the payments table stores.
const (
	// StatusCommitted is a payment whose money moved.
	StatusCommitted = "committed"
	// StatusRejected is a payment refused for a business reason (stored so
	// a retry of its key gets the same answer); no money moved.
	StatusRejected = "rejected"

	// KindOpening is the seeded opening balances, one transaction.
	KindOpening = "opening"
	// KindTopup is money entering a user's account from outside.
	KindTopup = "topup"
	// KindPayment is a QR payment, user to merchant.
	KindPayment = "payment"
	// KindTransfer is a P2P transfer, user to user.
	KindTransfer = "transfer"
	// KindRefund is money going back from a payment's merchant to its payer.
	KindRefund = "refund"

	// FundingAccount is the counter-account of every yen that entered the
	// system (opening balances, top-ups); it is not a row of accounts.
	FundingAccount = "ext-funding"

	// AccountUser and AccountMerchant are the kinds of accounts.
	AccountUser     = "user"
	AccountMerchant = "merchant"
)

// BonusPoints is the bonus rule: a committed QR payment earns its payer
// 0.5% of its amount in whole points, rounded down, so one point per full
// 200 yen; top-ups, transfers and refunds earn nothing, and a refund does
// not take points back.
func BonusPoints(amount int64) int64 {
	if amount <= 0 {
		return 0
	}
	return amount / 200
}

// Refundable reports whether a payment of this kind and status can be
// refunded at all: only a committed QR payment can.
func Refundable(kind, status string) bool {
	return kind == KindPayment && status == StatusCommitted
}

// RefundWithin reports whether refunds adding up to refunded (every
// committed refund of a payment, the one being judged included) stay
// within what the payment moved: the refund limit. Each refund is a
// positive amount.
func RefundWithin(paid, refunded int64) bool {
	return refunded >= 0 && refunded <= paid
}

// RefundParties reports whether a refund moves money the right way: from
// the refunded payment's merchant (its payee) back to its payer.
func RefundParties(orig, refund Payment) bool {
	return refund.From == orig.To && refund.To == orig.From
}

// balanceCachePrefix starts every balance cache key in Redis.
const balanceCachePrefix = "bal:"

// BalanceCacheKey is the Redis key caching an account's balance: a sorted
// set whose members are "version:balance", scored by version; the member
// with the highest score is the cached balance.
func BalanceCacheKey(account string) string { return balanceCachePrefix + account }

// CachedBalance is one account's balance as the cache holds it.
type CachedBalance struct {
	ID      string
	Balance int64
	Version int64
}

// ParseCachedBalance decodes a balance cache member of account: exactly two
// decimal integers, the version then the balance, joined by one colon.
func ParseCachedBalance(account, member string) (CachedBalance, bool) {
	parts := strings.Split(member, ":")
	if len(parts) != 2 {
		return CachedBalance{}, false
	}
	version, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return CachedBalance{}, false
	}
	balance, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return CachedBalance{}, false
	}
	return CachedBalance{ID: account, Balance: balance, Version: version}, true
}

// CommittedLogID is the id of the log document the service ships for a
// committed payment (the audit line, in paysim-logs-*).
func CommittedLogID(paymentID string) string { return paymentID + "-committed" }

// Event is a record of the Kafka topic `payments` as the checkers read it:
// the outbox payload of one committed movement.
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
