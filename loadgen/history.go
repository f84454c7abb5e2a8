package loadgen

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unique"
)

// Event types in history.jsonl. Every invoke is followed by exactly one of
// ok, fail or unknown with the same Key.
const (
	EventInvoke  = "invoke"  // the operation was first sent
	EventOK      = "ok"      // 2xx: it took effect
	EventFail    = "fail"    // definite no effect: 4xx, or never sent on any attempt
	EventUnknown = "unknown" // maybe took effect: timeout, 5xx or connection lost after the last attempt
)

// Event is one line of history.jsonl: what the client asked for and what it
// learned, enough for the checkers to re-check a run.
type Event struct {
	Type      string  `json:"type"`                 // invoke|ok|fail|unknown
	Op        string  `json:"op"`                   // topup|payment|transfer|refund|balance
	Key       string  `json:"key,omitempty"`        // idempotency key
	From      string  `json:"from,omitempty"`       // paying account (user_id / from / account_id for top-up; the account read for balance)
	To        string  `json:"to,omitempty"`         // receiving account (merchant_id / to)
	PaymentID string  `json:"payment_id,omitempty"` // refunds: the payment refunded
	Amount    int64   `json:"amount,omitempty"`
	Status    int     `json:"status,omitempty"`    // final HTTP status
	ResultID  string  `json:"result_id,omitempty"` // "id" from a 2xx response body
	Attempts  int     `json:"attempts,omitempty"`
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Error     string  `json:"error,omitempty"`
	TNS       int64   `json:"t_ns"` // nanoseconds since the run's start
}

// Sink receives history events. Implementations must be safe for concurrent
// use; Record may block briefly (back-pressure) but must not drop events.
type Sink interface {
	Record(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Record calls f(e).
func (f SinkFunc) Record(e Event) { f(e) }

// DefaultHistoryBuffer is the Recorder's channel capacity when none is given.
const DefaultHistoryBuffer = 8192

// Recorder writes events as JSON lines from a single goroutine fed by a
// bounded channel. When the writer falls behind, Record blocks until there is
// room: history must be complete for the checkers, so nothing is dropped
// while the recorder is open.
type Recorder struct {
	mu      sync.RWMutex // held for reading while sending, for writing while closing
	closed  bool
	ch      chan Event
	done    chan struct{}
	err     error // first write error; read after done is closed
	dropped atomic.Int64
	written atomic.Int64
}

// NewRecorder starts the writer goroutine over w with a channel of buffer
// events (DefaultHistoryBuffer when <= 0). Close it to flush.
func NewRecorder(w io.Writer, buffer int) *Recorder {
	if buffer <= 0 {
		buffer = DefaultHistoryBuffer
	}
	r := &Recorder{ch: make(chan Event, buffer), done: make(chan struct{})}
	go r.run(w)
	return r
}

// Record queues e for writing. After Close it only counts e as dropped.
func (r *Recorder) Record(e Event) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.dropped.Add(1)
		return
	}
	r.ch <- e
}

// Close stops accepting events, writes and flushes what was queued and
// returns the first write error.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.ch)
	}
	r.mu.Unlock()
	<-r.done
	return r.err
}

// Written is the number of events written so far.
func (r *Recorder) Written() int64 { return r.written.Load() }

// Dropped is the number of events recorded after Close (a caller bug).
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

func (r *Recorder) run(w io.Writer) {
	defer close(r.done)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	flushNow := func() {
		if r.err == nil {
			if err := bw.Flush(); err != nil {
				r.err = fmt.Errorf("history: flush: %w", err)
			}
		}
	}
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	pending := false // written to bw, not yet flushed; the timer is armed
	for {
		select {
		case e, ok := <-r.ch:
			if !ok {
				flushNow()
				return
			}
			if r.err == nil {
				if err := enc.Encode(e); err != nil {
					r.err = fmt.Errorf("history: write: %w", err)
				}
			}
			r.written.Add(1)
			if !pending {
				pending = true
				flush.Reset(historyFlushEvery)
			}
		case <-flush.C:
			pending = false
			flushNow()
		}
	}
}

// historyFlushEvery bounds how long a recorded event waits in the buffer,
// so the file can be followed while a run goes on. Flushing whenever the
// queue ran empty, as before, wrote nearly every event on its own at
// 500 payments/s: a thousand write calls a second.
const historyFlushEvery = 100 * time.Millisecond

// maxHistoryLine bounds one history line; events are a few hundred bytes.
const maxHistoryLine = 1 << 20

// ScanHistory streams history.jsonl, calling fn for each event in file order.
// It stops at the first malformed line (error names the line) or the first
// error from fn. Blank lines are skipped.
func ScanHistory(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxHistoryLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("history: line %d: %w", line, err)
		}
		if e.Type == "" {
			return fmt.Errorf("history: line %d: event without type", line)
		}
		// A long run's history repeats a few types, operations and
		// accounts hundreds of thousands of times: share one copy each.
		for _, f := range []*string{&e.Type, &e.Op, &e.From, &e.To} {
			*f = unique.Make(*f).Value()
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("history: line %d: %w", line+1, err)
	}
	return nil
}

// ReadHistory reads a whole history.jsonl into memory.
func ReadHistory(r io.Reader) ([]Event, error) {
	var evs []Event
	err := ScanHistory(r, func(e Event) error {
		evs = append(evs, e)
		return nil
	})
	return evs, err
}

// CheckPairs verifies that every invoke has exactly one completion with the
// same key, that no completion comes without its invoke, and returns the
// number of operations. Checkers and tests use it as a sanity gate.
func CheckPairs(evs []Event) (int, error) {
	open := make(map[string]bool, len(evs)/2)
	ops := 0
	for i, e := range evs {
		switch e.Type {
		case EventInvoke:
			if _, seen := open[e.Key]; seen {
				return ops, fmt.Errorf("history: event %d: key %q invoked twice", i, e.Key)
			}
			open[e.Key] = true
			ops++
		case EventOK, EventFail, EventUnknown:
			pending, seen := open[e.Key]
			switch {
			case !seen:
				return ops, fmt.Errorf("history: event %d: %s for key %q without invoke", i, e.Type, e.Key)
			case !pending:
				return ops, fmt.Errorf("history: event %d: second completion for key %q", i, e.Key)
			}
			open[e.Key] = false
		default:
			return ops, fmt.Errorf("history: event %d: unknown type %q", i, e.Type)
		}
	}
	for k, pending := range open {
		if pending {
			return ops, errors.New("history: invoke without completion for key " + k)
		}
	}
	return ops, nil
}
