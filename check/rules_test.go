package check_test

import (
	"encoding/json"
	"testing"

	"paysim/check"
	"paysim/sim/payments"
)

// The checkers state the business rules on their own (rules.go) so that a
// wrong rule in the app is not confirmed by the oracle running the same
// code. These tests hold the two statements to one table of cases: a change
// to either alone fails here, and whoever changes a rule must change both,
// on purpose. The refund limit, enforced by the ledger's schema, is held
// against the running service in sim/stack's tests.

func TestLedgerVocabularyAgrees(t *testing.T) {
	tests := []struct{ name, checker, app string }{
		{"committed", check.StatusCommitted, payments.StatusCommitted},
		{"rejected", check.StatusRejected, payments.StatusRejected},
		{"opening", check.KindOpening, payments.OpOpening},
		{"topup", check.KindTopup, payments.OpTopup},
		{"payment", check.KindPayment, payments.OpPayment},
		{"transfer", check.KindTransfer, payments.OpTransfer},
		{"refund", check.KindRefund, payments.OpRefund},
		{"funding account", check.FundingAccount, payments.FundingAccount},
		{"user", check.AccountUser, payments.KindUser},
		{"merchant", check.AccountMerchant, payments.KindMerchant},
	}
	for _, tc := range tests {
		if tc.checker != tc.app {
			t.Errorf("%s: checker says %q, app %q", tc.name, tc.checker, tc.app)
		}
	}
}

func TestBonusRuleAgrees(t *testing.T) {
	// want is the spec: 0.5% of the amount, rounded down.
	tests := []struct{ amount, want int64 }{
		{1, 0}, {100, 0}, {199, 0}, {200, 1}, {201, 1}, {399, 1}, {400, 2},
		{1000, 5}, {1050, 5}, {3735, 18}, {9999, 49}, {10000, 50}, {49_900, 249},
		{payments.MaxAmount - 1, 49_999}, {payments.MaxAmount, 50_000},
	}
	for _, tc := range tests {
		app, checker := payments.BonusPoints(tc.amount), check.BonusPoints(tc.amount)
		if app != tc.want || checker != tc.want {
			t.Errorf("%d yen: app grants %d points, checker expects %d, the rule says %d", tc.amount, app, checker, tc.want)
		}
	}
}

func TestCacheFormatAgrees(t *testing.T) {
	for _, id := range []string{"u-1", "m-500", "u-123456789"} {
		if app, checker := payments.BalanceKey(id), check.BalanceCacheKey(id); app != checker {
			t.Errorf("key of %s: app %q, checker %q", id, app, checker)
		}
	}
	tests := []struct {
		member           string
		ok               bool
		version, balance int64
	}{
		{"3:1000", true, 3, 1000},
		{"0:0", true, 0, 0},
		{"17:-250", true, 17, -250},
		{"9223372036854775807:9223372036854775807", true, 1<<63 - 1, 1<<63 - 1},
		{"9223372036854775808:1", false, 0, 0}, // overflow
		{"1:2:3", false, 0, 0},
		{"1000", false, 0, 0},
		{"1:", false, 0, 0},
		{":1", false, 0, 0},
		{"", false, 0, 0},
		{"v3:100", false, 0, 0},
		{"3:1e3", false, 0, 0},
		{"3: 100", false, 0, 0},
	}
	for _, tc := range tests {
		app, appOK := payments.ParseCachedBalance("u-1", tc.member)
		got, ok := check.ParseCachedBalance("u-1", tc.member)
		if appOK != tc.ok || ok != tc.ok {
			t.Errorf("%q: app ok=%v, checker ok=%v, want %v", tc.member, appOK, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if app.ID != got.ID || app.Version != got.Version || app.Balance != got.Balance || got.Version != tc.version || got.Balance != tc.balance {
			t.Errorf("%q: app %+v, checker %+v, want version %d balance %d", tc.member, app, got, tc.version, tc.balance)
		}
	}
}

func TestLogIDAgrees(t *testing.T) {
	for _, id := range []string{"pay-0123456789abcdef0123", "opening", ""} {
		if app, checker := payments.CommittedLogID(id), check.CommittedLogID(id); app != checker {
			t.Errorf("log id of %q: app %q, checker %q", id, app, checker)
		}
	}
}

func TestEventRecordAgrees(t *testing.T) {
	events := []payments.Event{
		{PaymentID: "pay-1", Key: "k-1", Kind: payments.OpPayment, From: "u-1", To: "m-1", Amount: 1000, CommittedNS: 42, Instance: "app-a-0", AZ: "a"},
		{PaymentID: "pay-2", Key: "k-2", Kind: payments.OpRefund, From: "m-1", To: "u-1", Amount: 400, RefundOf: "pay-1", CommittedNS: 43},
		{PaymentID: "pay-3", Key: "k-3", Kind: payments.OpTopup, From: payments.FundingAccount, To: "u-2", Amount: 500},
	}
	for _, ev := range events {
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var got check.Event
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		want := check.Event{PaymentID: ev.PaymentID, Key: ev.Key, Kind: ev.Kind, From: ev.From, To: ev.To, Amount: ev.Amount,
			RefundOf: ev.RefundOf, CommittedNS: ev.CommittedNS, Instance: ev.Instance, AZ: ev.AZ}
		if got != want {
			t.Errorf("record %s read as %+v, want %+v", raw, got, want)
		}
		// And back: the checker's record carries every field the app's has.
		back, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var again payments.Event
		if err := json.Unmarshal(back, &again); err != nil || again != ev {
			t.Errorf("round trip of %s: %+v (%v)", raw, again, err)
		}
	}
}
