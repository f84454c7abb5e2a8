package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hang in a script makes the handler hold the request until the client goes away.
const hang = -1

// scripted answers attempt i with script[i] (the last entry repeats) and
// remembers what each attempt carried.
type scripted struct {
	mu     sync.Mutex
	script []int
	keys   []string
	bodies []string
}

func newScripted(t *testing.T, script ...int) (*scripted, *httptest.Server) {
	t.Helper()
	s := &scripted{script: script}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.keys)
		s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
		s.bodies = append(s.bodies, string(b))
		status := s.script[min(n, len(s.script)-1)]
		s.mu.Unlock()
		if status == hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(status)
		if status < 300 {
			io.WriteString(w, `{"id":"pay-1","status":"committed"}`)
		} else {
			io.WriteString(w, `{"error":"scripted"}`)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblock hanging handlers
	return s, srv
}

func (s *scripted) attempts() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...), append([]string(nil), s.bodies...)
}

// fastPolicy retries quickly so tests stay short.
func fastPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, AttemptTimeout: 150 * time.Millisecond,
		BaseBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Deadline: 3 * time.Second}
}

// newClient returns a retrying Client over a fresh transport and its history.
func newClient(t *testing.T, p RetryPolicy) (*Client, *memSink) {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	sink := &memSink{}
	return &Client{Next: tr, Policy: p, History: sink, Epoch: time.Now()}, sink
}

// pay sends one payment through c and returns the response (nil on error).
func pay(t *testing.T, c *Client, url, key string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, url+"/v1/payments",
		strings.NewReader(`{"user_id":"u-1","merchant_id":"m-2","amount":480}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := (&http.Client{Transport: c}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b, nil
}

// onePair checks the history is exactly invoke + one completion for key.
func onePair(t *testing.T, evs []Event, key string) Event {
	t.Helper()
	if len(evs) != 2 || evs[0].Type != EventInvoke || evs[1].Type == EventInvoke {
		t.Fatalf("history = %+v, want invoke then one completion", evs)
	}
	inv, done := evs[0], evs[1]
	if inv.Key != key || done.Key != key {
		t.Fatalf("keys %q/%q, want %q", inv.Key, done.Key, key)
	}
	if inv.Op != OpPayment || inv.From != "u-1" || inv.To != "m-2" || inv.Amount != 480 {
		t.Errorf("invoke %+v does not describe the payment", inv)
	}
	if done.Op != inv.Op || done.From != inv.From || done.To != inv.To || done.Amount != inv.Amount {
		t.Errorf("completion %+v does not repeat the operation", done)
	}
	if done.TNS < inv.TNS {
		t.Errorf("completion at %d before invoke at %d", done.TNS, inv.TNS)
	}
	return done
}

func TestClientRetries(t *testing.T) {
	tests := []struct {
		name         string
		script       []int
		policy       RetryPolicy
		noKey        bool
		wantType     string
		wantAttempts int
		wantStatus   int
		wantErr      error
		wantResultID string
	}{
		{name: "503 twice then 201", script: []int{503, 503, 201}, wantType: EventOK, wantAttempts: 3, wantStatus: 201, wantResultID: "pay-1"},
		{name: "first try", script: []int{201}, wantType: EventOK, wantAttempts: 1, wantStatus: 201, wantResultID: "pay-1"},
		{name: "400 not retried", script: []int{400, 201}, wantType: EventFail, wantAttempts: 1, wantStatus: 400},
		{name: "402 not retried", script: []int{402, 201}, wantType: EventFail, wantAttempts: 1, wantStatus: 402},
		{name: "always 503", script: []int{503}, wantType: EventUnknown, wantAttempts: 3, wantStatus: 503},
		{name: "hang then 201", script: []int{hang, 201}, wantType: EventOK, wantAttempts: 2, wantStatus: 201, wantResultID: "pay-1"},
		{name: "hangs on every attempt", script: []int{hang}, wantType: EventUnknown, wantAttempts: 3, wantErr: ErrOutcomeUnknown},
		{name: "unkeyed write not retried", script: []int{503, 201}, noKey: true, wantType: EventUnknown, wantAttempts: 1, wantStatus: 503},
		{name: "single attempt policy", script: []int{503, 201},
			policy: RetryPolicy{MaxAttempts: 1, AttemptTimeout: time.Second}, wantType: EventUnknown, wantAttempts: 1, wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := newScripted(t, tt.script...)
			p := tt.policy
			if p == (RetryPolicy{}) {
				p = fastPolicy()
			}
			c, sink := newClient(t, p)
			key := "k-1"
			if tt.noKey {
				key = ""
			}
			resp, body, err := pay(t, c, ts.URL, key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (resp.StatusCode != tt.wantStatus || len(body) == 0) {
				t.Errorf("response %d %q, want %d with its body", resp.StatusCode, body, tt.wantStatus)
			}
			done := onePair(t, sink.events(), key)
			if done.Type != tt.wantType || done.Attempts != tt.wantAttempts || done.Status != tt.wantStatus || done.ResultID != tt.wantResultID {
				t.Errorf("completion %+v, want type %s attempts %d status %d result %q",
					done, tt.wantType, tt.wantAttempts, tt.wantStatus, tt.wantResultID)
			}
			if done.Type != EventOK && done.Error == "" {
				t.Errorf("%s completion without error text", done.Type)
			}
			keys, bodies := srv.attempts()
			if len(keys) != tt.wantAttempts {
				t.Fatalf("server saw %d attempts, want %d", len(keys), tt.wantAttempts)
			}
			for i := range keys {
				if keys[i] != key || bodies[i] != bodies[0] || bodies[i] == "" {
					t.Errorf("attempt %d carried key %q body %q; want key %q and the first body %q", i+1, keys[i], bodies[i], key, bodies[0])
				}
			}
		})
	}
}

func TestClientDeadlineBoundsRetries(t *testing.T) {
	_, ts := newScripted(t, hang)
	p := RetryPolicy{MaxAttempts: 100, AttemptTimeout: 100 * time.Millisecond,
		BaseBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Deadline: 400 * time.Millisecond}
	c, sink := newClient(t, p)
	start := time.Now()
	_, _, err := pay(t, c, ts.URL, "k-d")
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
	}
	if took := time.Since(start); took > p.Deadline+time.Second {
		t.Errorf("took %s, want about the %s deadline", took, p.Deadline)
	}
	done := onePair(t, sink.events(), "k-d")
	if done.Type != EventUnknown || done.Attempts < 2 || done.Attempts > 5 {
		t.Errorf("completion %+v, want unknown after a handful of attempts", done)
	}
}

func TestClientConnectionRefused(t *testing.T) {
	c, sink := newClient(t, fastPolicy())
	_, _, err := pay(t, c, "http://"+refusedAddr(t), "k-r")
	if !errors.Is(err, ErrNotSent) {
		t.Fatalf("err = %v, want ErrNotSent", err)
	}
	done := onePair(t, sink.events(), "k-r")
	if done.Type != EventFail || done.Attempts != 3 || done.Status != 0 || !strings.Contains(done.Error, "refused") {
		t.Errorf("completion %+v, want fail after 3 refused attempts", done)
	}
	if got := Classify(0, !strings.Contains(err.Error(), ErrNotSent.Error())); got != EventFail {
		t.Errorf("the flattened error classifies as %s, want fail", got)
	}
}

func TestClientAbort(t *testing.T) {
	srv, ts := newScripted(t, hang)
	c, sink := newClient(t, RetryPolicy{MaxAttempts: 3, AttemptTimeout: time.Minute, Deadline: time.Hour})
	abort, cancel := context.WithCancel(context.Background())
	c.Abort = abort
	errc := make(chan error, 1)
	go func() {
		_, _, err := pay(t, c, ts.URL, "k-a")
		errc <- err
	}()
	waitFor(t, func() bool { keys, _ := srv.attempts(); return len(keys) == 1 }) // the server has it
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
		}
	case <-testCtx(t).Done():
		t.Fatal("abort did not end the operation")
	}
	if done := onePair(t, sink.events(), "k-a"); done.Type != EventUnknown || done.Attempts != 1 {
		t.Errorf("completion %+v, want unknown after 1 attempt", done)
	}
}

func TestClientBalanceAndIdempotentReplay(t *testing.T) {
	f, ts := newFakePay(t)
	c, sink := newClient(t, fastPolicy())
	hc := &http.Client{Transport: c}
	do := func(method, path, key, body string) int {
		req, err := http.NewRequestWithContext(testCtx(t), method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do(http.MethodPost, "/v1/topups", "t-1", `{"account_id":"u-1","amount":1000}`); got != 201 {
		t.Fatalf("top-up: %d", got)
	}
	if got := do(http.MethodPost, "/v1/topups", "t-1", `{"account_id":"u-1","amount":1000}`); got != 201 {
		t.Fatalf("top-up replay: %d", got)
	}
	if got := do(http.MethodGet, "/v1/accounts/u-1", "b-1", ""); got != 200 {
		t.Fatalf("balance: %d", got)
	}
	if got := do(http.MethodPost, "/v1/refunds", "r-1", `{"payment_id":"nope","amount":10}`); got != 404 {
		t.Fatalf("refund of unknown payment: %d", got)
	}
	f.mu.Lock()
	bal := f.balances["u-1"]
	f.mu.Unlock()
	if bal != 1000 {
		t.Errorf("balance %d after a replayed top-up, want 1000", bal)
	}
	evs := sink.events()
	want := []Event{
		{Type: EventInvoke, Op: OpTopup, Key: "t-1", From: "u-1", Amount: 1000},
		{Type: EventOK, Op: OpTopup, Key: "t-1", From: "u-1", Amount: 1000, Status: 201, ResultID: "top-1", Attempts: 1},
		{Type: EventInvoke, Op: OpTopup, Key: "t-1", From: "u-1", Amount: 1000},
		{Type: EventOK, Op: OpTopup, Key: "t-1", From: "u-1", Amount: 1000, Status: 201, ResultID: "top-1", Attempts: 1},
		{Type: EventInvoke, Op: OpBalance, Key: "b-1", From: "u-1"},
		{Type: EventOK, Op: OpBalance, Key: "b-1", From: "u-1", Status: 200, ResultID: "u-1", Attempts: 1},
		{Type: EventInvoke, Op: OpRefund, Key: "r-1", PaymentID: "nope", Amount: 10},
		{Type: EventFail, Op: OpRefund, Key: "r-1", PaymentID: "nope", Amount: 10, Status: 404, Attempts: 1},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i := range want {
		got := evs[i]
		got.TNS, got.LatencyMS, got.Error = 0, 0, ""
		if got != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	p := RetryPolicy{BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	tests := []struct {
		attempt  int
		lo, hi   time.Duration
		validErr string
	}{
		{attempt: 1, lo: 50 * time.Millisecond, hi: 100 * time.Millisecond},
		{attempt: 2, lo: 100 * time.Millisecond, hi: 200 * time.Millisecond},
		{attempt: 3, lo: 200 * time.Millisecond, hi: 400 * time.Millisecond},
		{attempt: 10, lo: 500 * time.Millisecond, hi: time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if got := p.backoff(tt.attempt); got < tt.lo || got >= tt.hi {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s)", tt.attempt, got, tt.lo, tt.hi)
			}
		}
	}
	bad := []struct {
		name string
		p    RetryPolicy
		want string
	}{
		{"negative attempts", RetryPolicy{MaxAttempts: -1}, "attempts"},
		{"negative timeout", RetryPolicy{AttemptTimeout: -time.Second}, "negative"},
		{"inverted backoff", RetryPolicy{BaseBackoff: time.Second, MaxBackoff: time.Millisecond}, "max backoff"},
	}
	for _, tt := range bad {
		if err := tt.p.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	if err := (RetryPolicy{}).Validate(); err != nil {
		t.Errorf("zero policy: %v", err)
	}
	deadlines := []struct {
		p    RetryPolicy
		want time.Duration
	}{
		{DefaultRetryPolicy(), 8 * time.Second},
		{RetryPolicy{AttemptTimeout: 30 * time.Second}, 92 * time.Second},
		{RetryPolicy{MaxAttempts: 1, AttemptTimeout: time.Second}, time.Second},
		{RetryPolicy{Deadline: time.Second}, time.Second},
	}
	for _, d := range deadlines {
		if got := d.p.withDefaults().Deadline; got != d.want {
			t.Errorf("%+v: deadline %s, want %s", d.p, got, d.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		sent   bool
		want   string
	}{
		{200, true, EventOK}, {201, true, EventOK}, {400, true, EventFail}, {402, true, EventFail},
		{409, true, EventFail}, {500, true, EventUnknown}, {503, true, EventUnknown},
		{0, true, EventUnknown}, {0, false, EventFail}, {302, true, EventUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.status, tt.sent); got != tt.want {
			t.Errorf("Classify(%d, %v) = %s, want %s", tt.status, tt.sent, got, tt.want)
		}
	}
}

// waitFor polls cond until it holds or the test context ends.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx := testCtx(t)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met before the test deadline")
		case <-tick.C:
		}
	}
}

func TestResultID(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"id":"pay-1","status":"committed"}`, "pay-1"},
		{`{"status":"ok", "id" : "a\"b"}`, `a"b`},
		{`{"id":42}`, "42"},
		{`{"id":null}`, ""},
		{`{"status":"committed"}`, ""},
		{`not json`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := resultID([]byte(tt.body)); got != tt.want {
			t.Errorf("resultID(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
