package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// roundTripFunc is a transport that answers without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// created answers every request 201 with a payment id, draining the body.
func created(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 201, Status: "201 Created", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(`{"id":"pay-1","status":"committed"}`)), Request: r}, nil
}

func BenchmarkMixNext(b *testing.B) {
	m := newMix(b, MixConfig{}, 1)
	for i := range 1000 {
		m.Paid("pay-"+strconv.Itoa(i), 1000)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var tgt vegeta.Target
		for pb.Next() {
			m.Next(&tgt)
		}
	})
}

// BenchmarkTargeterAndRecorder is loadgen's own cost per operation, network
// excluded: draw a target, build the request, run it through the retrying
// client (which records invoke + completion to a real Recorder) and fold the
// result into the metrics.
func BenchmarkTargeterAndRecorder(b *testing.B) {
	m := newMix(b, MixConfig{}, 1)
	rec := NewRecorder(io.Discard, 0)
	epoch := time.Now()
	c := &Client{Next: roundTripFunc(created), Policy: DefaultRetryPolicy(), History: rec, Epoch: epoch, Abort: context.Background()}
	hc := &http.Client{Transport: c}
	met := NewMetrics(epoch, time.Second, nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var tgt vegeta.Target
			m.Next(&tgt)
			req, err := tgt.Request()
			if err != nil {
				b.Error(err)
				return
			}
			start := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			met.Add(&vegeta.Result{Timestamp: start, Latency: time.Since(start), Code: uint16(resp.StatusCode), Body: body})
		}
	})
	b.StopTimer()
	if err := rec.Close(); err != nil {
		b.Fatal(err)
	}
	met.Close()
}

func BenchmarkMetricsAdd(b *testing.B) {
	epoch := time.Now()
	met := NewMetrics(epoch, time.Second, nil)
	res := vegeta.Result{Timestamp: epoch, Latency: 3 * time.Millisecond, Code: 201}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		res.Timestamp = epoch.Add(time.Duration(i) * 50 * time.Microsecond) // 20k/s
		met.Add(&res)
	}
	met.Close()
}

// BenchmarkRunThroughput drives an unlimited-rate run for 2 s against a no-op
// handler over real TCP and reports the sustained operations per second, next
// to plain vegeta on the same handler. Run with -benchtime=1x.
func BenchmarkRunThroughput(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"pay-1"}`)
	})
	const d = 2 * time.Second
	const workers, conns = 256, 256
	b.Run("plain-vegeta", func(b *testing.B) {
		srv := newHandlerServer(b, h)
		for b.Loop() {
			atk := vegeta.NewAttacker(vegeta.MaxWorkers(workers), vegeta.MaxConnections(conns))
			tgt := vegeta.Target{Method: http.MethodPost, URL: srv.URL + "/v1/payments",
				Body: []byte(`{"user_id":"u-1","merchant_id":"m-1","amount":480}`)}
			var n int
			for range atk.Attack(vegeta.NewStaticTargeter(tgt), vegeta.Rate{}, d, "bench") {
				n++
			}
			b.ReportMetric(float64(n)/d.Seconds(), "ops/s")
		}
	})
	b.Run("loadgen", func(b *testing.B) {
		srv := newHandlerServer(b, h)
		for b.Loop() {
			var hist bytes.Buffer
			s, err := Run(context.Background(), Config{
				Targets: []string{srv.URL}, Pacer: vegeta.Rate{}, Duration: d,
				MaxWorkers: workers, MaxConnections: conns, History: &hist,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(s.Rate, "ops/s")
			b.ReportMetric(float64(s.P99)/float64(time.Millisecond), "p99-ms")
		}
	})
}
