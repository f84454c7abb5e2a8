package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePay is a tiny in-memory payment API following the contract loadgen
// drives: idempotent writes, 402 on insufficient funds, 404 on unknown ids.
type fakePay struct {
	mu       sync.Mutex
	balances map[string]int64
	payments map[string]fakePayment
	byKey    map[string]fakeReply
	seq      int
	writes   int // write requests seen, replays included
}

type fakePayment struct {
	user, merchant string
	refundable     int64
}

type fakeReply struct {
	status int
	body   string
}

// newFakePay serves a fakePay on 127.0.0.1 for the duration of the test.
func newFakePay(t testing.TB) (*fakePay, *httptest.Server) {
	t.Helper()
	f := &fakePay{balances: map[string]int64{}, payments: map[string]fakePayment{}, byKey: map[string]fakeReply{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/accounts/{id}", f.balance)
	mux.HandleFunc("POST /v1/{op}", f.write)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakePay) balance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	kind := "user"
	if strings.HasPrefix(id, "m-") {
		kind = "merchant"
	}
	f.mu.Lock()
	bal := f.balances[id]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q,"kind":%q,"balance":%d}`, id, kind, bal)
}

func (f *fakePay) write(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	var b body
	err := json.NewDecoder(r.Body).Decode(&b)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	reply, seen := f.byKey[key]
	switch {
	case key == "":
		reply = fakeReply{400, `{"error":"missing Idempotency-Key"}`}
	case seen:
	case err != nil || b.Amount <= 0:
		reply = fakeReply{400, `{"error":"bad request"}`}
	default:
		reply = f.apply(r.PathValue("op"), b)
		f.byKey[key] = reply
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(reply.status)
	fmt.Fprint(w, reply.body)
}

func (f *fakePay) apply(op string, b body) fakeReply {
	move := func(from, to string, amount int64, prefix string) fakeReply {
		if from != "" && f.balances[from] < amount {
			return fakeReply{402, `{"error":"insufficient funds"}`}
		}
		f.balances[from] -= amount
		f.balances[to] += amount
		f.seq++
		return fakeReply{201, fmt.Sprintf(`{"id":"%s-%d","status":"committed"}`, prefix, f.seq)}
	}
	switch op {
	case "topups":
		return move("", b.AccountID, b.Amount, "top")
	case "payments":
		reply := move(b.UserID, b.MerchantID, b.Amount, "pay")
		if reply.status == 201 {
			f.payments[fmt.Sprintf("pay-%d", f.seq)] = fakePayment{b.UserID, b.MerchantID, b.Amount}
		}
		return reply
	case "transfers":
		return move(b.From, b.To, b.Amount, "tr")
	case "refunds":
		p, ok := f.payments[b.PaymentID]
		switch {
		case !ok:
			return fakeReply{404, `{"error":"unknown payment"}`}
		case p.refundable < b.Amount:
			return fakeReply{409, `{"error":"refund exceeds payment"}`}
		}
		reply := move(p.merchant, p.user, b.Amount, "ref")
		if reply.status == 201 {
			p.refundable -= b.Amount
			f.payments[b.PaymentID] = p
		}
		return reply
	}
	return fakeReply{404, `{"error":"no such route"}`}
}

// newHandlerServer serves h on 127.0.0.1 for the duration of the test.
func newHandlerServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// memSink collects history events in memory.
type memSink struct {
	mu  sync.Mutex
	evs []Event
}

func (s *memSink) Record(e Event) {
	s.mu.Lock()
	s.evs = append(s.evs, e)
	s.mu.Unlock()
}

func (s *memSink) events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.evs...)
}

// refusedAddr returns a 127.0.0.1 address nobody listens on.
func refusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// testCtx is a context bounded by the test's deadline (or 30 s).
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
