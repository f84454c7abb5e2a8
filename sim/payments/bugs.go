package payments

import (
	"fmt"
	"slices"
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
	// Modes are the modes in which the bug is shown caught, and where
	// selftest runs it: a stale replica read needs a replica that can lag,
	// which only containers mode has.
	Modes []string `json:"modes"`
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
	BugStaleReplicaRead     = "stale-replica-read"
)

// Bugs lists every seeded bug.
func Bugs() []Bug {
	// The modes (stack's names) in which each bug is shown caught.
	embeddedOnly := []string{"embedded"}
	bothModes := []string{"embedded", "containers"}
	realOnly := []string{"containers"}
	return []Bug{
		{BugBonusDoubleApply, "the bonus consumer adds points for every delivery of an event, so a redelivered event pays twice", "redelivery", "event-delivery", embeddedOnly},
		{BugIdempotencyRedisOnly, "idempotency is kept only in Redis: each attempt gets a new payment id, so a retry Redis has not seen moves money again", "commit-then-fail", "idempotency", embeddedOnly},
		{BugRMWNoLock, "balances are read outside the transaction and written back as absolute values (read-modify-write without a lock): concurrent payments lose updates", "hot-merchant", "conservation", bothModes},
		{BugAckBeforeCommit, "the client is told the payment succeeded before the commit, whose failure is then ignored", "commit-fails", "durability", embeddedOnly},
		{BugPublishBeforeCommit, "the event is published to Kafka before the commit instead of through the outbox: rolled-back payments leave events (and consumers may act on state that is not committed yet)", "commits-rolled-back", "event-delivery", embeddedOnly},
		{BugCacheNotInvalidated, "writes neither invalidate nor refresh cached balances", "balance-reads", "cache-convergence", embeddedOnly},
		{BugShipperDropsOnRetry, "when a bulk request to Elasticsearch fails, the shipper skips the batch instead of retrying it", "shipper-retry", "log-completeness", embeddedOnly},
		{BugRefundExceeds, "a refund is checked against the payment amount but not against what was already refunded", "double-refund", "idempotency", embeddedOnly},
		{BugOverdraft, "the debit has no balance guard: the ledger lacks the balance_nonnegative CHECK the debit relies on, so a payment or transfer larger than the balance commits and the account goes negative", "insufficient-funds", "no-negative-balance", embeddedOnly},
		{BugRetryNewPayment, "a retry whose key the ledger already holds (its first attempt committed, the client timed out) is taken for a new request: applied again as a new payment under a derived key, and the client is told the new id", "client-timeouts", "unknown-outcomes", embeddedOnly},
		{BugStaleReplicaRead, "the classic cache-aside: a write deletes the cached balances instead of caching the versions it committed, and balances for the cache are read from the AZ's asynchronous replica: one that has not yet applied the commit gives the version before it, and that version stays cached when no later event touches the account", "db-replica-behind", "cache-convergence", realOnly},
	}
}

// AppliesTo says whether the bug can show in a mode.
func (b Bug) AppliesTo(mode string) bool { return slices.Contains(b.Modes, mode) }

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
