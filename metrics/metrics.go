// Package metrics serves a run's live Prometheus metrics (`paysim run
// --metrics ADDR`): the load as the client sees it, the faults in force,
// every node's state, and each app instance's own metrics, relabelled with
// its node and AZ. The names are listed in the README.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"google.golang.org/protobuf/proto"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/sim"
)

// Nodes lists the stack's nodes as they are now (scenarios.Live does).
type Nodes interface {
	Nodes() []sim.NodeStatus
}

// Run is one run's metrics. Its methods are the run's hooks: Result for
// every operation, Tick every second, Fault for each fault, Live once the
// stack is up.
type Run struct {
	reg      *prometheus.Registry
	pacer    vegeta.Pacer
	target   prometheus.Gauge
	rate     *prometheus.GaugeVec
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	faults   *prometheus.GaugeVec
	injected *prometheus.CounterVec
	nodes    atomic.Pointer[Nodes]
	client   *http.Client
}

// NewRun makes the metrics of one run of scenario at the pacer's rates.
func NewRun(scenario string, pacer vegeta.Pacer) *Run {
	c := prometheus.Labels{"scenario": scenario}
	r := &Run{
		reg:   prometheus.NewRegistry(),
		pacer: pacer,
		target: prometheus.NewGauge(prometheus.GaugeOpts{Name: "paysim_load_target_rate", ConstLabels: c,
			Help: "Operations per second the schedule calls for now."}),
		rate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "paysim_load_rate", ConstLabels: c,
			Help: "Operations per second completed in the last second, by outcome (all, ok, fail, unknown)."}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paysim_load_requests_total", ConstLabels: c,
			Help: "Operations completed, by outcome (ok, fail: 4xx or never sent, unknown: 5xx or no answer) and final HTTP status (0: none)."}, []string{"outcome", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "paysim_load_latency_seconds", ConstLabels: c,
			Help:    "Latency of an operation as the client saw it, retries included, by outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"outcome"}),
		faults: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "paysim_fault_active", ConstLabels: c,
			Help: "1 while a fault of this kind is in force on this target, 0 once healed."}, []string{"kind", "target"}),
		injected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paysim_faults_injected_total", ConstLabels: c,
			Help: "Faults injected, by kind."}, []string{"kind"}),
		client: &http.Client{Timeout: time.Second},
	}
	r.reg.MustRegister(r.target, r.rate, r.requests, r.latency, r.faults, r.injected, nodeCollector{r, c})
	r.target.Set(pacer.Rate(0))
	return r
}

// Result counts one completed operation.
func (r *Run) Result(res *vegeta.Result) {
	outcome := loadgen.ResultOutcome(res)
	r.requests.WithLabelValues(outcome, strconv.Itoa(int(res.Code))).Inc()
	r.latency.WithLabelValues(outcome).Observe(res.Latency.Seconds())
}

// Tick sets the last second's rates and the schedule's rate now.
func (r *Run) Tick(t loadgen.Tick) {
	r.target.Set(r.pacer.Rate(t.T + time.Second))
	per := func(n int) float64 { return float64(n) * t.RPS / float64(max(t.Requests, 1)) }
	r.rate.WithLabelValues("all").Set(t.RPS)
	r.rate.WithLabelValues(loadgen.EventOK).Set(per(t.OK))
	r.rate.WithLabelValues(loadgen.EventFail).Set(per(t.Failed))
	r.rate.WithLabelValues(loadgen.EventUnknown).Set(per(t.Errors))
}

// Fault marks a fault injected (true) or healed (false).
func (r *Run) Fault(rec chaos.Record, injected bool) {
	if injected {
		r.faults.WithLabelValues(rec.Kind, rec.Target).Set(1)
		r.injected.WithLabelValues(rec.Kind).Inc()
		return
	}
	r.faults.WithLabelValues(rec.Kind, rec.Target).Set(0)
}

// Live gives the metrics the stack's nodes: their states, and the app
// instances to read their own metrics from.
func (r *Run) Live(n Nodes) { r.nodes.Store(&n) }

// Gather is the run's metrics and every app instance's now.
func (r *Run) Gather() ([]*dto.MetricFamily, error) {
	return prometheus.Gatherers{r.reg, prometheus.GathererFunc(r.gatherApps)}.Gather()
}

// gatherApps reads each running app instance's /metrics and labels every
// series with its node and AZ. An instance that does not answer (killed,
// cut off) is left out; that is what its paysim_node_state says.
func (r *Run) gatherApps() ([]*dto.MetricFamily, error) {
	np := r.nodes.Load()
	if np == nil {
		return nil, nil
	}
	type result struct {
		fams map[string]*dto.MetricFamily
		node sim.NodeStatus
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got []result
	)
	for _, n := range (*np).Nodes() {
		if n.Service != sim.ServiceApp || n.State != sim.StateUp || n.Addr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fams, err := r.scrape(n.Addr)
			if err == nil {
				mu.Lock()
				got = append(got, result{fams, n})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	merged := map[string]*dto.MetricFamily{}
	var out []*dto.MetricFamily
	for _, g := range got {
		for name, f := range g.fams {
			m, ok := merged[name]
			if !ok {
				m = &dto.MetricFamily{Name: f.Name, Help: f.Help, Type: f.Type}
				merged[name] = m
				out = append(out, m)
			}
			for _, s := range f.Metric {
				s.Label = append(s.Label, &dto.LabelPair{Name: proto.String("node"), Value: proto.String(g.node.ID)},
					&dto.LabelPair{Name: proto.String("az"), Value: proto.String(g.node.AZ)})
				m.Metric = append(m.Metric, s)
			}
		}
	}
	return out, nil
}

func (r *Run) scrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := r.client.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", addr, resp.Status)
	}
	var p expfmt.TextParser
	return p.TextToMetricFamilies(resp.Body)
}

// nodeCollector reports paysim_node_state at scrape time.
type nodeCollector struct {
	r      *Run
	labels prometheus.Labels
}

func (c nodeCollector) desc() *prometheus.Desc {
	return prometheus.NewDesc("paysim_node_state",
		"1 for each node's current state (up, down, paused, isolated, lagging), with its service, AZ and role.",
		[]string{"node", "service", "az", "role", "state"}, c.labels)
}

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc() }

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	np := c.r.nodes.Load()
	if np == nil {
		return
	}
	d := c.desc()
	for _, n := range (*np).Nodes() {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, n.ID, string(n.Service), n.AZ, string(n.Role), string(n.State))
	}
}

// Server serves /metrics for the run in progress: one address for every
// run of an invocation (`run --all`), each run's metrics from its start.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	run  atomic.Pointer[Run]
	done chan error
}

// Listen starts serving /metrics on addr (host:port; port 0 picks one).
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := &Server{ln: ln, done: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		if r := s.run.Load(); r != nil {
			return r.Gather()
		}
		return nil, nil
	}), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address it serves on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve makes r the run /metrics shows.
func (s *Server) Serve(r *Run) { s.run.Store(r) }

// Close stops serving.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
