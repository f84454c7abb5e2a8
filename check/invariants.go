package check

import (
	"fmt"
	"sort"

	"paysim/loadgen"
	"paysim/report"
	"paysim/sim/payments"
)

// maxExamples bounds the concrete ids an invariant reports.
const maxExamples = 5

// result accumulates one invariant's outcome.
type result struct {
	name       string
	checked    int
	violations int
	examples   []string
}

func (r *result) violate(format string, args ...any) {
	r.violations++
	if len(r.examples) < maxExamples {
		r.examples = append(r.examples, fmt.Sprintf(format, args...))
	}
}

func (r *result) done(okDetail, badDetail string) report.Invariant {
	inv := report.Invariant{Name: r.name, OK: r.violations == 0, Checked: r.checked, Violations: r.violations, Examples: r.examples}
	if inv.OK {
		inv.Detail = okDetail
	} else {
		inv.Detail = badDetail
	}
	return inv
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Conservation checks double entry: every transaction's entries sum to zero,
// every balance equals its account's entries, and the money in accounts
// equals what entered from outside (opening balances and top-ups).
func Conservation(l Ledger) report.Invariant {
	r := result{name: "conservation"}
	for _, id := range sortedKeys(l.EntrySum) {
		r.checked++
		if s := l.EntrySum[id]; s != 0 {
			r.violate("transaction %s: entries sum to %d", id, s)
		}
	}
	var total int64
	for _, id := range sortedKeys(l.Accounts) {
		a := l.Accounts[id]
		r.checked++
		total += a.Balance
		if e := l.AccountEntrySum[id]; e != a.Balance {
			r.violate("account %s: balance %d but ledger entries sum to %d", id, a.Balance, e)
		}
	}
	for _, id := range sortedKeys(l.Payments) {
		p := l.Payments[id]
		want := 0
		if p.Status == payments.StatusCommitted && p.Kind != payments.OpOpening {
			want = 2
		}
		if p.Kind == payments.OpOpening {
			continue
		}
		r.checked++
		if n := l.EntryCount[id]; n != want {
			r.violate("payment %s (%s, %s): %d ledger entries, want %d", id, p.Kind, p.Status, n, want)
		}
	}
	var funded int64
	for _, p := range l.Payments {
		if p.Status == payments.StatusCommitted && (p.Kind == payments.OpTopup || p.Kind == payments.OpOpening) {
			funded += p.Amount
		}
	}
	r.checked++
	if total != funded {
		r.violate("sum of balances %d != opening balances + top-ups %d (difference %d)", total, funded, total-funded)
	}
	if ext := -l.AccountEntrySum[payments.FundingAccount]; ext != total {
		r.violate("sum of balances %d != money entered through %s %d", total, payments.FundingAccount, ext)
	}
	return r.done(fmt.Sprintf("%d transactions balanced; %d yen in accounts = opening + top-ups", len(l.EntrySum), total),
		"money was created or destroyed")
}

// NoNegative checks that no account balance went below zero.
func NoNegative(l Ledger) report.Invariant {
	r := result{name: "no-negative-balance"}
	for _, id := range sortedKeys(l.Accounts) {
		r.checked++
		if b := l.Accounts[id].Balance; b < 0 {
			r.violate("account %s: balance %d", id, b)
		}
	}
	return r.done("every balance >= 0", "an account went negative")
}

// Idempotency checks at most one effect per idempotency key: one payment
// row per key, one ledger effect per payment, refunds within what was paid.
func Idempotency(h []loadgen.Event, l Ledger) report.Invariant {
	r := result{name: "idempotency"}
	for _, key := range sortedKeys(l.PaymentsByKey) {
		r.checked++
		ids := l.PaymentsByKey[key]
		committed := 0
		for _, id := range ids {
			if l.Payments[id].Status == payments.StatusCommitted {
				committed++
			}
		}
		if committed > 1 {
			r.violate("key %s: %d committed payments %v", key, committed, ids)
		}
	}
	refunded := map[string]int64{}
	for _, p := range l.Payments {
		if p.Kind == payments.OpRefund && p.Status == payments.StatusCommitted {
			refunded[p.RefundOf] += p.Amount
		}
	}
	for _, id := range sortedKeys(refunded) {
		r.checked++
		orig, ok := l.Payments[id]
		switch {
		case !ok:
			r.violate("refunds of unknown payment %s", id)
		case refunded[id] > orig.Amount:
			r.violate("payment %s: refunded %d of %d (double refund)", id, refunded[id], orig.Amount)
		case refunded[id] != orig.Refunded:
			r.violate("payment %s: refunds sum to %d but refunded column says %d", id, refunded[id], orig.Refunded)
		}
	}
	// Every key the client used maps to at most one result id.
	seen := map[string]string{}
	for _, e := range h {
		if e.Type != loadgen.EventOK || e.Key == "" || e.ResultID == "" {
			continue
		}
		if prev, ok := seen[e.Key]; ok && prev != e.ResultID {
			r.violate("key %s answered with two ids %s and %s", e.Key, prev, e.ResultID)
		}
		seen[e.Key] = e.ResultID
	}
	return r.done("at most one effect per idempotency key; no refund exceeds its payment", "a key took effect more than once")
}

// Durability checks that every write acknowledged to a client (2xx) exists,
// committed, after recovery. It returns the invariant and the count lost.
func Durability(h []loadgen.Event, l Ledger) (report.Invariant, int) {
	r := result{name: "durability"}
	for _, e := range h {
		if e.Type != loadgen.EventOK || e.Op == "balance" || e.Key == "" {
			continue
		}
		r.checked++
		id := e.ResultID
		if id == "" {
			id = payments.PaymentID(e.Key)
		}
		p, ok := l.Payments[id]
		switch {
		case !ok:
			r.violate("acknowledged %s %s (key %s) is missing", e.Op, id, e.Key)
		case p.Status != payments.StatusCommitted:
			r.violate("acknowledged %s %s is %s", e.Op, id, p.Status)
		case p.Amount != e.Amount:
			r.violate("acknowledged %s %s: amount %d, stored %d", e.Op, id, e.Amount, p.Amount)
		}
	}
	return r.done(fmt.Sprintf("all %d acknowledged writes present", r.checked), "acknowledged payments were lost"), r.violations
}
