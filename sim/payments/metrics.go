package payments

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is one instance's Prometheus registry.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	dbRetries prometheus.Counter
	idemHits  prometheus.Counter
	crashes   prometheus.Counter
	published prometheus.Counter
	bonus     prometheus.Counter
	shipped   prometheus.Counter
	// fetchErrors counts consumer fetch errors by group (a partition out of
	// range stops its consumer there: see consume).
	fetchErrors *prometheus.CounterVec
	// logsSent and logsDropped count app log lines Kafka took, and those
	// dropped (by reason: buffer_full, not_delivered, encode) rather than
	// let a request wait on a log line.
	logsSent    prometheus.Counter
	logsDropped *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysim_http_requests_total", Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paysim_http_request_duration_seconds", Help: "HTTP request latency.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		dbRetries: prometheus.NewCounter(prometheus.CounterOpts{Name: "paysim_db_retries_total", Help: "Ledger transaction retries."}),
		idemHits:  prometheus.NewCounter(prometheus.CounterOpts{Name: "paysim_idempotency_cache_hits_total", Help: "Replays answered from Redis."}),
		crashes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "paysim_injected_crashes_total", Help: "Crashes injected by failpoints."}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "paysim_outbox_published_total", Help: "Outbox rows relayed to Kafka."}),
		bonus:     prometheus.NewCounter(prometheus.CounterOpts{Name: "paysim_bonus_grants_total", Help: "Bonus grants applied."}),
		shipped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "paysim_logs_shipped_total", Help: "Log documents indexed."}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysim_consumer_fetch_errors_total", Help: "Consumer fetch errors by consumer group.",
		}, []string{"group"}),
		logsSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "paysim_app_logs_sent_total", Help: "App log lines Kafka acknowledged."}),
		logsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysim_app_logs_dropped_total", Help: "App log lines dropped rather than waited for, by reason.",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.dbRetries, m.idemHits, m.crashes, m.published, m.bonus, m.shipped, m.fetchErrors, m.logsSent, m.logsDropped)
	// Every reason shows from the start, at 0, so a dashboard has a series
	// before the first drop.
	for _, reason := range []string{"buffer_full", "not_delivered", "encode"} {
		m.logsDropped.WithLabelValues(reason)
	}
	return m
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// statusWriter captures the status code for instrumentation.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (m *metrics) instrument(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
