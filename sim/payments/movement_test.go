package payments

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestMovementChecksAccountsInItsRoundTrip: a movement checks that its
// accounts exist and are of the kinds it needs inside its one round trip
// (no lookup before it); a movement naming a missing account or one of the
// wrong kind is rejected with 404 or 422, moves no money and writes no
// ledger entry, as an overdraft is rejected with 402.
func TestMovementChecksAccountsInItsRoundTrip(t *testing.T) {
	tests := []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{"payment", "/v1/payments", `{"user_id":"u-1","merchant_id":"m-1","amount":100}`, http.StatusCreated, ""},
		{"top-up", "/v1/topups", `{"account_id":"u-2","amount":100}`, http.StatusCreated, ""},
		{"transfer", "/v1/transfers", `{"from":"u-1","to":"u-2","amount":100}`, http.StatusCreated, ""},
		{"unknown payer", "/v1/payments", `{"user_id":"u-99","merchant_id":"m-1","amount":100}`, http.StatusNotFound, "account u-99 not found"},
		{"unknown merchant", "/v1/payments", `{"user_id":"u-1","merchant_id":"m-99","amount":100}`, http.StatusNotFound, "account m-99 not found"},
		{"payment to a user", "/v1/payments", `{"user_id":"u-1","merchant_id":"u-2","amount":100}`, http.StatusUnprocessableEntity, "account u-2 is a user"},
		{"payment from a merchant", "/v1/payments", `{"user_id":"m-2","merchant_id":"m-1","amount":100}`, http.StatusUnprocessableEntity, "account m-2 is a merchant"},
		{"top-up of a merchant", "/v1/topups", `{"account_id":"m-1","amount":100}`, http.StatusUnprocessableEntity, "account m-1 is a merchant"},
		{"transfer to an unknown user", "/v1/transfers", `{"from":"u-1","to":"u-77","amount":100}`, http.StatusNotFound, "account u-77 not found"},
		// The balance moves before the entries are written, so a debit that
		// would overdraw fails first.
		{"too little money for a payee of the wrong kind", "/v1/payments", `{"user_id":"u-1","merchant_id":"u-2","amount":900000}`, http.StatusPaymentRequired, "insufficient funds"},
		{"overdraft", "/v1/payments", `{"user_id":"u-3","merchant_id":"m-1","amount":900000}`, http.StatusPaymentRequired, "insufficient funds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, writes, direct := ledgerService(t, "")
			ctx := context.Background()
			state := func() (total int64, entries int) {
				t.Helper()
				if err := direct.QueryRow("SELECT SUM(balance) FROM accounts").Scan(&total); err != nil {
					t.Fatal(err)
				}
				if err := direct.QueryRow("SELECT COUNT(*) FROM ledger_entries").Scan(&entries); err != nil {
					t.Fatal(err)
				}
				return total, entries
			}
			total0, entries0 := state()
			m, aerr := ParseMovement(tc.path, "k-"+strings.NewReplacer(" ", "-", ":", "").Replace(tc.name), strings.NewReader(tc.body))
			if aerr != nil {
				t.Fatal(aerr.Error)
			}
			before := writes.Load()
			res, err := s.apply(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if res.HTTPStatus != tc.status || !strings.Contains(res.Error, tc.msg) {
				t.Fatalf("answer %d %q, want %d %q", res.HTTPStatus, res.Error, tc.status, tc.msg)
			}
			total, entries := state()
			if tc.status != http.StatusCreated {
				if total != total0 || entries != entries0 {
					t.Fatalf("a rejected movement moved money: balances %d -> %d, entries %d -> %d", total0, total, entries0, entries)
				}
				return
			}
			if n := writes.Load() - before; n != 1 {
				t.Errorf("a movement took %d round trips, want 1", n)
			}
			if entries != entries0+2 {
				t.Errorf("entries %d -> %d, want two more", entries0, entries)
			}
			if m.Op != OpTopup && total != total0 {
				t.Errorf("balances sum %d -> %d for a movement between accounts", total0, total)
			}
		})
	}
}
