package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/failpoint"

	"paysim/check"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
	"paysim/sim/lb"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// bugStack is stacktest.New with seeded bugs switched on before the schema
// is created (some bugs change it) and the run's failpoints returned.
func bugStack(t *testing.T, bugs ...string) (*stack.Stack, *failpoint.Failpoints) {
	t.Helper()
	fps := &failpoint.Failpoints{}
	if err := payments.EnableBugs(fps, bugs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := stack.Up(ctx, stack.Config{
		Topology:   sim.DefaultTopology(),
		Accounts:   payments.Accounts{Users: 20, Merchants: 3, InitialBalance: 10_000},
		Dir:        t.TempDir(),
		Failpoints: fps,
		LB:         lb.Config{Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("stack up: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return s, fps
}

// loadLedger reads the stack's ledger as the checks do.
func loadLedger(t *testing.T, s *stack.Stack) check.Ledger {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := check.LoadLedger(ctx, s.Ledger())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// overdraw pays within u-2's 10,000 yen, then 10,001 yen more than is left:
// refused with 402 on the clean build.
func overdraw(t *testing.T, s *stack.Stack, _ *failpoint.Failpoints) ([]loadgen.Event, int) {
	t.Helper()
	if r := post(t, s, "/v1/payments", "od-1", `{"user_id":"u-2","merchant_id":"m-1","amount":500}`); r.status != http.StatusCreated {
		t.Fatalf("payment within the balance: %d %s", r.status, r.body)
	}
	r := post(t, s, "/v1/payments", "od-2", `{"user_id":"u-2","merchant_id":"m-1","amount":10001}`)
	return nil, r.status
}

// retryAfterTimeout pays once through the load generator's client with a
// 300 ms attempt timeout while the first attempt stalls 1.5 s after its
// commit: the client times out and retries the same key.
func retryAfterTimeout(t *testing.T, s *stack.Stack, fps *failpoint.Failpoints) ([]loadgen.Event, int) {
	t.Helper()
	if err := fps.Enable(payments.FPAfterCommit, `1*return("1500ms")`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fps.Disable(payments.FPAfterCommit) })
	var mu sync.Mutex
	var hist []loadgen.Event
	c := &http.Client{Transport: &loadgen.Client{
		Policy: loadgen.RetryPolicy{MaxAttempts: 3, AttemptTimeout: 300 * time.Millisecond, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		History: loadgen.SinkFunc(func(e loadgen.Event) {
			mu.Lock()
			defer mu.Unlock()
			hist = append(hist, e)
		}),
	}}
	req, err := http.NewRequest(http.MethodPost, s.Endpoints().API.URL+"/v1/payments", strings.NewReader(`{"user_id":"u-3","merchant_id":"m-2","amount":700}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "rt-1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("payment: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if n := len(hist); n != 2 || hist[1].Attempts < 2 {
		t.Fatalf("history %+v: want an invoke and a completion after a retry", hist)
	}
	return hist, resp.StatusCode
}

// TestNewSeededBugsCaughtByTheirInvariant: each new seeded bug, driven
// through the real stack, fails the invariant meant to catch it (and only
// that one of conservation, no-negative-balance, idempotency, durability
// and unknown-outcomes, besides those a case names as also catching it);
// the clean build passes them all.
func TestNewSeededBugsCaughtByTheirInvariant(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack")
	}
	tests := []struct {
		bug   string
		drive func(*testing.T, *stack.Stack, *failpoint.Failpoints) ([]loadgen.Event, int)
		// clean and buggy are the final answer to the driven request.
		clean, buggy int
		// also are invariants that rightly fail too: an acknowledged
		// id stored under another key is durability's as well (f72ce75).
		also []string
	}{
		{payments.BugOverdraft, overdraw, http.StatusPaymentRequired, http.StatusCreated, nil},
		{payments.BugRetryNewPayment, retryAfterTimeout, http.StatusCreated, http.StatusCreated, []string{"durability"}},
	}
	invariantOf := map[string]string{}
	for _, b := range payments.Bugs() {
		invariantOf[b.Name] = b.Invariant
	}
	for _, tc := range tests {
		invariant := invariantOf[tc.bug]
		if invariant == "" {
			t.Fatalf("bug %s is not listed by payments.Bugs()", tc.bug)
		}
		for _, on := range []bool{false, true} {
			name := "clean"
			if on {
				name = tc.bug
			}
			t.Run(tc.bug+"/"+name, func(t *testing.T) {
				var bugs []string
				want := tc.clean
				if on {
					bugs, want = []string{tc.bug}, tc.buggy
				}
				s, fps := bugStack(t, bugs...)
				hist, status := tc.drive(t, s, fps)
				if status != want {
					t.Fatalf("status %d, want %d", status, want)
				}
				waitDrained(t, s)
				l := loadLedger(t, s)
				dur, _ := check.Durability(hist, l)
				for _, inv := range []report.Invariant{check.Conservation(l), check.NoNegative(l), check.Idempotency(hist, l), dur, check.Unknowns(hist, l)} {
					st := inv.State()
					switch {
					case on && inv.Name == invariant && st != report.StatusFail:
						t.Errorf("%s not caught: %s %s", inv.Name, st, inv.Detail)
					case on && inv.Name != invariant && !slices.Contains(tc.also, inv.Name) && st == report.StatusFail:
						t.Errorf("%s failed too (the bug is %s's to catch): %s %v", inv.Name, invariant, inv.Detail, inv.Examples)
					case on && slices.Contains(tc.also, inv.Name) && st != report.StatusFail:
						t.Errorf("%s not caught as well: %s %s", inv.Name, st, inv.Detail)
					case !on && st == report.StatusFail:
						t.Errorf("clean build fails %s: %s %v", inv.Name, inv.Detail, inv.Examples)
					}
				}
			})
		}
	}
}

// TestRefundRuleAgreesWithChecker drives refunds through the service and
// holds each answer to the checker's own refund rules (check.Refundable,
// check.RefundWithin): the app enforces the limit in the ledger's schema,
// so this is where the two statements of the rule meet.
func TestRefundRuleAgreesWithChecker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack")
	}
	s, _ := bugStack(t)
	pay := func(key, path, body string) string {
		t.Helper()
		r := post(t, s, path, key, body)
		var res struct{ ID string }
		if r.status != http.StatusCreated || json.Unmarshal([]byte(r.body), &res) != nil {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		return res.ID
	}
	payment := pay("rf-p1", "/v1/payments", `{"user_id":"u-1","merchant_id":"m-1","amount":1000}`)
	small := pay("rf-p2", "/v1/payments", `{"user_id":"u-4","merchant_id":"m-2","amount":500}`)
	transfer := pay("rf-x1", "/v1/transfers", `{"from":"u-5","to":"u-6","amount":300}`)
	kinds := map[string]string{payment: check.KindPayment, small: check.KindPayment, transfer: check.KindTransfer}
	paid := map[string]int64{payment: 1000, small: 500, transfer: 300}
	refunded := map[string]int64{}
	tests := []struct {
		name   string
		of     string
		amount int64
	}{
		{"part of a payment", payment, 400},
		{"the rest of it", payment, 600},
		{"one yen beyond", payment, 1},
		{"more than paid at once", small, 501},
		{"all of it at once", small, 500},
		{"again, all of it", small, 500},
		{"a transfer", transfer, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			allowed := check.Refundable(kinds[tc.of], check.StatusCommitted) && check.RefundWithin(paid[tc.of], refunded[tc.of]+tc.amount)
			r := post(t, s, "/v1/refunds", fmt.Sprintf("rf-r%d", i), fmt.Sprintf(`{"payment_id":%q,"amount":%d}`, tc.of, tc.amount))
			if accepted := r.status == http.StatusCreated; accepted != allowed {
				t.Fatalf("app answered %d %s; the checker's rule allows it: %v", r.status, r.body, allowed)
			}
			if r.status == http.StatusCreated {
				refunded[tc.of] += tc.amount
			} else if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("refused with %d %s, want 422", r.status, r.body)
			}
		})
	}
}
