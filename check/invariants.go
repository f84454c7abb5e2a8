package check

import (
	"fmt"
	"sort"

	"paysim/loadgen"
	"paysim/report"
)

// maxExamples bounds the concrete ids an invariant reports.
const maxExamples = 5

// result accumulates one invariant's outcome.
type result struct {
	name       string
	checked    int
	violations int
	// keyed holds the examples from violateKey/violateIn, smallest first;
	// they are reported before the examples from violate.
	keyed    []keyedExample
	examples []string
	// need is the minimum the invariant needs to mean anything (see need).
	needs *minimum
}

// minimum is what an invariant needs to have checked to be applicable.
type minimum struct {
	have, min int
	what      string
}

// need states the minimum an invariant needs: at least min of what (e.g.
// "acknowledged writes"). Below it, with no violation found, the invariant
// is not applicable rather than passed: nothing to check is not a pass.
func (r *result) need(have, min int, what string) {
	r.needs = &minimum{have: have, min: min, what: what}
}

// keyedExample is an example found while walking a map.
type keyedExample struct {
	group     int
	key, text string
}

func (a keyedExample) less(b keyedExample) bool {
	if a.group != b.group {
		return a.group < b.group
	}
	if a.key != b.key {
		return a.key < b.key
	}
	return a.text < b.text
}

// violateKey records a violation found while walking a map in random order
// (group 0). See violateIn.
func (r *result) violateKey(key, format string, args ...any) {
	r.violateIn(0, key, format, args...)
}

// violateIn records a violation found while walking a map in random order.
// The examples kept are the smallest by (group, key, text): a checker that
// walks several maps numbers them in the order it wants them reported. The
// report is deterministic without sorting every key of a large map.
func (r *result) violateIn(group int, key, format string, args ...any) {
	r.violations++
	if n := len(r.keyed); n == maxExamples {
		if last := r.keyed[n-1]; group > last.group || group == last.group && key > last.key {
			return
		}
	}
	ex := keyedExample{group, key, fmt.Sprintf(format, args...)}
	i := sort.Search(len(r.keyed), func(i int) bool { return ex.less(r.keyed[i]) })
	if i == maxExamples {
		return
	}
	r.keyed = append(r.keyed, keyedExample{})
	copy(r.keyed[i+1:], r.keyed[i:])
	r.keyed[i] = ex
	if len(r.keyed) > maxExamples {
		r.keyed = r.keyed[:maxExamples]
	}
}

// violate records a violation found in a deterministic walk (history order).
func (r *result) violate(format string, args ...any) {
	r.violations++
	if len(r.examples) < maxExamples {
		r.examples = append(r.examples, fmt.Sprintf(format, args...))
	}
}

func (r *result) done(okDetail, badDetail string) report.Invariant {
	examples := make([]string, 0, min(r.violations, maxExamples))
	for _, ex := range r.keyed {
		examples = append(examples, ex.text)
	}
	examples = append(examples, r.examples...)
	if len(examples) > maxExamples {
		examples = examples[:maxExamples]
	}
	if len(examples) == 0 {
		examples = nil
	}
	inv := report.Invariant{Name: r.name, OK: r.violations == 0, Status: report.StatusPass, Checked: r.checked, Violations: r.violations, Examples: examples}
	if m := r.needs; m != nil {
		inv.Needs = fmt.Sprintf("at least %d %s", m.min, m.what)
	}
	switch {
	case !inv.OK:
		inv.Status, inv.Detail = report.StatusFail, badDetail
	case r.needs != nil && r.needs.have < r.needs.min:
		inv.OK, inv.Status = false, report.StatusNotApplicable
		inv.Detail = fmt.Sprintf("not applicable: %d %s (needs %s)", r.needs.have, r.needs.what, inv.Needs)
	default:
		inv.Detail = okDetail
	}
	return inv
}

// Conservation checks double entry: every transaction's entries sum to zero,
// every balance equals its account's entries, and the money in accounts
// equals what entered from outside (opening balances and top-ups).
func Conservation(l Ledger) report.Invariant {
	r := result{name: "conservation"}
	for id, s := range l.EntrySum {
		r.checked++
		if s != 0 {
			r.violateIn(0, id, "transaction %s: entries sum to %d", id, s)
		}
	}
	var total int64
	for id, a := range l.Accounts {
		r.checked++
		total += a.Balance
		if e := l.AccountEntrySum[id]; e != a.Balance {
			r.violateIn(1, id, "account %s: balance %d but ledger entries sum to %d", id, a.Balance, e)
		}
	}
	var funded int64
	moved := 0
	for id, p := range l.Payments.All() {
		if p.Status == StatusCommitted && (p.Kind == KindTopup || p.Kind == KindOpening) {
			funded += p.Amount
		}
		if p.Status == StatusCommitted && p.Kind != KindOpening {
			moved++
		}
		want := 0
		if p.Status == StatusCommitted && p.Kind != KindOpening {
			want = 2
		}
		if p.Kind == KindOpening {
			continue
		}
		r.checked++
		if n := l.EntryCount[id]; n != want {
			r.violateIn(2, id, "payment %s (%s, %s): %d ledger entries, want %d", id, p.Kind, p.Status, n, want)
		}
	}
	r.checked++
	if total != funded {
		r.violate("sum of balances %d != opening balances + top-ups %d (difference %d)", total, funded, total-funded)
	}
	if ext := -l.AccountEntrySum[FundingAccount]; ext != total {
		r.violate("sum of balances %d != money entered through %s %d", total, FundingAccount, ext)
	}
	r.need(moved, 1, "committed payments")
	return r.done(fmt.Sprintf("%d transactions balanced; %d yen in accounts = opening + top-ups", len(l.EntrySum), total),
		"money was created or destroyed")
}

// NoNegative checks that no account balance went below zero.
func NoNegative(l Ledger) report.Invariant {
	r := result{name: "no-negative-balance"}
	for id, a := range l.Accounts {
		r.checked++
		if b := a.Balance; b < 0 {
			r.violateKey(id, "account %s: balance %d", id, b)
		}
	}
	debits := 0 // money left an account: a payment, transfer or refund
	for _, p := range l.Payments.All() {
		if p.Status == StatusCommitted && p.Kind != KindOpening && p.Kind != KindTopup {
			debits++
		}
	}
	r.need(debits, 1, "committed debits")
	return r.done("every balance >= 0", "an account went negative")
}

// Idempotency checks at most one effect per idempotency key: one payment
// row per key, one ledger effect per payment, and the refund rules (see
// rules.go): only committed payments are refunded, from their merchant
// back to their payer, and never beyond what was paid.
func Idempotency(h []loadgen.Event, l Ledger) report.Invariant {
	r := result{name: "idempotency"}
	r.checked += l.Payments.KeyCount() // a key of one row has at most one effect
	for key, ids := range l.Payments.SharedKeys() {
		committed := 0
		for _, id := range ids {
			if p, _ := l.Payments.Get(id); p.Status == StatusCommitted {
				committed++
			}
		}
		if committed > 1 {
			r.violateIn(0, key, "key %s: %d committed payments %v", key, committed, ids)
		}
	}
	refunded := map[string]int64{}
	writes := 0
	for _, p := range l.Payments.All() {
		if p.Kind != KindOpening {
			writes++
		}
		if p.Kind == KindRefund && p.Status == StatusCommitted {
			refunded[p.RefundOf] += p.Amount
			if orig, ok := l.Payments.Get(p.RefundOf); ok && !RefundParties(orig, p) {
				r.violateIn(2, p.ID, "refund %s of %s moved %s->%s, not the payment's merchant->payer %s->%s", p.ID, orig.ID, p.From, p.To, orig.To, orig.From)
			}
		}
	}
	for id, sum := range refunded {
		r.checked++
		orig, ok := l.Payments.Get(id)
		switch {
		case !ok:
			r.violateIn(1, id, "refunds of unknown payment %s", id)
		case !Refundable(orig.Kind, orig.Status):
			r.violateIn(1, id, "refunds of %s %s %s (only committed payments can be refunded)", orig.Status, orig.Kind, id)
		case !RefundWithin(orig.Amount, sum):
			r.violateIn(1, id, "payment %s: refunded %d of %d (double refund)", id, sum, orig.Amount)
		case sum != orig.Refunded:
			r.violateIn(1, id, "payment %s: refunds sum to %d but refunded column says %d", id, sum, orig.Refunded)
		}
	}
	// Every key the client used maps to at most one result id.
	seen := make(map[string]string, len(h)/2)
	for _, e := range h {
		if e.Type != loadgen.EventOK || e.Key == "" || e.ResultID == "" {
			continue
		}
		if prev, ok := seen[e.Key]; ok && prev != e.ResultID {
			r.violate("key %s answered with two ids %s and %s", e.Key, prev, e.ResultID)
		}
		seen[e.Key] = e.ResultID
	}
	r.need(writes, 1, "payments in the ledger")
	return r.done("at most one effect per idempotency key; no refund exceeds its payment", "a key took effect more than once")
}

// Durability checks that every write acknowledged to a client (2xx) exists,
// committed, after recovery. It returns the invariant and the count lost
// (missing from the ledger: the RPO); an acknowledged payment stored with
// another amount or status is a violation but not a loss.
func Durability(h []loadgen.Event, l Ledger) (report.Invariant, int) {
	r, lost := durability(h, l, true)
	r.need(r.checked, 1, "acknowledged writes")
	return r.done(fmt.Sprintf("all %d acknowledged writes present", r.checked), "acknowledged payments were lost or changed"), lost
}

// durability walks the acknowledged writes; missing ones are counted, and
// are violations when missingViolates.
func durability(h []loadgen.Event, l Ledger, missingViolates bool) (result, int) {
	r := result{name: "durability"}
	lost := 0
	for _, e := range h {
		if e.Type != loadgen.EventOK || e.Op == "balance" || e.Key == "" {
			continue
		}
		r.checked++
		id := ackedID(e, l)
		p, ok := l.Payments.Get(id)
		switch {
		case !ok:
			lost++
			if missingViolates {
				r.violate("acknowledged %s %s (key %s) is missing", e.Op, id, e.Key)
			}
		case p.Status != StatusCommitted:
			r.violate("acknowledged %s %s is %s", e.Op, id, p.Status)
		case p.Amount != e.Amount:
			r.violate("acknowledged %s %s: amount %d, stored %d", e.Op, id, e.Amount, p.Amount)
		case p.Key != e.Key:
			// The client was told a payment made under another key: its
			// own request's effect, if any, is not what it was told.
			r.violate("acknowledged %s %s (key %s) is stored under key %s", e.Op, id, e.Key, p.Key)
		}
	}
	return r, lost
}
