package check

import (
	"net/http"
	"strings"
	"testing"

	"paysim/loadgen"
	"paysim/report"
)

// retried marks a key's completion as the answer to a retry (its first
// attempt's outcome was unknown) and applies change to it.
func retried(key string, change func(*loadgen.Event)) func(*fixture) {
	return func(f *fixture) {
		for i, e := range f.history {
			if e.Key == key && e.Type != loadgen.EventInvoke {
				f.history[i].Attempts = 2
				if change != nil {
					change(&f.history[i])
				}
			}
		}
	}
}

// retryAsNewPayment is the ledger and history the retry-new-payment bug
// leaves: the first attempt of k-p1 committed p1, the client timed out and
// retried, and the retry was applied as a second payment under a derived
// key, whose id the client was told.
func retryAsNewPayment(f *fixture) {
	orig, _ := f.l.Payments.Get(pid("p1"))
	again := orig
	again.ID, again.Key, again.Refunded = "pay-again", "k-p1.retry", 0
	f.l.Payments.Put(again)
	retried("k-p1", func(e *loadgen.Event) { e.ResultID = "pay-again" })(f)
}

func TestUnknownsRetried(t *testing.T) {
	setStatus := func(key string, status int) func(*fixture) {
		return retried(key, func(e *loadgen.Event) { e.Type, e.Status, e.ResultID = loadgen.EventFail, status, "" })
	}
	runCases(t, NameUnknowns, func(f fixture) report.Invariant { return Unknowns(f.history, f.l) }, []invariantCase{
		{name: "retried payment resolved to the id it was told", breakIt: retried("k-p1", nil), ok: true,
			want: "0 unknown outcomes resolved: 0 committed once, 0 not at all; 1 retried requests committed once as the payment their client was told"},
		{name: "every write retried", breakIt: allOf(retried("k-p1", nil), retried("k-p2", nil), retried("k-t1", nil), retried("k-x1", nil), retried("k-r1", nil)),
			ok: true, want: "5 retried requests committed once as the payment their client was told"},
		{name: "retried decline with only a rejected row", breakIt: setStatus("k-j1", http.StatusPaymentRequired), ok: true,
			want: "1 declined with nothing committed"},
		{name: "told payment lost altogether is durability's", breakIt: allOf(retried("k-t1", nil), func(f *fixture) { f.l.Payments.Delete(pid("t1")) }),
			ok: true, want: "1 retried requests committed once"},
		{name: "retried but not of unknown outcome: one attempt", breakIt: allOf(retried("k-p2", nil), func(f *fixture) {
			// A single-attempt answer naming another id is idempotency's and
			// durability's business, not an unknown outcome.
			for i, e := range f.history {
				if e.Key == "k-p1" && e.Type == loadgen.EventOK {
					f.history[i].ResultID = "pay-other"
				}
			}
		}), ok: true, want: "1 retried requests"},
		{name: "retry applied as a new payment", breakIt: retryAsNewPayment, violations: 1,
			want: "retried payment (key k-p1) committed as " + pid("p1") + " but its client was told pay-again (a committed payment under key k-p1.retry)"},
		{name: "told a payment of another key, nothing under its own", breakIt: allOf(retryAsNewPayment, func(f *fixture) {
			p, _ := f.l.Payments.Get(pid("p1"))
			p.Status = StatusRejected
			f.l.Payments.Put(p)
		}), violations: 1, want: "was told pay-again, which the ledger holds under key k-p1.retry; nothing committed under its own key"},
		{name: "told an id the ledger does not hold", breakIt: retried("k-x1", func(e *loadgen.Event) { e.ResultID = "pay-ghost" }), violations: 1,
			want: "committed as " + pid("x1") + " but its client was told pay-ghost (which the ledger does not hold)"},
		{name: "retried and committed twice under its key", breakIt: allOf(retried("k-x1", nil), func(f *fixture) {
			dup, _ := f.l.Payments.Get(pid("x1"))
			dup.ID = "pay-dup"
			f.l.Payments.Put(dup)
		}), violations: 1, want: "retried transfer (key k-x1) committed 2 times"},
		{name: "retried, told its id, but another amount", breakIt: allOf(retried("k-t1", nil), func(f *fixture) {
			p, _ := f.l.Payments.Get(pid("t1"))
			p.Amount = 501
			f.l.Payments.Put(p)
		}), violations: 1, want: "committed as " + pid("t1") + " but its amount is 501, requested 500"},
		{name: "retried decline that committed", breakIt: setStatus("k-x1", http.StatusPaymentRequired), violations: 1,
			want: "retried transfer (key k-x1) was declined (402) but committed as " + pid("x1")},
		{name: "rate limited retry is judged as given up", breakIt: setStatus("k-x1", http.StatusTooManyRequests), ok: true,
			want: "1 unknown outcomes resolved: 1 committed once, 0 not at all"},
	})
}

// TestRetryAsNewPaymentIsUnknownOutcomesOwn: the retry-new-payment ledger
// passes idempotency (every key has one row) and nothing acknowledged is
// lost, so unknown-outcomes is the invariant that resolves it; durability
// also sees the id the client was told stored under another key (which
// catches the bug where the app's internal retry hides the timeout from
// the client, so unknown-outcomes has nothing to resolve).
func TestRetryAsNewPaymentIsUnknownOutcomesOwn(t *testing.T) {
	f := newFixture()
	retryAsNewPayment(&f)
	if inv := Idempotency(f.history, f.l); inv.Violations != 0 {
		t.Errorf("idempotency: %+v", inv)
	}
	if inv, lost := Durability(f.history, f.l); inv.Violations != 1 || lost != 0 || !strings.Contains(strings.Join(inv.Examples, ""), "is stored under key k-p1.retry") {
		t.Errorf("durability: %+v, want the told id under another key and nothing lost", inv)
	}
	if inv := Unknowns(f.history, f.l); inv.OK || inv.Violations != 1 {
		t.Errorf("unknown-outcomes: %+v, want 1 violation", inv)
	}
}

// allOf applies each change in turn.
func allOf(changes ...func(*fixture)) func(*fixture) {
	return func(f *fixture) {
		for _, change := range changes {
			change(f)
		}
	}
}
