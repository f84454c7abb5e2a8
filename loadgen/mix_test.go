package loadgen

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// newMix builds a mix against a dummy base URL or fails the test.
func newMix(t testing.TB, cfg MixConfig, seed uint64) *Mix {
	t.Helper()
	m, err := NewMix(cfg, seed, "run", "http://127.0.0.1:1")
	if err != nil {
		t.Fatalf("NewMix: %v", err)
	}
	return m
}

// body is the union of the request bodies the mix sends.
type body struct {
	AccountID  string `json:"account_id"`
	UserID     string `json:"user_id"`
	MerchantID string `json:"merchant_id"`
	From       string `json:"from"`
	To         string `json:"to"`
	PaymentID  string `json:"payment_id"`
	Amount     int64  `json:"amount"`
}

// draw takes one target and decodes it into op and body.
func draw(t *testing.T, m *Mix) (vegeta.Target, string, body) {
	t.Helper()
	var tgt vegeta.Target
	if err := m.Next(&tgt); err != nil {
		t.Fatalf("Next: %v", err)
	}
	req, err := tgt.Request()
	if err != nil {
		t.Fatalf("target does not make a request: %v", err)
	}
	ev := describe(req, tgt.Body)
	var b body
	if tgt.Method == http.MethodPost {
		if err := json.Unmarshal(tgt.Body, &b); err != nil {
			t.Fatalf("body %q: %v", tgt.Body, err)
		}
	}
	return tgt, ev.Op, b
}

func TestMixSameSeedSameSequence(t *testing.T) {
	a, b, c := newMix(t, MixConfig{}, 42), newMix(t, MixConfig{}, 42), newMix(t, MixConfig{}, 43)
	differs := false
	for i := range 500 {
		ta, _, _ := draw(t, a)
		tb, _, _ := draw(t, b)
		tc, _, _ := draw(t, c)
		if !ta.Equal(&tb) {
			t.Fatalf("draw %d differs for the same seed:\n%+v\n%+v", i, ta, tb)
		}
		if ta.URL != tc.URL || string(ta.Body) != string(tc.Body) {
			differs = true
		}
	}
	if !differs {
		t.Error("seeds 42 and 43 produced the same 500 targets")
	}
}

func TestMixWeights(t *testing.T) {
	const n = 20000
	tests := []struct {
		name string
		w    Weights
	}{
		{"default", Weights{}},
		{"payments only", Weights{Payment: 1}},
		{"even", Weights{Payment: 1, Topup: 1, Transfer: 1, Refund: 1, Balance: 1}},
		{"refund heavy", Weights{Payment: 1, Refund: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMix(t, MixConfig{Weights: tt.w, PaidRing: 2 * n}, 7)
			for i := range n { // enough refund candidates for every draw
				m.Paid("p-"+strconv.Itoa(i), 1000)
			}
			counts := map[string]int{}
			for range n {
				_, op, _ := draw(t, m)
				counts[op]++
			}
			w := tt.w
			if w == (Weights{}) {
				w = DefaultWeights()
			}
			sum := w.Payment + w.Topup + w.Transfer + w.Refund + w.Balance
			want := map[string]float64{OpPayment: w.Payment, OpTopup: w.Topup, OpTransfer: w.Transfer, OpRefund: w.Refund, OpBalance: w.Balance}
			for op, wt := range want {
				got, exp := float64(counts[op])/n, wt/sum
				if math.Abs(got-exp) > 0.015 {
					t.Errorf("%s: share %.3f, want %.3f ±0.015 (counts %v)", op, got, exp, counts)
				}
			}
		})
	}
}

// TestMixTopupsOutpacePayments: whatever the weights, the yen users top up
// exceed what they pay merchants, so a long run at a steady mix does not
// drain them into refusals; a mix without top-ups is left as written.
func TestMixTopupsOutpacePayments(t *testing.T) {
	const n = 50000
	tests := []struct {
		name    string
		w       Weights
		wantOut bool // top-ups outpace payments
	}{
		{"scenario default", Weights{Payment: 70, Topup: 10, Transfer: 15, Refund: 5}, true},
		{"loadgen default", Weights{}, true},
		{"rare top-ups", Weights{Payment: 95, Topup: 1}, true},
		{"no top-ups", Weights{Payment: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMix(t, MixConfig{Weights: tt.w}, 11)
			var in, out int64
			for range n {
				_, op, b := draw(t, m)
				switch op {
				case OpTopup:
					in += b.Amount
					if b.Amount%1000 != 0 {
						t.Fatalf("top-up of %d yen is not a whole thousand", b.Amount)
					}
				case OpPayment:
					out += b.Amount
				}
			}
			if got := in > out; got != tt.wantOut {
				t.Fatalf("topped up %d yen, paid %d: outpaced %v, want %v", in, out, got, tt.wantOut)
			}
		})
	}
}

// TestMixAutoCharge: a user refused for funds tops up next, in the order
// the refusals came; the queue is bounded and an empty user is ignored.
func TestMixAutoCharge(t *testing.T) {
	tests := []struct {
		name     string
		declined []string
		want     []string // users of the next top-ups, in order
	}{
		{name: "one refusal", declined: []string{"u-7"}, want: []string{"u-7"}},
		{name: "in order", declined: []string{"u-3", "u-1", "u-3"}, want: []string{"u-3", "u-1", "u-3"}},
		{name: "empty user", declined: []string{""}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMix(t, MixConfig{Weights: Weights{Payment: 1}}, 3)
			for _, u := range tt.declined {
				m.Declined(u)
			}
			for _, want := range tt.want {
				tgt, op, b := draw(t, m)
				if op != OpTopup || b.AccountID != want || b.Amount <= 0 {
					t.Fatalf("next target %s %s %+v, want a top-up of %s", tgt.Method, tgt.URL, b, want)
				}
			}
			if _, op, _ := draw(t, m); op != OpPayment {
				t.Fatalf("after the auto-charges: %s, want the mix (payments only)", op)
			}
		})
	}
	m := newMix(t, MixConfig{Weights: Weights{Payment: 1}}, 3)
	for range maxCharges + 10 {
		m.Declined("u-1")
	}
	if len(m.charge) != maxCharges {
		t.Fatalf("queue holds %d, want it bounded at %d", len(m.charge), maxCharges)
	}
}

func TestMixRefundsReferencePaidPayments(t *testing.T) {
	m := newMix(t, MixConfig{Weights: Weights{Refund: 1}}, 1)

	// Nothing paid yet: a refund turns into a payment.
	if _, op, _ := draw(t, m); op != OpPayment {
		t.Fatalf("with no paid payments got %s, want payment", op)
	}

	paid := map[string]int64{"pay-1": 1000, "pay-2": 500, "pay-3": 1}
	for id, amt := range paid {
		m.Paid(id, amt)
	}
	m.Paid("", 100)     // ignored: no id
	m.Paid("pay-x", 0)  // ignored: nothing to refund
	m.Paid("pay-y", -5) // ignored
	refunded := map[string]int64{}
	for range 1000 {
		_, op, b := draw(t, m)
		if op == OpPayment {
			break // ring exhausted
		}
		if op != OpRefund {
			t.Fatalf("got %s, want refund", op)
		}
		if _, ok := paid[b.PaymentID]; !ok {
			t.Fatalf("refund of %q, which was never paid", b.PaymentID)
		}
		if b.Amount <= 0 {
			t.Fatalf("refund amount %d", b.Amount)
		}
		refunded[b.PaymentID] += b.Amount
	}
	for id, amt := range paid {
		if refunded[id] != amt {
			t.Errorf("%s: refunded %d in total, want exactly the %d paid", id, refunded[id], amt)
		}
	}
}

func TestMixPaidRingIsBounded(t *testing.T) {
	m := newMix(t, MixConfig{Weights: Weights{Refund: 1}, PaidRing: 3}, 1)
	for i := range 10 {
		m.Paid("pay-"+strconv.Itoa(i), 100)
	}
	if len(m.ring) != 3 {
		t.Fatalf("ring holds %d, want 3", len(m.ring))
	}
	want := map[string]bool{"pay-7": true, "pay-8": true, "pay-9": true}
	for _, p := range m.ring {
		if !want[p.id] {
			t.Errorf("ring kept old payment %s, want only the newest 3", p.id)
		}
	}
}

func TestMixShapes(t *testing.T) {
	m := newMix(t, MixConfig{Users: 100, Merchants: 20}, 3)
	keys := map[string]bool{}
	merchants := map[string]int{}
	payments := 0
	for range 5000 {
		tgt, op, b := draw(t, m)
		key := tgt.Header.Get("Idempotency-Key")
		if !strings.HasPrefix(key, "run-") || keys[key] {
			t.Fatalf("key %q: want fresh run-<seq>", key)
		}
		keys[key] = true
		if tgt.Method == http.MethodPost && tgt.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("POST without JSON content type: %v", tgt.Header)
		}
		switch op {
		case OpPayment:
			payments++
			merchants[b.MerchantID]++
			if b.Amount < 100 || b.Amount > 50000 {
				t.Errorf("payment amount %d out of ¥100..50,000", b.Amount)
			}
		case OpTopup:
			if b.Amount < 1000 || b.Amount > 50000 || !strings.HasPrefix(b.AccountID, "u-") {
				t.Errorf("top-up %+v", b)
			}
		case OpTransfer:
			if b.From == b.To || b.Amount < 500 || b.Amount > 10000 {
				t.Errorf("transfer %+v", b)
			}
		case OpBalance:
			if tgt.Method != http.MethodGet || tgt.Body != nil {
				t.Errorf("balance target %+v", tgt)
			}
		case OpRefund:
			t.Errorf("refund drawn with nothing paid")
		default:
			t.Fatalf("unexpected op %q for %s %s", op, tgt.Method, tgt.URL)
		}
	}
	// Zipf: m-1 is the hottest merchant and far above a uniform share.
	for name, n := range merchants {
		if n > merchants["m-1"] {
			t.Errorf("%s (%d) hotter than m-1 (%d)", name, n, merchants["m-1"])
		}
	}
	if uniform := payments / 20; merchants["m-1"] < 3*uniform {
		t.Errorf("m-1 got %d payments, want > 3× uniform (%d)", merchants["m-1"], uniform)
	}
}

func TestMixConcurrent(t *testing.T) {
	m := newMix(t, MixConfig{}, 9)
	var wg sync.WaitGroup
	var mu sync.Mutex
	keys := map[string]bool{}
	for range 8 {
		wg.Go(func() {
			for i := range 500 {
				var tgt vegeta.Target
				if err := m.Next(&tgt); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					m.Paid(tgt.Header.Get("Idempotency-Key"), 100)
				}
				mu.Lock()
				keys[tgt.Header.Get("Idempotency-Key")] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(keys) != 8*500 {
		t.Errorf("%d distinct keys, want %d", len(keys), 8*500)
	}
}

func TestNewMixErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   MixConfig
		runID string
		urls  []string
		want  string
	}{
		{"no url", MixConfig{}, "r", nil, "no target"},
		{"bad url", MixConfig{}, "r", []string{"127.0.0.1:80"}, "not an http"},
		{"no run id", MixConfig{}, "", []string{"http://x"}, "run id"},
		{"negative weight", MixConfig{Weights: Weights{Payment: -1, Topup: 2}}, "r", []string{"http://x"}, "negative weight"},
		{"one user", MixConfig{Users: 1}, "r", []string{"http://x"}, "2 users"},
		{"flat skew", MixConfig{MerchantSkew: 1}, "r", []string{"http://x"}, "skew"},
		{"negative merchants", MixConfig{Merchants: -1}, "r", []string{"http://x"}, "merchant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMix(tt.cfg, 1, tt.runID, tt.urls...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestMixRoundRobinTargets(t *testing.T) {
	m, err := NewMix(MixConfig{Weights: Weights{Topup: 1}}, 1, "r", "http://a:1/", "http://b:2")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for range 4 {
		tgt, _, _ := draw(t, m)
		hosts = append(hosts, strings.TrimSuffix(tgt.URL, "/v1/topups"))
	}
	if strings.Join(hosts, " ") != "http://a:1 http://b:2 http://a:1 http://b:2" {
		t.Errorf("targets %v, want alternating", hosts)
	}
}
