package payments

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"paysim/sim/embedded/redisnode"
)

// blackHole is a TCP listener that accepts connections and never answers:
// a Kafka broker that is paused or cut off.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
			go func() { <-done; c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestFailedRequestsNeverWaitOnLogLines: every failed movement logs a line
// to Kafka. With Kafka unreachable (a broker that accepts and never
// answers), more failures than the producer can buffer must still be
// answered at once: the lines beyond the bound are dropped and counted.
// Before the log path had its own bounded, non-blocking producer, the
// request after the 50,000th buffered line waited for Kafka's delivery
// timeout (10 s).
func TestFailedRequestsNeverWaitOnLogLines(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 50,500 requests")
	}
	rn := redisnode.New("p", "")
	if err := rn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rn.Close() })
	const logBuffer = 200
	s, err := Start(context.Background(), Config{
		Instance: "app-test", AZ: "az-a",
		MySQLAddr: closedAddr(t), MySQLUser: "u", MySQLDB: "paysim", // the ledger refuses: every movement fails and logs
		MaxDBAttempts: 1,
		RedisAddr:     rn.Addr(),
		KafkaBrokers:  []string{blackHole(t)},
		SearchURLs:    []string{"http://" + closedAddr(t)},
		LogBuffer:     logBuffer,
		RateLimit:     1 << 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	h := s.routes()

	// More than franz-go's default buffer (50,000 records in v1.22), where
	// a blocking Produce stalls.
	const n = 50_500
	took := make([]time.Duration, n)
	send := func(i int) error {
		body := fmt.Sprintf(`{"user_id":"u-%d","merchant_id":"m-1","amount":100}`, i%1000)
		req := httptest.NewRequest(http.MethodPost, "/v1/payments", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("k-%d", i))
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		took[i] = time.Since(start)
		if rec.Code != http.StatusServiceUnavailable {
			return fmt.Errorf("request %d: status %d, want 503 (ledger down): %s", i, rec.Code, rec.Body)
		}
		return nil
	}
	// Concurrent senders, so that the lines pile up faster than Kafka's
	// delivery timeout expires them, as they would under a failure storm.
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := send(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	// The log path's effect on latency: once the buffer is full, no request
	// may be slower than a generous multiple of the requests before it.
	before := slices.Clone(took[:logBuffer])
	slices.Sort(before)
	ref := before[len(before)*99/100]
	bound := max(2*time.Second, 50*ref)
	slowest, at := time.Duration(0), 0
	for i, d := range took[logBuffer:] {
		if d > slowest {
			slowest, at = d, logBuffer+i
		}
	}
	if slowest > bound {
		t.Errorf("request %d took %v with Kafka unreachable (p99 of the first %d: %v; bound %v): the request waited on its log line", at, slowest, logBuffer, ref, bound)
	}
	// Once the instance is gone, every line was either dropped at once
	// (buffer full) or dropped undelivered (timed out, or still buffered
	// when the instance stopped).
	// franz-go runs the promises of failed records on its own goroutine,
	// which Close does not wait for: wait until every line is counted.
	s.Kill()
	var full, late float64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		full = metricValue(t, h, `paysim_app_logs_dropped_total{reason="buffer_full"}`)
		late = metricValue(t, h, `paysim_app_logs_dropped_total{reason="not_delivered"}`)
		if full+late >= n || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	if full == 0 || full+late != n {
		t.Errorf("dropped log lines: %v with the buffer full and %v undelivered, want some of the first and %d in all", full, late, n)
	}
	if sent := metricValue(t, h, "paysim_app_logs_sent_total"); sent != 0 {
		t.Errorf("log lines sent = %v with Kafka unreachable, want 0", sent)
	}
}

// metricValue reads one sample from the instance's /metrics (0 if absent).
func metricValue(t *testing.T, h http.Handler, sample string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return f
		}
	}
	return 0
}
