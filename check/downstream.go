package check

import (
	"context"
	"fmt"

	"paysim/loadgen"
	"paysim/report"
	"paysim/sim/payments"
)

// Invariant names of the downstream checkers.
const (
	NameEvents   = "event-delivery"
	NameLogs     = "log-completeness"
	NameCache    = "cache-convergence"
	NameUnknowns = "unknown-outcomes"
)

// deliverable reports whether a payments row must have gone through the
// outbox: committed money movements (the seeded opening balances did not).
func deliverable(p Payment) bool {
	return p.Status == payments.StatusCommitted && p.Kind != payments.OpOpening
}

// ackedID is the payment id an acknowledged write names.
func ackedID(e loadgen.Event) string {
	if e.ResultID != "" {
		return e.ResultID
	}
	return payments.PaymentID(e.Key)
}

// Events checks event delivery (invariant 5) over the ledger and the records
// of the Kafka topic `payments`:
//   - every committed payment (not the opening balances) was published at
//     least once, with the kind, accounts and amount of its row (duplicates
//     are fine: the relay is at least once);
//   - no event names a payment that is not committed (published before or
//     without a commit);
//   - the bonus consumer applied each payment exactly once in effect: a
//     committed QR payment has a grant of exactly payments.BonusPoints(amount)
//     points when that is > 0 and none when it is 0, nothing else has a grant,
//     a grant credits the payer, and every account's points equal the sum of
//     its grants (points = rule × payments).
//
// Checked counts distinct events, committed payments, grants and accounts.
func Events(l Ledger, topic []payments.Event) report.Invariant {
	c := newEventsCheck(l, len(topic))
	for _, ev := range topic {
		c.add(ev)
	}
	return c.done()
}

// TopicEvents is Events over the records of topic as they are read, so a
// long run's topic is never in memory. With onlyInLedger, events of
// payments the ledger does not hold are skipped: after a region loss the
// topic still carries events of payments the DR copy never got.
func TopicEvents(ctx context.Context, brokers []string, topic string, l Ledger, onlyInLedger bool) (report.Invariant, error) {
	c := newEventsCheck(l, l.Payments.Len())
	err := loadTopic(ctx, brokers, topic, func(ev payments.Event) {
		if onlyInLedger {
			if !l.Payments.Has(ev.PaymentID) {
				return
			}
		}
		c.add(ev)
	})
	if err != nil {
		return report.Invariant{}, err
	}
	return c.done(), nil
}

// eventsCheck accumulates Events one topic record at a time.
type eventsCheck struct {
	l                   Ledger
	r                   result
	seen                map[string]struct{}
	wrong, phantom, dup int
}

func newEventsCheck(l Ledger, hint int) *eventsCheck {
	return &eventsCheck{l: l, r: result{name: NameEvents}, seen: make(map[string]struct{}, hint)}
}

func (c *eventsCheck) add(ev payments.Event) {
	if _, ok := c.seen[ev.PaymentID]; ok {
		c.dup++
		return
	}
	c.seen[ev.PaymentID] = struct{}{}
	r := &c.r
	r.checked++
	p, ok := c.l.Payments.Get(ev.PaymentID)
	switch {
	case !ok:
		c.phantom++
		r.violateKey(ev.PaymentID, "event for %s %s (key %s) but the payment does not exist", ev.Kind, ev.PaymentID, ev.Key)
	case !deliverable(p):
		c.phantom++
		r.violateKey(ev.PaymentID, "event for %s %s but the payment is %s", ev.Kind, ev.PaymentID, p.Status)
	case ev.Kind != p.Kind || ev.Amount != p.Amount || ev.From != p.From || ev.To != p.To:
		c.wrong++
		r.violateKey(ev.PaymentID, "event for %s says %s %s->%s %d, the ledger %s %s->%s %d",
			ev.PaymentID, ev.Kind, ev.From, ev.To, ev.Amount, p.Kind, p.From, p.To, p.Amount)
	}
}

// done judges the ledger side once every event was added.
func (c *eventsCheck) done() report.Invariant {
	l, r, seen := c.l, c.r, c.seen
	wrong, phantom, dups := c.wrong, c.phantom, c.dup
	var missing, bonus, points, committed int
	for id, p := range l.Payments.All() {
		if !deliverable(p) {
			continue
		}
		committed++
		r.checked++
		if _, ok := seen[id]; !ok {
			missing++
			r.violateKey(id, "committed %s %s (%d yen) is not in topic %s", p.Kind, id, p.Amount, "payments")
		}
		if p.Kind != payments.OpPayment {
			continue
		}
		want := payments.BonusPoints(p.Amount)
		got, granted := l.BonusGrants[id]
		switch {
		case want > 0 && !granted:
			bonus++
			r.violateKey(id, "payment %s of %d yen: no bonus grant, want %d points", id, p.Amount, want)
		case want == 0 && granted:
			bonus++
			r.violateKey(id, "payment %s of %d yen earns no points but has a grant of %d", id, p.Amount, got)
		case granted && got != want:
			bonus++
			r.violateKey(id, "payment %s of %d yen: granted %d points, want %d", id, p.Amount, got, want)
		}
	}
	sums := make(map[string]int64, len(l.Accounts))
	for id, pts := range l.BonusGrants {
		r.checked++
		p, ok := l.Payments.Get(id)
		acct := l.GrantAccounts[id]
		if acct == "" {
			acct = p.From
		}
		if acct != "" {
			sums[acct] += pts
		}
		switch {
		case !ok:
			bonus++
			r.violateKey(id, "bonus grant of %d points for %s, which does not exist", pts, id)
		case !deliverable(p) || p.Kind != payments.OpPayment:
			bonus++
			r.violateKey(id, "bonus grant of %d points for %s %s %s (only committed payments earn points)", pts, p.Status, p.Kind, id)
		case acct != p.From:
			bonus++
			r.violateKey(id, "bonus grant for %s credited %s, the payer is %s", id, acct, p.From)
		}
	}
	for id, a := range l.Accounts {
		r.checked++
		if s := sums[id]; a.Points != s {
			points++
			r.violateKey(id, "account %s: %d points, its grants sum to %d", id, a.Points, s)
		}
	}
	for id, s := range sums {
		if _, ok := l.Accounts[id]; !ok {
			points++
			r.violateKey(id, "bonus grants of %d points to %s, which is not an account", s, id)
		}
	}
	return r.done(
		fmt.Sprintf("%d committed payments in topic payments (%d duplicate deliveries); %d bonus grants, every account's points = rule × payments",
			committed, dups, len(l.BonusGrants)),
		fmt.Sprintf("%d of %d committed payments not in Kafka, %d events disagree with the ledger, %d events without a committed payment, %d bonus grants wrong, %d accounts' points wrong",
			missing, committed, wrong, phantom, bonus, points))
}

// Logs checks log completeness (invariant 6): every acknowledged write
// (history type ok, op other than balance) has its "committed" log document
// (id payments.CommittedLogID) in docs, the ids found in paysim-logs-*.
// Committed payments the client never saw acknowledged (timeouts that
// committed) went through the same relay, so they are held to it too.
func Logs(h []loadgen.Event, l Ledger, docs map[string]bool) report.Invariant {
	r := result{name: NameLogs}
	acked := make(map[string]bool, len(h)/2)
	var lostAcked, lostOther int
	for _, e := range h {
		if e.Type != loadgen.EventOK || e.Op == loadgen.OpBalance || e.Key == "" {
			continue
		}
		id := ackedID(e)
		if acked[id] {
			continue
		}
		acked[id] = true
		r.checked++
		if !docs[payments.CommittedLogID(id)] {
			lostAcked++
			note := ""
			if p, ok := l.Payments.Get(id); !ok || !deliverable(p) {
				note = " (and the payment is not committed in the ledger)"
			}
			r.violateIn(0, id, "acknowledged %s %s (key %s) has no log document %s%s", e.Op, id, e.Key, payments.CommittedLogID(id), note)
		}
	}
	other := 0
	for id, p := range l.Payments.All() {
		if !deliverable(p) || acked[id] {
			continue
		}
		other++
		r.checked++
		if !docs[payments.CommittedLogID(id)] {
			lostOther++
			r.violateIn(1, id, "committed %s %s (not acknowledged to the client) has no log document %s", p.Kind, id, payments.CommittedLogID(id))
		}
	}
	return r.done(
		fmt.Sprintf("%d acknowledged and %d other committed payments have their log documents", len(acked), other),
		fmt.Sprintf("%d of %d acknowledged and %d of %d other committed payments have no log document", lostAcked, len(acked), lostOther, other))
}

// Cache checks cache convergence (invariant 7): once quiet, every cached
// balance (version and amount) equals the ledger's. An account missing from
// the cache is fine; a stale, newer or orphaned entry is a violation.
func Cache(l Ledger, cached map[string]payments.AccountBalance) report.Invariant {
	r := result{name: NameCache}
	for id, c := range cached {
		r.checked++
		a, ok := l.Accounts[id]
		switch {
		case !ok:
			r.violateKey(id, "cached account %s (balance %d, version %d) is not in the ledger", id, c.Balance, c.Version)
		case c.Version != a.Version || c.Balance != a.Balance:
			r.violateKey(id, "account %s: cached balance %d at version %d, ledger %d at version %d", id, c.Balance, c.Version, a.Balance, a.Version)
		}
	}
	return r.done(
		fmt.Sprintf("%d cached balances equal the ledger (%d of %d accounts not cached)", len(cached), max(len(l.Accounts)-len(cached), 0), len(l.Accounts)),
		fmt.Sprintf("%d of %d cached balances differ from the ledger", r.violations, len(cached)))
}

// Unknowns checks that unknown outcomes are resolved (invariant 8): for every
// client timeout (history type unknown, op other than balance) the ledger
// holds either exactly one committed payment under its key, matching the
// request's kind, accounts and amount (committed once), or none (not at all;
// a rejected row is fine).
func Unknowns(h []loadgen.Event, l Ledger) report.Invariant {
	r := result{name: NameUnknowns}
	var once, none int
	for _, e := range h {
		if e.Type != loadgen.EventUnknown || e.Op == loadgen.OpBalance {
			continue
		}
		r.checked++
		var hit Payment
		n := 0
		var ids []string
		for _, id := range l.Payments.ByKey(e.Key) {
			if p, _ := l.Payments.Get(id); p.Status == payments.StatusCommitted {
				hit = p
				n++
				ids = append(ids, id)
			}
		}
		switch n {
		case 0:
			none++
		case 1:
			if why := mismatch(e, hit); why != "" {
				r.violate("unknown %s (key %s) committed as %s but %s", e.Op, e.Key, hit.ID, why)
			} else {
				once++
			}
		default:
			r.violate("unknown %s (key %s) committed %d times: %v", e.Op, e.Key, n, ids)
		}
	}
	return r.done(
		fmt.Sprintf("%d unknown outcomes resolved: %d committed once, %d not at all", r.checked, once, none),
		fmt.Sprintf("%d of %d unknown outcomes unresolved (%d committed once, %d not at all)", r.violations, r.checked, once, none))
}

// mismatch says how a committed payment differs from the request a history
// event describes, or "" when it is that request's effect.
func mismatch(e loadgen.Event, p Payment) string {
	if p.Kind != e.Op {
		return fmt.Sprintf("it is a %s", p.Kind)
	}
	if p.Amount != e.Amount {
		return fmt.Sprintf("its amount is %d, requested %d", p.Amount, e.Amount)
	}
	switch e.Op {
	case loadgen.OpTopup:
		if p.To != e.From {
			return fmt.Sprintf("it credited %s, requested %s", p.To, e.From)
		}
	case loadgen.OpPayment, loadgen.OpTransfer:
		if p.From != e.From || p.To != e.To {
			return fmt.Sprintf("it moved %s->%s, requested %s->%s", p.From, p.To, e.From, e.To)
		}
	case loadgen.OpRefund:
		if p.RefundOf != e.PaymentID {
			return fmt.Sprintf("it refunds %s, requested %s", p.RefundOf, e.PaymentID)
		}
	}
	return ""
}
