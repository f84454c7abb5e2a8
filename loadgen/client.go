package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"
)

// ErrNotSent marks an operation that never reached the server on any attempt
// (every dial failed, e.g. connection refused): it definitely had no effect.
// vegeta flattens errors to strings, so Classify looks for its text.
var ErrNotSent = errors.New("loadgen: request never sent")

// ErrOutcomeUnknown marks an operation abandoned after a timeout, a lost
// connection or a 5xx on its last attempt: it may or may not have taken effect.
var ErrOutcomeUnknown = errors.New("loadgen: outcome unknown")

// maxResponseBody bounds how much of a response the client keeps.
const maxResponseBody = 1 << 20

// RetryPolicy is how a mobile client retries: each attempt gets its own
// timeout; timeouts, connection errors and 5xx are retried with the same
// idempotency key and body after an exponential backoff with jitter, within
// an overall deadline. 4xx is never retried. Zero fields take the values of
// DefaultRetryPolicy; a zero Deadline gives every attempt its full timeout
// plus the longest backoffs.
type RetryPolicy struct {
	MaxAttempts    int           // attempts including the first; 1 disables retries
	AttemptTimeout time.Duration // bound on one attempt, response body included
	BaseBackoff    time.Duration // backoff before the second attempt (before jitter)
	MaxBackoff     time.Duration // ceiling of one backoff
	Deadline       time.Duration // bound on the whole operation, backoffs included
}

// DefaultRetryPolicy is 3 attempts of 2 s each, backoff 100 ms doubling up to
// 1 s, 8 s overall.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, AttemptTimeout: 2 * time.Second,
		BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 3
	}
	if p.AttemptTimeout == 0 {
		p.AttemptTimeout = 2 * time.Second
	}
	if p.BaseBackoff == 0 {
		p.BaseBackoff = 100 * time.Millisecond
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = max(time.Second, p.BaseBackoff)
	}
	if p.Deadline == 0 && p.MaxAttempts > 0 {
		p.Deadline = time.Duration(p.MaxAttempts)*p.AttemptTimeout + time.Duration(p.MaxAttempts-1)*p.MaxBackoff
	}
	return p
}

// Validate reports a policy that cannot work.
func (p RetryPolicy) Validate() error {
	p = p.withDefaults()
	switch {
	case p.MaxAttempts < 1:
		return errors.New("retry: max attempts must be >= 1")
	case p.AttemptTimeout < 0 || p.BaseBackoff < 0 || p.MaxBackoff < 0 || p.Deadline < 0:
		return errors.New("retry: negative duration")
	case p.MaxBackoff < p.BaseBackoff:
		return errors.New("retry: max backoff below base backoff")
	}
	return nil
}

// backoff returns the wait after the given failed attempt (1-based): the
// ceiling doubles from BaseBackoff up to MaxBackoff, and the wait is drawn in
// [ceiling/2, ceiling) so that retrying clients spread out.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.BaseBackoff
	for i := 1; i < attempt && ceiling < p.MaxBackoff; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxBackoff)
	half := ceiling / 2
	if half <= 0 {
		return ceiling
	}
	return half + rand.N(half)
}

// Client is the http.RoundTripper behind vegeta: it retries like a mobile
// client (see RetryPolicy) and records each operation's invoke and single
// completion to History, so vegeta's results and the history agree.
//
// Requests are retried only when they carry an Idempotency-Key or are
// GET/HEAD: re-sending an unkeyed write could apply it twice.
type Client struct {
	Next    http.RoundTripper // the real transport; nil means http.DefaultTransport
	Policy  RetryPolicy
	History Sink      // nil records nothing
	Epoch   time.Time // time zero of Event.TNS; zero means the Unix epoch
	// Abort, when done, abandons in-flight operations (Ctrl-C): they complete
	// at once as unknown, or fail when nothing was ever sent.
	Abort context.Context
}

var _ http.RoundTripper = (*Client)(nil)

// RoundTrip runs one operation: up to Policy.MaxAttempts attempts of the same
// request. It returns the final response (2xx, 4xx, or the last 5xx) with its
// body buffered, or an error wrapping ErrNotSent or ErrOutcomeUnknown.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	p := c.Policy.withDefaults()
	body, err := readAndClose(req.Body)
	if err != nil {
		return nil, fmt.Errorf("loadgen: read request body: %w", err)
	}
	ev := describe(req, body)
	ev.Type, ev.TNS = EventInvoke, c.tns(start)
	c.record(ev)

	ctx := req.Context()
	switch {
	case c.Abort == nil:
	case ctx.Done() == nil:
		ctx = c.Abort // vegeta's requests cannot be cancelled: Abort is all there is
	default:
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(c.Abort, cancel)
		defer stop()
	}
	deadline := start.Add(p.Deadline)

	retryable := ev.Key != "" || req.Method == http.MethodGet || req.Method == http.MethodHead
	var (
		resp     *http.Response
		respBody []byte
		lastErr  error
		sentAny  bool
		attempts int
	)
	for attempts = 1; ; attempts++ {
		var sent bool
		attemptDeadline := time.Now().Add(p.AttemptTimeout)
		if attemptDeadline.After(deadline) {
			attemptDeadline = deadline
		}
		resp, respBody, sent, lastErr = c.attempt(ctx, req, body, attemptDeadline)
		sentAny = sentAny || sent
		if lastErr == nil && resp.StatusCode < 500 {
			break // a definite answer
		}
		if !retryable || attempts >= p.MaxAttempts || ctx.Err() != nil {
			break
		}
		wait := p.backoff(attempts)
		if time.Until(deadline) <= wait || !sleepCtx(ctx, wait) {
			break // no time left for another attempt
		}
	}

	ev.Attempts = attempts
	ev.LatencyMS = float64(time.Since(start)) / float64(time.Millisecond)
	ev.TNS = c.tns(time.Now())
	if lastErr != nil {
		ev.Type = EventUnknown
		wrap := ErrOutcomeUnknown
		if !sentAny {
			ev.Type, wrap = EventFail, ErrNotSent
		}
		err := fmt.Errorf("%w after %d attempts: %w", wrap, attempts, lastErr)
		ev.Error = err.Error()
		c.record(ev)
		return nil, err
	}
	ev.Status = resp.StatusCode
	ev.Type = Classify(resp.StatusCode, true)
	switch ev.Type {
	case EventOK:
		ev.ResultID = resultID(respBody)
	default:
		ev.Error = errorText(resp.Status, respBody)
	}
	c.record(ev)
	resp.Request = req
	return resp, nil
}

// attempt sends one copy of the request. sent reports whether a connection
// was obtained, i.e. whether the server may have seen any of it.
func (c *Client) attempt(ctx context.Context, req *http.Request, body []byte, deadline time.Time) (resp *http.Response, respBody []byte, sent bool, err error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var gotConn atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	r := req.Clone(ctx)
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err = next.RoundTrip(r)
	if err != nil {
		return nil, nil, gotConn.Load(), err
	}
	respBody, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()
	if err != nil {
		return nil, nil, true, fmt.Errorf("read response: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	resp.ContentLength = int64(len(respBody))
	return resp, respBody, true, nil
}

func (c *Client) record(e Event) {
	if c.History != nil {
		c.History.Record(e)
	}
}

func (c *Client) tns(t time.Time) int64 {
	if c.Epoch.IsZero() {
		return t.UnixNano()
	}
	return t.Sub(c.Epoch).Nanoseconds()
}

// Classify maps a final HTTP status to a history outcome: 2xx ok, 4xx fail
// (a definite business rejection), anything else unknown. Status 0 means no
// response: fail if nothing was ever sent, unknown otherwise.
func Classify(status int, sent bool) string {
	switch {
	case status >= 200 && status < 300:
		return EventOK
	case status >= 400 && status < 500:
		return EventFail
	case status == 0 && !sent:
		return EventFail
	}
	return EventUnknown
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func readAndClose(rc io.ReadCloser) ([]byte, error) {
	if rc == nil || rc == http.NoBody {
		return nil, nil
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// describe derives the history fields of an operation from its route and body.
func describe(req *http.Request, body []byte) Event {
	ev := Event{Key: req.Header.Get("Idempotency-Key")}
	path := strings.TrimRight(req.URL.Path, "/")
	if req.Method == http.MethodGet {
		if i := strings.LastIndex(path, "/v1/accounts/"); i >= 0 {
			ev.Op = OpBalance
			ev.From = path[i+len("/v1/accounts/"):]
			return ev
		}
		ev.Op = "other"
		return ev
	}
	var b struct {
		AccountID  string `json:"account_id"`
		UserID     string `json:"user_id"`
		MerchantID string `json:"merchant_id"`
		From       string `json:"from"`
		To         string `json:"to"`
		PaymentID  string `json:"payment_id"`
		Amount     int64  `json:"amount"`
	}
	_ = json.Unmarshal(body, &b) // bad-input requests are recorded with what parsed
	ev.Amount = b.Amount
	switch {
	case strings.HasSuffix(path, "/v1/topups"):
		ev.Op, ev.From = OpTopup, b.AccountID
	case strings.HasSuffix(path, "/v1/payments"):
		ev.Op, ev.From, ev.To = OpPayment, b.UserID, b.MerchantID
	case strings.HasSuffix(path, "/v1/transfers"):
		ev.Op, ev.From, ev.To = OpTransfer, b.From, b.To
	case strings.HasSuffix(path, "/v1/refunds"):
		ev.Op, ev.PaymentID = OpRefund, b.PaymentID
	default:
		ev.Op = "other"
	}
	return ev
}

// resultID extracts "id" from a JSON response body, if any.
func resultID(body []byte) string {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &r) != nil || len(r.ID) == 0 {
		return ""
	}
	if n := len(r.ID); n >= 2 && r.ID[0] == '"' && bytes.IndexByte(r.ID, '\\') < 0 {
		return string(r.ID[1 : n-1]) // plain string: no need to unquote
	}
	var s string
	if json.Unmarshal(r.ID, &s) == nil {
		return s
	}
	return string(r.ID) // numeric ids
}

// errorText is the status line plus the start of the body, for history.
func errorText(status string, body []byte) string {
	const limit = 200
	b := strings.TrimSpace(string(body[:min(len(body), limit)]))
	if b == "" {
		return status
	}
	return status + ": " + b
}
