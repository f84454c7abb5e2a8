package check

import (
	"maps"
	"strings"
	"testing"

	"paysim/loadgen"
	"paysim/report"
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
	add("opening", FundingAccount, -20000)
	for _, p := range f.l.Payments.All() {
		if p.Status != StatusCommitted || p.Kind == KindOpening {
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
		{name: "refunded exactly what was paid", breakIt: func(f *fixture) {
			r, _ := f.l.Payments.Get(pid("r1"))
			r.ID, r.Key, r.Amount = "pay-r2", "k-r2", 600
			f.l.Payments.Put(r)
			p, _ := f.l.Payments.Get(pid("p1"))
			p.Refunded = 1000
			f.l.Payments.Put(p)
		}, ok: true, want: "no refund exceeds its payment"},
		{name: "refund of a transfer", breakIt: func(f *fixture) {
			r, _ := f.l.Payments.Get(pid("r1"))
			r.ID, r.Key, r.RefundOf, r.Amount, r.From, r.To = "pay-r2", "k-r2", pid("x1"), 100, "u-1", "u-2"
			f.l.Payments.Put(r)
			x, _ := f.l.Payments.Get(pid("x1"))
			x.Refunded = 100
			f.l.Payments.Put(x)
		}, violations: 1, want: "refunds of committed transfer " + pid("x1") + " (only committed payments can be refunded)"},
		{name: "refund paid to the merchant", breakIt: func(f *fixture) {
			r, _ := f.l.Payments.Get(pid("r1"))
			r.From, r.To = "u-1", "m-1"
			f.l.Payments.Put(r)
		}, violations: 1, want: "moved u-1->m-1, not the payment's merchant->payer m-1->u-1"},
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
			p.Status = StatusRejected
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

// TestNothingToCheckIsNotApplicable: with nothing committed, acknowledged,
// cached or timed out, every invariant says it had nothing to check (not
// applicable, with what it needs) instead of passing; a violation found all
// the same still fails.
func TestNothingToCheckIsNotApplicable(t *testing.T) {
	empty := newFixture()
	empty.l.Payments = NewPayments(0)
	empty.l.Payments.Put(Payment{ID: "opening", Key: "opening", Kind: KindOpening, From: FundingAccount, To: "*", Amount: 20000, Status: StatusCommitted})
	empty.l.BonusGrants, empty.l.GrantAccounts = nil, nil
	withEntries(&empty)
	for id, a := range empty.l.Accounts {
		a.Points, a.Balance = 0, 0
		if id != "m-1" {
			a.Balance = 10000 // the opening balances only
		}
		empty.l.Accounts[id] = a
	}
	empty.history, empty.cached = nil, nil
	dur, _ := Durability(empty.history, empty.l)
	for _, inv := range []report.Invariant{
		Conservation(empty.l), NoNegative(empty.l), Idempotency(empty.history, empty.l), dur,
		Events(empty.l, nil), Logs(empty.history, empty.l, nil), Cache(empty.l, nil), Unknowns(empty.history, empty.l),
	} {
		if inv.State() != report.StatusNotApplicable || inv.OK || inv.Needs == "" || !strings.HasPrefix(inv.Detail, "not applicable") {
			t.Errorf("%s with nothing to check: %+v, want not-applicable with what it needs", inv.Name, inv)
		}
	}
	overdrawn := empty
	overdrawn.l.Accounts = maps.Clone(empty.l.Accounts)
	a := overdrawn.l.Accounts["u-1"]
	a.Balance = -5
	overdrawn.l.Accounts["u-1"] = a
	if inv := NoNegative(overdrawn.l); inv.State() != report.StatusFail {
		t.Fatalf("a negative balance with nothing committed: %+v, want fail", inv)
	}
}

// TestRegionDurability: after a region loss, acknowledged payments missing
// from the promoted ledger count against the RPO; one stored with another
// amount or status is a violation whatever the RPO allows.
func TestRegionDurability(t *testing.T) {
	tests := []struct {
		name     string
		breakIt  func(*fixture)
		rpo      int
		wantOK   bool
		wantLost int
		want     string
	}{
		{name: "nothing lost", rpo: 0, wantOK: true, want: "0 acknowledged payments lost"},
		{name: "lost within the rpo", rpo: 1, wantOK: true, wantLost: 1, breakIt: func(f *fixture) { f.l.Payments.Delete(pid("p2")) }, want: "1 acknowledged payments lost"},
		{name: "lost beyond the rpo", rpo: 0, wantLost: 1, breakIt: func(f *fixture) { f.l.Payments.Delete(pid("p2")) }, want: "rpo allows 0"},
		{name: "a changed amount is never within the rpo", rpo: 100, breakIt: func(f *fixture) {
			p, _ := f.l.Payments.Get(pid("p2"))
			p.Amount++
			f.l.Payments.Put(p)
		}, want: "1 stored with another amount or status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			if tc.breakIt != nil {
				tc.breakIt(&f)
			}
			inv, lost := RegionDurability(f.history, f.l, tc.rpo)
			if inv.OK != tc.wantOK || lost != tc.wantLost || !strings.Contains(inv.Detail, tc.want) {
				t.Fatalf("ok=%v lost=%d detail %q, want ok=%v lost=%d and %q (%+v)", inv.OK, lost, inv.Detail, tc.wantOK, tc.wantLost, tc.want, inv)
			}
		})
	}
}
