package payments

import (
	"net/http"
	"strings"
	"testing"
)

func TestParseMovement(t *testing.T) {
	const pid = "pay-0123456789abcdef0123"
	tests := []struct {
		name   string
		path   string
		key    string
		body   string
		want   Movement
		status int // 0 means accepted
		msg    string
	}{
		{name: "topup", path: "/v1/topups", key: "k1", body: `{"account_id":"u-1","amount":500}`,
			want: Movement{Op: OpTopup, Key: "k1", To: "u-1", Amount: 500}},
		{name: "payment", path: "/v1/payments", key: "k2", body: `{"user_id":"u-1","merchant_id":"m-2","amount":1200}`,
			want: Movement{Op: OpPayment, Key: "k2", From: "u-1", To: "m-2", Amount: 1200}},
		{name: "transfer", path: "/v1/transfers", key: "k3", body: `{"from":"u-1","to":"u-2","amount":1}`,
			want: Movement{Op: OpTransfer, Key: "k3", From: "u-1", To: "u-2", Amount: 1}},
		{name: "refund", path: "/v1/refunds", key: "k4", body: `{"payment_id":"` + pid + `","amount":100}`,
			want: Movement{Op: OpRefund, Key: "k4", PaymentID: pid, Amount: 100}},
		{name: "max amount", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":10000000}`,
			want: Movement{Op: OpTopup, Key: "k", To: "u-1", Amount: MaxAmount}},

		{name: "missing key", path: "/v1/topups", body: `{"account_id":"u-1","amount":5}`, status: 400, msg: "Idempotency-Key"},
		{name: "bad key", path: "/v1/topups", key: "a b'--", body: `{"account_id":"u-1","amount":5}`, status: 400, msg: "Idempotency-Key"},
		{name: "negative", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":-5}`, status: 400, msg: "positive"},
		{name: "zero", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":0}`, status: 400, msg: "positive"},
		{name: "fractional", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":1.5}`, status: 400, msg: "whole number"},
		{name: "exponent", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":1e3}`, status: 400, msg: "whole number"},
		{name: "string amount", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":"100"}`, status: 400, msg: "not a string"},
		{name: "overflow", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":99999999999999999999}`, status: 400, msg: "overflows"},
		{name: "over limit", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":10000001}`, status: 400, msg: "exceeds"},
		{name: "null amount", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":null}`, status: 400, msg: "integer"},
		{name: "malformed json", path: "/v1/topups", key: "k", body: `{"account_id":"u-1",`, status: 400, msg: "malformed"},
		{name: "not an object", path: "/v1/topups", key: "k", body: `[1,2]`, status: 400, msg: "object"},
		{name: "trailing data", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":5}{}`, status: 400, msg: "trailing"},
		{name: "duplicate field", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":5,"amount":500000}`, status: 400, msg: "duplicate"},
		{name: "unknown field", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":5,"admin":true}`, status: 400, msg: "unknown field"},
		{name: "missing field", path: "/v1/payments", key: "k", body: `{"user_id":"u-1","amount":5}`, status: 400, msg: "missing field"},
		{name: "sql injection id", path: "/v1/payments", key: "k", body: `{"user_id":"u-1' OR '1'='1","merchant_id":"m-1","amount":5}`, status: 400, msg: "valid id"},
		{name: "script id", path: "/v1/transfers", key: "k", body: `{"from":"<script>alert(1)</script>","to":"u-2","amount":5}`, status: 400, msg: "valid id"},
		{name: "numeric id", path: "/v1/transfers", key: "k", body: `{"from":1,"to":"u-2","amount":5}`, status: 400, msg: "string"},
		{name: "self transfer", path: "/v1/transfers", key: "k", body: `{"from":"u-1","to":"u-1","amount":5}`, status: 422, msg: "same account"},
		{name: "bad payment id", path: "/v1/refunds", key: "k", body: `{"payment_id":"1; DROP TABLE payments","amount":5}`, status: 400, msg: "valid id"},
		{name: "oversized", path: "/v1/topups", key: "k", body: `{"account_id":"u-1","amount":5,"pad":"` + strings.Repeat("x", 5000) + `"}`, status: 413, msg: "larger"},
		{name: "unknown route", path: "/v1/withdrawals", key: "k", body: `{}`, status: 404, msg: "no such route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, aerr := ParseMovement(tc.path, tc.key, strings.NewReader(tc.body))
			if tc.status == 0 {
				if aerr != nil {
					t.Fatalf("rejected: %d %s", aerr.Status, aerr.Error)
				}
				if got != tc.want {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			if aerr == nil {
				t.Fatalf("accepted %+v, want %d", got, tc.status)
			}
			if aerr.Status != tc.status || !strings.Contains(aerr.Error, tc.msg) {
				t.Fatalf("got %d %q, want %d containing %q", aerr.Status, aerr.Error, tc.status, tc.msg)
			}
			if aerr.Status < http.StatusBadRequest || aerr.Status >= 500 {
				t.Fatalf("status %d is not a 4xx", aerr.Status)
			}
		})
	}
}

func FuzzParseMovement(f *testing.F) {
	f.Add("/v1/payments", "k", `{"user_id":"u-1","merchant_id":"m-1","amount":100}`)
	f.Add("/v1/refunds", "k", `{"payment_id":"pay-0123456789abcdef0123","amount":1}`)
	f.Add("/v1/topups", "", `{"account_id":"u-1","amount":1e400}`)
	f.Fuzz(func(t *testing.T, path, key, body string) {
		m, aerr := ParseMovement(path, key, strings.NewReader(body))
		if aerr != nil {
			if aerr.Status < 400 || aerr.Status > 499 || aerr.Error == "" {
				t.Fatalf("bad rejection %+v", aerr)
			}
			return
		}
		if m.Amount <= 0 || m.Amount > MaxAmount || m.Key == "" {
			t.Fatalf("accepted invalid movement %+v", m)
		}
	})
}
