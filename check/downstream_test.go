package check

import (
	"slices"
	"strings"
	"testing"

	"paysim/loadgen"
	"paysim/report"
)

// pid names a fixture payment by its short name; its idempotency key is
// "k-" + short name (see keyID). The fixture holds:
// p1 QR payment u-1 -> m-1, 1000 yen (5 points); p2 QR payment u-1 -> m-1,
// 100 yen (0 points); t1 top-up of u-2, 500 yen; x1 transfer u-2 -> u-1,
// 200 yen; r1 refund of 400 yen of p1 (m-1 -> u-1); j1 a rejected payment.
func pid(short string) string { return keyID("k-" + short) }

// keyID is the id of the fixture payment stored under an idempotency key.
// The checkers must not derive ids from keys (that is the app's scheme):
// they find a key's payments in the ledger.
func keyID(key string) string { return "pay-" + strings.TrimPrefix(key, "k-") }

// fixture is a small consistent final state: the ledger, the payments
// topic, the log document ids, the cache and the client's history.
type fixture struct {
	l       Ledger
	topic   []Event
	docs    map[string]bool
	cached  map[string]CachedBalance
	history []loadgen.Event
}

func newFixture() fixture {
	pay := func(key, kind, from, to string, amount int64, status string) Payment {
		return Payment{ID: keyID(key), Key: key, Kind: kind, From: from, To: to, Amount: amount, Status: status}
	}
	rows := []Payment{
		{ID: "opening", Key: "opening", Kind: KindOpening, From: FundingAccount, To: "*", Amount: 20000, Status: StatusCommitted},
		pay("k-p1", KindPayment, "u-1", "m-1", 1000, StatusCommitted),
		pay("k-p2", KindPayment, "u-1", "m-1", 100, StatusCommitted),
		pay("k-t1", KindTopup, FundingAccount, "u-2", 500, StatusCommitted),
		pay("k-x1", KindTransfer, "u-2", "u-1", 200, StatusCommitted),
		pay("k-r1", KindRefund, "m-1", "u-1", 400, StatusCommitted),
		pay("k-j1", KindPayment, "u-2", "m-1", 999999, StatusRejected),
	}
	rows[1].Refunded = 400
	rows[5].RefundOf = pid("p1")
	l := Ledger{
		Accounts: map[string]Account{
			"u-1": {ID: "u-1", Kind: AccountUser, Balance: 10000 - 1000 - 100 + 200 + 400, Points: 5, Version: 4},
			"u-2": {ID: "u-2", Kind: AccountUser, Balance: 10000 + 500 - 200, Version: 2},
			"m-1": {ID: "m-1", Kind: AccountMerchant, Balance: 1000 + 100 - 400, Version: 3},
		},
		Payments:      NewPayments(0),
		BonusGrants:   map[string]int64{pid("p1"): 5},
		GrantAccounts: map[string]string{pid("p1"): "u-1"},
	}
	f := fixture{l: l, docs: map[string]bool{}, cached: map[string]CachedBalance{}}
	for _, p := range rows {
		l.Payments.Put(p)
		if !deliverable(p) {
			continue
		}
		ev := Event{PaymentID: p.ID, Key: p.Key, Kind: p.Kind, From: p.From, To: p.To, Amount: p.Amount, RefundOf: p.RefundOf}
		f.topic = append(f.topic, ev)
		f.docs[CommittedLogID(p.ID)] = true
		op := loadgen.Event{Op: p.Kind, Key: p.Key, From: p.From, To: p.To, Amount: p.Amount}
		switch p.Kind {
		case KindTopup:
			op.From, op.To = p.To, ""
		case KindRefund:
			op.From, op.To, op.PaymentID = "", "", p.RefundOf
		}
		inv, ok := op, op
		inv.Type, ok.Type, ok.Status, ok.ResultID = loadgen.EventInvoke, loadgen.EventOK, 201, p.ID
		f.history = append(f.history, inv, ok)
	}
	f.topic = append(f.topic, f.topic[0]) // a redelivery: at least once is fine
	f.docs["app-eu-1-12345"] = true       // an unrelated log line
	f.history = append(f.history,
		loadgen.Event{Type: loadgen.EventInvoke, Op: loadgen.OpBalance, Key: "k-b1", From: "u-1"},
		loadgen.Event{Type: loadgen.EventOK, Op: loadgen.OpBalance, Key: "k-b1", From: "u-1", Status: 200, ResultID: "u-1"},
		loadgen.Event{Type: loadgen.EventInvoke, Op: loadgen.OpPayment, Key: "k-j1", From: "u-2", To: "m-1", Amount: 999999},
		loadgen.Event{Type: loadgen.EventFail, Op: loadgen.OpPayment, Key: "k-j1", From: "u-2", To: "m-1", Amount: 999999, Status: 402},
	)
	for id, a := range l.Accounts {
		if id != "u-2" { // not every account is cached
			f.cached[id] = CachedBalance{ID: id, Balance: a.Balance, Version: a.Version}
		}
	}
	return f
}

// setPoints changes an account's points column.
func (f *fixture) setPoints(id string, pts int64) {
	a := f.l.Accounts[id]
	a.Points = pts
	f.l.Accounts[id] = a
}

// complete changes the type of a key's completion event.
func (f *fixture) complete(key, typ string) {
	for i, e := range f.history {
		if e.Key == key && e.Type != loadgen.EventInvoke {
			f.history[i].Type = typ
			if typ != loadgen.EventOK {
				f.history[i].ResultID, f.history[i].Status = "", 0
			}
		}
	}
}

// invariantCase is one table row: break the fixture, run one checker,
// expect a verdict, a violation count and a word in the examples/detail.
type invariantCase struct {
	name       string
	breakIt    func(*fixture)
	ok         bool
	violations int
	want       string // substring of the examples (or the detail when ok)
	noneToDo   bool   // nothing to check: Checked may be 0
}

func runCases(t *testing.T, name string, check func(fixture) report.Invariant, cases []invariantCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture() // fresh: a case may break it
			if tc.breakIt != nil {
				tc.breakIt(&f)
			}
			inv := check(f)
			if inv.Name != name {
				t.Errorf("name %q, want %q", inv.Name, name)
			}
			if inv.OK != tc.ok || inv.Violations != tc.violations {
				t.Fatalf("ok=%v violations=%d, want ok=%v violations=%d\n%+v", inv.OK, inv.Violations, tc.ok, tc.violations, inv)
			}
			if inv.Checked == 0 && !tc.noneToDo {
				t.Errorf("checked nothing: %+v", inv)
			}
			if inv.Detail == "" || strings.Contains(inv.Detail, "\n") {
				t.Errorf("detail must be one line: %q", inv.Detail)
			}
			if len(inv.Examples) != min(inv.Violations, maxExamples) {
				t.Errorf("%d examples for %d violations", len(inv.Examples), inv.Violations)
			}
			text := inv.Detail + " | " + strings.Join(inv.Examples, " | ")
			if !strings.Contains(text, tc.want) {
				t.Errorf("want %q in %q", tc.want, text)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	runCases(t, NameEvents, func(f fixture) report.Invariant { return Events(f.l, f.topic) }, []invariantCase{
		{name: "clean with a duplicate delivery", ok: true, want: "5 committed payments in topic payments (1 duplicate deliveries); 1 bonus grants"},
		{name: "committed top-up never published", breakIt: func(f *fixture) {
			f.topic = slices.DeleteFunc(f.topic, func(e Event) bool { return e.PaymentID == pid("t1") })
		}, violations: 1, want: "committed topup " + pid("t1") + " (500 yen) is not in topic payments"},
		{name: "empty topic", breakIt: func(f *fixture) { f.topic = nil }, violations: 5, want: "5 of 5 committed payments not in Kafka"},
		{name: "event published for a rejected payment", breakIt: func(f *fixture) {
			f.topic = append(f.topic, Event{PaymentID: pid("j1"), Key: "k-j1", Kind: KindPayment, From: "u-2", To: "m-1", Amount: 999999})
		}, violations: 1, want: "event for payment " + pid("j1") + " but the payment is rejected"},
		{name: "event for a payment the ledger lost", breakIt: func(f *fixture) {
			f.topic = append(f.topic, Event{PaymentID: "pay-lost", Key: "k-lost", Kind: KindTransfer})
		}, violations: 1, want: "pay-lost (key k-lost) but the payment does not exist"},
		{name: "event disagrees with the row", breakIt: func(f *fixture) {
			f.topic[1].Amount = 200
		}, violations: 1, want: "says payment u-1->m-1 200, the ledger payment u-1->m-1 100"},
		{name: "bonus never granted", breakIt: func(f *fixture) {
			delete(f.l.BonusGrants, pid("p1"))
			delete(f.l.GrantAccounts, pid("p1"))
			f.setPoints("u-1", 0)
		}, violations: 1, want: "no bonus grant, want 5 points"},
		{name: "bonus applied twice (grant and points doubled)", breakIt: func(f *fixture) {
			f.l.BonusGrants[pid("p1")] = 10
			f.setPoints("u-1", 10)
		}, violations: 1, want: "granted 10 points, want 5"},
		{name: "points double-applied on redelivery", breakIt: func(f *fixture) {
			f.setPoints("u-1", 10)
		}, violations: 1, want: "account u-1: 10 points, its grants sum to 5"},
		{name: "grant below the bonus threshold", breakIt: func(f *fixture) {
			f.l.BonusGrants[pid("p2")] = 0
			f.l.GrantAccounts[pid("p2")] = "u-1"
		}, violations: 1, want: "earns no points but has a grant of 0"},
		{name: "grant for a transfer", breakIt: func(f *fixture) {
			f.l.BonusGrants[pid("x1")] = 1
			f.l.GrantAccounts[pid("x1")] = "u-2"
			f.setPoints("u-2", 1)
		}, violations: 1, want: "committed transfer " + pid("x1") + " (only committed payments earn points)"},
		{name: "grant for a rejected payment", breakIt: func(f *fixture) {
			f.l.BonusGrants[pid("j1")] = 4999
			f.l.GrantAccounts[pid("j1")] = "u-2"
			f.setPoints("u-2", 4999)
		}, violations: 1, want: "rejected payment " + pid("j1")},
		{name: "grant credited the merchant", breakIt: func(f *fixture) {
			f.l.GrantAccounts[pid("p1")] = "m-1"
			f.setPoints("u-1", 0)
			f.setPoints("m-1", 5)
		}, violations: 1, want: "credited m-1, the payer is u-1"},
	})
}

func TestLogs(t *testing.T) {
	runCases(t, NameLogs, func(f fixture) report.Invariant { return Logs(f.history, f.l, f.docs) }, []invariantCase{
		{name: "clean", ok: true, want: "5 acknowledged and 0 other committed payments have their log documents"},
		{name: "balance reads and rejected payments need no document", breakIt: func(f *fixture) {
			delete(f.docs, CommittedLogID(pid("j1")))
		}, ok: true, want: "5 acknowledged"},
		{name: "acknowledged payment without its document", breakIt: func(f *fixture) {
			delete(f.docs, CommittedLogID(pid("p2")))
		}, violations: 1, want: "acknowledged payment " + pid("p2") + " (key k-p2) has no log document " + pid("p2") + "-committed"},
		{name: "acknowledged without a result id falls back to the key", breakIt: func(f *fixture) {
			for i := range f.history {
				f.history[i].ResultID = ""
			}
			delete(f.docs, CommittedLogID(pid("x1")))
		}, violations: 1, want: "acknowledged transfer " + pid("x1")},
		{name: "acknowledged but lost from the ledger and the logs", breakIt: func(f *fixture) {
			f.l.Payments.Delete(pid("t1"))
			delete(f.docs, CommittedLogID(pid("t1")))
		}, violations: 1, want: "(and the payment is not committed in the ledger)"},
		{name: "committed after a timeout without its document", breakIt: func(f *fixture) {
			f.complete("k-r1", loadgen.EventUnknown)
			delete(f.docs, CommittedLogID(pid("r1")))
		}, violations: 1, want: "committed refund " + pid("r1") + " (not acknowledged to the client)"},
		{name: "no index at all", breakIt: func(f *fixture) { f.docs = map[string]bool{} },
			violations: 5, want: "5 of 5 acknowledged and 0 of 0 other"},
	})
}

func TestCache(t *testing.T) {
	runCases(t, NameCache, func(f fixture) report.Invariant { return Cache(f.l, f.cached) }, []invariantCase{
		{name: "clean, one account not cached", ok: true, want: "2 cached balances equal the ledger (1 of 3 accounts not cached)"},
		{name: "stale version", breakIt: func(f *fixture) {
			f.cached["u-1"] = CachedBalance{ID: "u-1", Balance: 9100, Version: 3}
		}, violations: 1, want: "account u-1: cached balance 9100 at version 3, ledger 9500 at version 4"},
		{name: "same version, other balance", breakIt: func(f *fixture) {
			f.cached["m-1"] = CachedBalance{ID: "m-1", Balance: 1100, Version: 3}
		}, violations: 1, want: "account m-1: cached balance 1100 at version 3"},
		{name: "cached account not in the ledger", breakIt: func(f *fixture) {
			f.cached["u-9"] = CachedBalance{ID: "u-9", Balance: 1, Version: 1}
		}, violations: 1, want: "cached account u-9 (balance 1, version 1) is not in the ledger"},
		{name: "empty cache is not applicable", breakIt: func(f *fixture) { f.cached = nil }, ok: false, noneToDo: true, want: "not applicable: 0 cached balances"},
	})
}

func TestUnknowns(t *testing.T) {
	unknown := func(keys ...string) func(*fixture) {
		return func(f *fixture) {
			for _, key := range keys {
				f.complete(key, loadgen.EventUnknown)
			}
			f.complete("k-j1", loadgen.EventUnknown) // resolved: rejected row only
			f.history = append(f.history,
				loadgen.Event{Type: loadgen.EventInvoke, Op: loadgen.OpTransfer, Key: "k-never", From: "u-1", To: "u-2", Amount: 5},
				loadgen.Event{Type: loadgen.EventUnknown, Op: loadgen.OpTransfer, Key: "k-never", From: "u-1", To: "u-2", Amount: 5},
				loadgen.Event{Type: loadgen.EventUnknown, Op: loadgen.OpBalance, Key: "k-b2", From: "u-1"})
		}
	}
	and := func(fns ...func(*fixture)) func(*fixture) {
		return func(f *fixture) {
			for _, fn := range fns {
				fn(f)
			}
		}
	}
	setRow := func(id string, change func(*Payment)) func(*fixture) {
		return func(f *fixture) {
			p, _ := f.l.Payments.Get(id)
			change(&p)
			f.l.Payments.Put(p)
		}
	}
	runCases(t, NameUnknowns, func(f fixture) report.Invariant { return Unknowns(f.history, f.l) }, []invariantCase{
		{name: "committed once, rejected, never arrived", breakIt: unknown("k-x1"), ok: true,
			want: "3 unknown outcomes resolved: 1 committed once, 2 not at all"},
		{name: "top-up and refund committed once", breakIt: unknown("k-t1", "k-r1"), ok: true,
			want: "4 unknown outcomes resolved: 2 committed once, 2 not at all"},
		{name: "committed twice under one key", breakIt: and(unknown("k-x1"), func(f *fixture) {
			dup, _ := f.l.Payments.Get(pid("x1"))
			dup.ID = "pay-dup"
			f.l.Payments.Put(dup)
		}), violations: 1, want: "unknown transfer (key k-x1) committed 2 times: [" + pid("x1") + " pay-dup]"},
		{name: "committed with another amount", breakIt: and(unknown("k-p1"), setRow(pid("p1"), func(p *Payment) { p.Amount = 2000 })),
			violations: 1, want: "its amount is 2000, requested 1000"},
		{name: "committed between other accounts", breakIt: and(unknown("k-x1"), setRow(pid("x1"), func(p *Payment) { p.To = "u-3" })),
			violations: 1, want: "it moved u-2->u-3, requested u-2->u-1"},
		{name: "top-up credited another account", breakIt: and(unknown("k-t1"), setRow(pid("t1"), func(p *Payment) { p.To = "u-1" })),
			violations: 1, want: "it credited u-1, requested u-2"},
		{name: "refund of another payment", breakIt: and(unknown("k-r1"), setRow(pid("r1"), func(p *Payment) { p.RefundOf = pid("p2") })),
			violations: 1, want: "it refunds " + pid("p2") + ", requested " + pid("p1")},
		{name: "committed as another kind", breakIt: and(unknown("k-x1"), setRow(pid("x1"), func(p *Payment) { p.Kind = KindPayment })),
			violations: 1, want: "committed as " + pid("x1") + " but it is a payment"},
	})
}

// TestExamplesAreDeterministic: with more violations than examples, a
// checker walking a map reports the smallest ids, sorted, every time.
func TestExamplesAreDeterministic(t *testing.T) {
	l := Ledger{Accounts: map[string]Account{}}
	cached := map[string]CachedBalance{}
	for _, id := range []string{"u-7", "u-3", "u-9", "u-1", "u-5", "u-8", "u-2", "u-6", "u-4"} {
		l.Accounts[id] = Account{ID: id, Balance: 10, Version: 2}
		cached[id] = CachedBalance{ID: id, Balance: 10, Version: 1}
	}
	var first []string
	for i := range 20 {
		inv := Cache(l, cached)
		if inv.Violations != 9 || len(inv.Examples) != maxExamples {
			t.Fatalf("%+v", inv)
		}
		for j, id := range []string{"u-1", "u-2", "u-3", "u-4", "u-5"} {
			if !strings.HasPrefix(inv.Examples[j], "account "+id+":") {
				t.Fatalf("example %d = %q, want account %s", j, inv.Examples[j], id)
			}
		}
		if i == 0 {
			first = inv.Examples
		} else if !slices.Equal(first, inv.Examples) {
			t.Fatalf("examples changed: %v then %v", first, inv.Examples)
		}
	}
}

// TestMapWalksKeepExampleOrder: the first four checkers walk their maps
// directly instead of sorting every key, and still report examples as the
// sorted walk did: by section, then by id.
func TestMapWalksKeepExampleOrder(t *testing.T) {
	l := Ledger{
		Accounts: map[string]Account{"u-2": {ID: "u-2", Balance: -5}, "u-1": {ID: "u-1", Balance: 7}},
		Payments: NewPayments(0),
		EntrySum: map[string]int64{"t-3": 1, "t-1": 2, "t-2": 0}, EntryCount: map[string]int{},
		AccountEntrySum: map[string]int64{"u-1": 7, "u-2": 0},
	}
	inv := Conservation(l)
	want := []string{
		"transaction t-1: entries sum to 2",
		"transaction t-3: entries sum to 1",
		"account u-2: balance -5 but ledger entries sum to 0",
		"sum of balances 2 != opening balances + top-ups 0 (difference 2)",
		"sum of balances 2 != money entered through ext-funding 0",
	}
	if !slices.Equal(inv.Examples, want) || inv.Violations != 5 {
		t.Errorf("conservation examples %q, want %q", inv.Examples, want)
	}
	if inv := NoNegative(l); inv.Violations != 1 || inv.Examples[0] != "account u-2: balance -5" {
		t.Errorf("no-negative: %+v", inv)
	}

	l.Payments.Put(Payment{ID: "a", Key: "k", Kind: KindPayment, Amount: 10, Status: StatusCommitted})
	l.Payments.Put(Payment{ID: "b", Key: "k", Kind: KindPayment, Amount: 10, Status: StatusCommitted})
	l.Payments.Put(Payment{ID: "r", Key: "kr", Kind: KindRefund, RefundOf: "a", Amount: 20, Status: StatusCommitted})
	h := []loadgen.Event{{Type: loadgen.EventOK, Key: "k", ResultID: "a"}, {Type: loadgen.EventOK, Key: "k", ResultID: "b"}}
	inv = Idempotency(h, l)
	want = []string{"key k: 2 committed payments [a b]", "payment a: refunded 20 of 10 (double refund)", "key k answered with two ids a and b"}
	if !slices.Equal(inv.Examples, want) {
		t.Errorf("idempotency examples %q, want %q", inv.Examples, want)
	}
}
