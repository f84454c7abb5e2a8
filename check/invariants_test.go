package check

import (
	"testing"

	"paysim/loadgen"
	"paysim/report"
	"paysim/sim/payments"
)

// withEntries adds the double-entry rows the fixture's payments imply.
func withEntries(f *fixture) {
	f.l.EntrySum, f.l.EntryCount, f.l.AccountEntrySum = map[string]int64{}, map[string]int{}, map[string]int64{}
	add := func(pid, acct string, amt int64) {
		f.l.EntrySum[pid] += amt
		f.l.EntryCount[pid]++
		f.l.AccountEntrySum[acct] += amt
	}
	add("opening", "u-1", 10000)
	add("opening", "u-2", 10000)
	add("opening", payments.FundingAccount, -20000)
	for _, p := range f.l.Payments.All() {
		if p.Status != payments.StatusCommitted || p.Kind == payments.OpOpening {
			continue
		}
		add(p.ID, p.From, -p.Amount)
		add(p.ID, p.To, p.Amount)
	}
}

func TestConservation(t *testing.T) {
	run := func(f fixture) report.Invariant { withEntries(&f); return Conservation(f.l) }
	runCases(t, "conservation", run, []invariantCase{
		{name: "balanced ledger", ok: true, want: "balanced"},
		{name: "money created in a balance", breakIt: func(f *fixture) {
			a := f.l.Accounts["m-1"]
			a.Balance += 50
			f.l.Accounts["m-1"] = a
		}, violations: 3, want: "account m-1: balance 750 but ledger entries sum to 700"},
	})
	// A transaction whose entries do not sum to zero.
	f := newFixture()
	withEntries(&f)
	f.l.EntrySum[pid("p1")] = 10
	if inv := Conservation(f.l); inv.OK || inv.Violations != 1 {
		t.Fatalf("unbalanced transaction: %+v", inv)
	}
	// A committed payment with a single ledger entry.
	f = newFixture()
	withEntries(&f)
	f.l.EntryCount[pid("x1")] = 1
	if inv := Conservation(f.l); inv.OK || inv.Violations != 1 {
		t.Fatalf("half-written transfer: %+v", inv)
	}
}

func TestNoNegative(t *testing.T) {
	runCases(t, "no-negative-balance", func(f fixture) report.Invariant { return NoNegative(f.l) }, []invariantCase{
		{name: "all positive", ok: true, want: ">= 0"},
		{name: "overdrawn user", breakIt: func(f *fixture) {
			a := f.l.Accounts["u-1"]
			a.Balance = -1
			f.l.Accounts["u-1"] = a
		}, violations: 1, want: "account u-1: balance -1"},
	})
}

func TestIdempotency(t *testing.T) {
	runCases(t, "idempotency", func(f fixture) report.Invariant { return Idempotency(f.history, f.l) }, []invariantCase{
		{name: "one effect per key", ok: true, want: "at most one effect"},
		{name: "a key committed twice", breakIt: func(f *fixture) {
			dup, _ := f.l.Payments.Get(pid("p1"))
			dup.ID = "pay-dup"
			f.l.Payments.Put(dup)
		}, violations: 1, want: "2 committed payments"},
		{name: "refunded more than paid", breakIt: func(f *fixture) {
			r, _ := f.l.Payments.Get(pid("r1"))
			r.ID, r.Key, r.Amount = "pay-r2", "k-r2", 700
			f.l.Payments.Put(r)
			p, _ := f.l.Payments.Get(pid("p1"))
			p.Refunded = 1100
			f.l.Payments.Put(p)
		}, violations: 1, want: "double refund"},
		{name: "one key answered with two ids", breakIt: func(f *fixture) {
			f.history = append(f.history, loadgen.Event{Type: loadgen.EventOK, Op: loadgen.OpPayment, Key: "k-p1", ResultID: "pay-other"})
		}, violations: 1, want: "two ids"},
	})
}

func TestDurability(t *testing.T) {
	run := func(f fixture) report.Invariant { inv, _ := Durability(f.history, f.l); return inv }
	runCases(t, "durability", run, []invariantCase{
		{name: "every ack present", ok: true, want: "acknowledged writes present"},
		{name: "acked payment missing", breakIt: func(f *fixture) {
			f.l.Payments.Delete(pid("x1"))
		}, violations: 1, want: "is missing"},
		{name: "acked payment rolled back", breakIt: func(f *fixture) {
			p, _ := f.l.Payments.Get(pid("p2"))
			p.Status = payments.StatusRejected
			f.l.Payments.Put(p)
		}, violations: 1, want: "is rejected"},
	})
	f := newFixture()
	f.l.Payments.Delete(pid("p1"))
	f.l.Payments.Delete(pid("t1"))
	if _, lost := Durability(f.history, f.l); lost != 2 {
		t.Fatalf("lost %d, want 2", lost)
	}
}
