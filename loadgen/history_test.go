package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"paysim/internal/syncbuf"
	"paysim/internal/testwait"
)

// newRecorder records into a buffer; the cleanup closes it if the test did not.
func newRecorder(t *testing.T, buffer int) (*Recorder, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	r := NewRecorder(&buf, buffer)
	t.Cleanup(func() { r.Close() })
	return r, &buf
}

func TestHistoryRoundTrip(t *testing.T) {
	evs := []Event{
		{Type: EventInvoke, Op: OpPayment, Key: "r-1", From: "u-1", To: "m-1", Amount: 480, TNS: 1000},
		{Type: EventInvoke, Op: OpRefund, Key: "r-2", PaymentID: "pay-9", Amount: 100, TNS: 1500},
		{Type: EventOK, Op: OpPayment, Key: "r-1", From: "u-1", To: "m-1", Amount: 480, Status: 201,
			ResultID: "pay-1", Attempts: 3, LatencyMS: 12.5, TNS: 2000},
		{Type: EventUnknown, Op: OpRefund, Key: "r-2", PaymentID: "pay-9", Amount: 100, Attempts: 3,
			Error: `loadgen: outcome unknown after 3 attempts: context deadline exceeded "<&>"`, TNS: 0},
	}
	r, buf := newRecorder(t, 2)
	for _, e := range evs {
		r.Record(e)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != len(evs) {
		t.Fatalf("%d lines, want %d:\n%s", lines, len(evs), buf)
	}
	if !strings.Contains(buf.String(), `"t_ns":0`) {
		t.Errorf("t_ns must always be written:\n%s", buf)
	}
	got, err := ReadHistory(buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("read %d events, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i] != evs[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], evs[i])
		}
	}
	if n, err := CheckPairs(got); err != nil || n != 2 {
		t.Errorf("CheckPairs = %d, %v; want 2 operations", n, err)
	}
}

func TestRecorderConcurrentBackPressure(t *testing.T) {
	r, buf := newRecorder(t, 4) // tiny buffer: writers must wait, never drop
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				key := fmt.Sprintf("g%d-%d", g, i)
				r.Record(Event{Type: EventInvoke, Op: OpTopup, Key: key})
				r.Record(Event{Type: EventOK, Op: OpTopup, Key: key, Status: 201})
			}
		})
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadHistory(buf)
	if err != nil {
		t.Fatal(err)
	}
	n, err := CheckPairs(evs)
	if err != nil || n != 8*500 {
		t.Fatalf("CheckPairs = %d, %v; want %d operations", n, err, 8*500)
	}
	if r.Written() != 2*8*500 || r.Dropped() != 0 {
		t.Errorf("written %d dropped %d", r.Written(), r.Dropped())
	}
	r.Record(Event{Type: EventInvoke, Key: "late"})
	if r.Dropped() != 1 {
		t.Errorf("a Record after Close must be counted as dropped")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestRecorderFlushesWhileOpen: events reach the file within
// historyFlushEvery while the recorder stays open (the file can be
// followed during a run), not only at Close.
func TestRecorderFlushesWhileOpen(t *testing.T) {
	var out syncbuf.Buffer
	r := NewRecorder(&out, 0)
	t.Cleanup(func() { r.Close() })
	r.Record(Event{Type: EventInvoke, Op: "topup", Key: "k1"})
	testwait.For(t, 5*time.Second, "the first event in the file", func() bool {
		return strings.Count(out.String(), "\n") == 1
	})
	r.Record(Event{Type: EventOK, Op: "topup", Key: "k1"})
	testwait.For(t, 5*time.Second, "the second event in the file", func() bool {
		return strings.Count(out.String(), "\n") == 2
	})
	if got := out.String(); !strings.Contains(got, `"key":"k1"`) || !strings.HasPrefix(got, `{"type":"invoke"`) {
		t.Fatalf("file = %q, want the invoke then the ok of k1", got)
	}
}

func TestRecorderWriteError(t *testing.T) {
	r := NewRecorder(failingWriter{}, 0)
	for range 3 {
		r.Record(Event{Type: EventInvoke, Key: "k"})
	}
	if err := r.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close() = %v, want the write error", err)
	}
}

func TestReadHistoryErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"malformed", "{\"type\":\"invoke\",\"t_ns\":1}\n{nope\n", "line 2"},
		{"no type", "{\"op\":\"payment\",\"t_ns\":1}\n", "line 1: event without type"},
		{"too long", `{"type":"invoke","error":"` + strings.Repeat("x", maxHistoryLine) + `"}`, "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadHistory(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	evs, err := ReadHistory(strings.NewReader("\n{\"type\":\"invoke\",\"key\":\"a\",\"t_ns\":1}\n\n"))
	if err != nil || len(evs) != 1 {
		t.Errorf("blank lines: %v, %v", evs, err)
	}
	stop := errors.New("stop")
	if err := ScanHistory(strings.NewReader("{\"type\":\"ok\",\"t_ns\":1}\n"), func(Event) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("ScanHistory must return fn's error, got %v", err)
	}
}

func TestCheckPairs(t *testing.T) {
	inv := func(k string) Event { return Event{Type: EventInvoke, Key: k} }
	ok := func(k string) Event { return Event{Type: EventOK, Key: k} }
	tests := []struct {
		name string
		evs  []Event
		want string // "" = valid
	}{
		{"interleaved", []Event{inv("a"), inv("b"), ok("b"), {Type: EventFail, Key: "a"}}, ""},
		{"empty", nil, ""},
		{"missing completion", []Event{inv("a"), inv("b"), ok("a")}, "without completion"},
		{"completion without invoke", []Event{ok("a")}, "without invoke"},
		{"two completions", []Event{inv("a"), ok("a"), {Type: EventUnknown, Key: "a"}}, "second completion"},
		{"key reused", []Event{inv("a"), ok("a"), inv("a")}, "invoked twice"},
		{"bad type", []Event{{Type: "retry", Key: "a"}}, "unknown type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckPairs(tt.evs)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
