package check

import (
	"context"
	"fmt"
	"net/http"

	"paysim/loadgen"
	"paysim/report"
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
	return p.Status == StatusCommitted && p.Kind != KindOpening
}

// ackedID is the payment an acknowledged write names: the id its answer
// carried, or else the payment the ledger holds under its idempotency key
// (the committed one, if several); "" when there is none.
func ackedID(e loadgen.Event, l Ledger) string {
	if e.ResultID != "" {
		return e.ResultID
	}
	ids := l.Payments.ByKey(e.Key)
	for _, id := range ids {
		if p, _ := l.Payments.Get(id); p.Status == StatusCommitted {
			return id
		}
	}
	if len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// Events checks event delivery (invariant 5) over the ledger and the records
// of the Kafka topic `payments`:
//   - every committed payment (not the opening balances) was published at
//     least once, with the kind, accounts and amount of its row (duplicates
//     are fine: the relay is at least once);
//   - no event names a payment that is not committed (published before or
//     without a commit);
//   - the bonus consumer applied each payment exactly once in effect: a
//     committed QR payment has a grant of exactly BonusPoints(amount)
//     points when that is > 0 and none when it is 0, nothing else has a grant,
//     a grant credits the payer, and every account's points equal the sum of
//     its grants (points = rule × payments).
//
// Checked counts distinct events, committed payments, grants and accounts.
func Events(l Ledger, topic []Event) report.Invariant {
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
	return streamEvents(func(fn func(Event)) error { return loadTopic(ctx, brokers, topic, fn) }, l, onlyInLedger)
}

// ArchivedEvents is TopicEvents over a run's TopicArchive: the events it
// copied during the run, then the rest of the topic.
func ArchivedEvents(ctx context.Context, a *TopicArchive, l Ledger, onlyInLedger bool) (report.Invariant, error) {
	return streamEvents(func(fn func(Event)) error { return a.Events(ctx, fn) }, l, onlyInLedger)
}

// streamEvents judges Events over what read hands its callback.
func streamEvents(read func(fn func(Event)) error, l Ledger, onlyInLedger bool) (report.Invariant, error) {
	c := newEventsCheck(l, l.Payments.Len())
	err := read(func(ev Event) {
		if onlyInLedger && !l.Payments.Has(ev.PaymentID) {
			return
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

func (c *eventsCheck) add(ev Event) {
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
		if p.Kind != KindPayment {
			continue
		}
		want := BonusPoints(p.Amount)
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
		case !deliverable(p) || p.Kind != KindPayment:
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
	r.need(committed, 1, "committed payments")
	return r.done(
		fmt.Sprintf("%d committed payments in topic payments (%d duplicate deliveries); %d bonus grants, every account's points = rule × payments",
			committed, dups, len(l.BonusGrants)),
		fmt.Sprintf("%d of %d committed payments not in Kafka, %d events disagree with the ledger, %d events without a committed payment, %d bonus grants wrong, %d accounts' points wrong",
			missing, committed, wrong, phantom, bonus, points))
}

// Logs checks log completeness (invariant 6): every acknowledged write
// (history type ok, op other than balance) has its "committed" log document
// (id CommittedLogID) in docs, the ids found in paysim-logs-*.
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
		id := ackedID(e, l)
		if acked[id] {
			continue
		}
		acked[id] = true
		r.checked++
		if !docs[CommittedLogID(id)] {
			lostAcked++
			note := ""
			if p, ok := l.Payments.Get(id); !ok || !deliverable(p) {
				note = " (and the payment is not committed in the ledger)"
			}
			r.violateIn(0, id, "acknowledged %s %s (key %s) has no log document %s%s", e.Op, id, e.Key, CommittedLogID(id), note)
		}
	}
	other := 0
	for id, p := range l.Payments.All() {
		if !deliverable(p) || acked[id] {
			continue
		}
		other++
		r.checked++
		if !docs[CommittedLogID(id)] {
			lostOther++
			r.violateIn(1, id, "committed %s %s (not acknowledged to the client) has no log document %s", p.Kind, id, CommittedLogID(id))
		}
	}
	r.need(r.checked, 1, "committed payments")
	return r.done(
		fmt.Sprintf("%d acknowledged and %d other committed payments have their log documents", len(acked), other),
		fmt.Sprintf("%d of %d acknowledged and %d of %d other committed payments have no log document", lostAcked, len(acked), lostOther, other))
}

// Cache checks cache convergence (invariant 7): once quiet, every cached
// balance (version and amount) equals the ledger's. An account missing from
// the cache is fine; a stale, newer or orphaned entry is a violation.
func Cache(l Ledger, cached map[string]CachedBalance) report.Invariant {
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
	r.need(len(cached), 1, "cached balances")
	return r.done(
		fmt.Sprintf("%d cached balances equal the ledger (%d of %d accounts not cached)", len(cached), max(len(l.Accounts)-len(cached), 0), len(l.Accounts)),
		fmt.Sprintf("%d of %d cached balances differ from the ledger", r.violations, len(cached)))
}

// Unknowns checks that unknown outcomes are resolved (invariant 8). A
// request's outcome is unknown to its client when an attempt timed out,
// lost its connection or got a 5xx; the client then gives up or retries
// with the same idempotency key. Either way the request must resolve to one
// effect or none, and to the one the client was told:
//   - given up (history type unknown, op other than balance): the ledger
//     holds under its key either exactly one committed payment, that
//     request's effect (kind, accounts, amount): committed once; or none (a
//     rejected row is fine): not at all.
//   - retried (a final answer after more than one attempt; every attempt
//     before the last had an unknown outcome): a 2xx names the payment, and
//     it must be the one committed payment under the request's key, that
//     request's effect, not a second payment with another id beside the
//     one that committed first. A business decline (4xx) says nothing
//     moved: nothing committed under the key. A 429 answers only its
//     attempt (the rate limit), so it is judged as given up. A named
//     payment the ledger lacks altogether is durability's to report.
func Unknowns(h []loadgen.Event, l Ledger) report.Invariant {
	r := result{name: NameUnknowns}
	var gaveUp, once, none, toldOK, declined int
	for _, e := range h {
		if e.Op == loadgen.OpBalance || e.Key == "" {
			continue
		}
		retried := e.Attempts > 1
		switch {
		case e.Type == loadgen.EventUnknown, retried && e.Type == loadgen.EventFail && e.Status == http.StatusTooManyRequests:
			gaveUp++
		case retried && e.Type == loadgen.EventOK:
		case retried && e.Type == loadgen.EventFail && e.Status >= 400 && e.Status < 500:
		default:
			continue
		}
		r.checked++
		committed := l.committedUnder(e.Key)
		switch {
		case len(committed) > 1:
			ids := make([]string, len(committed))
			for i, p := range committed {
				ids[i] = p.ID
			}
			r.violate("%s %s (key %s) committed %d times: %v", outcome(e), e.Op, e.Key, len(committed), ids)
		case e.Type == loadgen.EventOK:
			if why := toldMismatch(e, committed, l); why != "" {
				r.violate("retried %s (key %s) %s", e.Op, e.Key, why)
			} else {
				toldOK++
			}
		case e.Type == loadgen.EventFail && e.Status != http.StatusTooManyRequests:
			if len(committed) == 1 {
				r.violate("retried %s (key %s) was declined (%d) but committed as %s", e.Op, e.Key, e.Status, committed[0].ID)
			} else {
				declined++
			}
		case len(committed) == 0:
			none++
		default:
			if why := mismatch(e, committed[0]); why != "" {
				r.violate("unknown %s (key %s) committed as %s but %s", e.Op, e.Key, committed[0].ID, why)
			} else {
				once++
			}
		}
	}
	r.need(r.checked, 1, "unknown outcomes")
	return r.done(
		fmt.Sprintf("%d unknown outcomes resolved: %d committed once, %d not at all; %d retried requests committed once as the payment their client was told, %d declined with nothing committed",
			gaveUp, once, none, toldOK, declined),
		fmt.Sprintf("%d of %d unknown or retried outcomes unresolved (given up: %d committed once, %d not at all; retried: %d as told, %d declined)",
			r.violations, r.checked, once, none, toldOK, declined))
}

// outcome names how a request's unknown outcome ended, for examples.
func outcome(e loadgen.Event) string {
	if e.Type == loadgen.EventUnknown {
		return "unknown"
	}
	return "retried"
}

// committedUnder returns the committed payments stored under a key.
func (l Ledger) committedUnder(key string) []Payment {
	var out []Payment
	for _, id := range l.Payments.ByKey(key) {
		if p, _ := l.Payments.Get(id); p.Status == StatusCommitted {
			out = append(out, p)
		}
	}
	return out
}

// toldMismatch says how the ledger contradicts what a retried request's
// client was told (e.ResultID), given the at most one payment committed
// under its key, or "" when it resolved to exactly that payment.
func toldMismatch(e loadgen.Event, committed []Payment, l Ledger) string {
	told := e.ResultID
	if len(committed) == 0 {
		if p, ok := l.Payments.Get(told); ok && told != "" && p.Key != e.Key {
			return fmt.Sprintf("was told %s, which the ledger holds under key %s; nothing committed under its own key", told, p.Key)
		}
		return "" // lost altogether: durability counts it
	}
	p := committed[0]
	if told != "" && p.ID != told {
		where := "which the ledger does not hold"
		if q, ok := l.Payments.Get(told); ok {
			where = fmt.Sprintf("a %s %s under key %s", q.Status, q.Kind, q.Key)
		}
		return fmt.Sprintf("committed as %s but its client was told %s (%s)", p.ID, told, where)
	}
	if why := mismatch(e, p); why != "" {
		return fmt.Sprintf("committed as %s but %s", p.ID, why)
	}
	return ""
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
