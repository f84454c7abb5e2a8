package payments

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pingcap/failpoint"
)

// Bug is a known defect the payment service can be built with at run time,
// to prove the checker meant to catch it does.
type Bug struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Scenario is the built-in scenario that exposes the bug.
	Scenario string `json:"scenario"`
	// Invariant is the checker that must fail.
	Invariant string `json:"invariant"`
}

// Seeded bug names.
const (
	BugBonusDoubleApply     = "bonus-double-apply"
	BugIdempotencyRedisOnly = "idempotency-redis-only"
	BugRMWNoLock            = "rmw-no-lock"
	BugAckBeforeCommit      = "ack-before-commit"
	BugPublishBeforeCommit  = "publish-before-commit"
	BugCacheNotInvalidated  = "cache-not-invalidated"
	BugShipperDropsOnRetry  = "shipper-drops-on-retry"
	BugRefundExceeds        = "refund-exceeds"
	BugOverdraft            = "overdraft"
	BugRetryNewPayment      = "retry-new-payment"
)

// Bugs lists every seeded bug.
func Bugs() []Bug {
	return []Bug{
		{BugBonusDoubleApply, "the bonus consumer adds points for every delivery of an event, so a redelivered event pays twice", "redelivery", "event-delivery"},
		{BugIdempotencyRedisOnly, "idempotency is kept only in Redis: the ledger has no unique key, so a retry Redis has not seen moves money again", "commit-then-fail", "idempotency"},
		{BugRMWNoLock, "balances are read outside the transaction and written back as absolute values (read-modify-write without a lock): concurrent payments lose updates", "hot-merchant", "conservation"},
		{BugAckBeforeCommit, "the client is told the payment succeeded before the commit, whose failure is then ignored", "commit-fails", "durability"},
		{BugPublishBeforeCommit, "the event is published to Kafka before the commit instead of through the outbox: rolled-back payments leave events (and consumers may act on state that is not committed yet)", "commits-rolled-back", "event-delivery"},
		{BugCacheNotInvalidated, "writes neither invalidate nor refresh cached balances", "balance-reads", "cache-convergence"},
		{BugShipperDropsOnRetry, "when a bulk request to Elasticsearch fails, the shipper skips the batch instead of retrying it", "shipper-retry", "log-completeness"},
		{BugRefundExceeds, "a refund is checked against the payment amount but not against what was already refunded", "double-refund", "idempotency"},
		{BugOverdraft, "the debit has no balance guard: the ledger lacks the balance_nonnegative CHECK the debit relies on, so a payment or transfer larger than the balance commits and the account goes negative", "insufficient-funds", "no-negative-balance"},
		{BugRetryNewPayment, "a retry whose key the ledger already holds (its first attempt committed, the client timed out) is taken for a new request: applied again as a new payment under a derived key, and the client is told the new id", "client-timeouts", "unknown-outcomes"},
	}
}

// bugPath is the failpoint that switches a bug on.
func bugPath(name string) string { return "paysim/bugs/" + name }

// EnableBugs switches seeded bugs on in a run's failpoints.
func EnableBugs(fps *failpoint.Failpoints, names []string) error {
	known := map[string]bool{}
	for _, b := range Bugs() {
		known[b.Name] = true
	}
	for _, n := range names {
		if !known[n] {
			all := make([]string, 0, len(known))
			for k := range known {
				all = append(all, k)
			}
			sort.Strings(all)
			return fmt.Errorf("unknown bug %q (have %s)", n, strings.Join(all, ", "))
		}
		if err := fps.Enable(bugPath(n), "return(true)"); err != nil {
			return fmt.Errorf("enable bug %s: %w", n, err)
		}
	}
	return nil
}

// bug reports whether a seeded bug is switched on.
func (s *Service) bug(name string) bool {
	v, err := s.cfg.Failpoints.Eval(bugPath(name))
	return err == nil && v != nil
}
