// Package lb is an ALB-like HTTP load balancer: round robin over targets,
// active health checks with thresholds, unhealthy targets dropped, 503 when
// none is left, 502 when a target fails mid-request.
package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes health checking and forwarding.
type Config struct {
	Addr               string        // listen address; "127.0.0.1:0" picks a port
	HealthPath         string        // default /healthz
	Interval           time.Duration // between health checks; default 1s
	Timeout            time.Duration // per health check; default 500ms
	HealthyThreshold   int           // consecutive successes to become healthy; default 2
	UnhealthyThreshold int           // consecutive failures to become unhealthy; default 2
	TargetTimeout      time.Duration // per forwarded request; default 10s
	// Dial opens connections to targets (default: a net.Dialer with a 2s
	// timeout); the stack passes its proxies' direct dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Listen opens the balancer's listener on Addr (default: TCP); the
	// embedded stack passes one that also accepts its in-memory clients.
	Listen func(addr string) (net.Listener, error)
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.HealthPath == "" {
		c.HealthPath = "/healthz"
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 500 * time.Millisecond
	}
	if c.HealthyThreshold == 0 {
		c.HealthyThreshold = 2
	}
	if c.UnhealthyThreshold == 0 {
		c.UnhealthyThreshold = 2
	}
	if c.TargetTimeout == 0 {
		c.TargetTimeout = 10 * time.Second
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{Timeout: 2 * time.Second}).DialContext
	}
	if c.Listen == nil {
		c.Listen = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	}
	return c
}

// Target is one registered backend.
type Target struct {
	Name string // e.g. the app instance id
	AZ   string
	Addr string // host:port
}

// TargetStatus is a target's health as the balancer sees it.
type TargetStatus struct {
	Target
	Healthy bool `json:"healthy"`
}

type target struct {
	Target
	proxy     *httputil.ReverseProxy
	healthy   atomic.Bool
	successes int // owned by the health checker goroutine
	failures  int
}

// Balancer is a running load balancer.
type Balancer struct {
	cfg     Config
	targets []*target
	next    atomic.Uint64
	client  *http.Client
	ln      net.Listener
	srv     *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	buffers *bufferPool
}

// bufferPool recycles the proxy's copy buffers; without one every request
// allocates 32 KiB.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

// Start listens and begins health checking; targets start healthy, as
// instances registered after a successful deployment are.
func Start(cfg Config, targets []Target) (*Balancer, error) {
	cfg = cfg.withDefaults()
	if len(targets) == 0 {
		return nil, errors.New("lb: no targets")
	}
	transport := &http.Transport{
		MaxIdleConnsPerHost:   256,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: cfg.TargetTimeout,
		DialContext:           cfg.Dial,
	}
	b := &Balancer{cfg: cfg, client: &http.Client{Transport: transport, Timeout: cfg.Timeout}, buffers: &bufferPool{}}
	for _, t := range targets {
		u := &url.URL{Scheme: "http", Host: t.Addr}
		tg := &target{Target: t}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = transport
		rp.BufferPool = b.buffers
		rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				status = http.StatusGatewayTimeout
			}
			http.Error(w, fmt.Sprintf(`{"error":"lb: target %s: %v"}`, t.Name, err), status)
		}
		tg.proxy = rp
		tg.healthy.Store(true)
		b.targets = append(b.targets, tg)
	}
	ln, err := cfg.Listen(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("lb: listen: %w", err)
	}
	b.ln = ln
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		_ = b.srv.Serve(ln)
	}()
	go func() {
		defer b.wg.Done()
		b.healthLoop(ctx)
	}()
	return b, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// URL is the balancer's base URL.
func (b *Balancer) URL() string { return "http://" + b.ln.Addr().String() }

// ServeHTTP forwards to the next healthy target, round robin.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := len(b.targets)
	start := b.next.Add(1)
	for i := 0; i < n; i++ {
		t := b.targets[(int(start)+i)%n]
		if t.healthy.Load() {
			ctx, cancel := context.WithTimeout(r.Context(), b.cfg.TargetTimeout)
			defer cancel()
			t.proxy.ServeHTTP(w, r.WithContext(ctx))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":"lb: no healthy target"}` + "\n"))
}

// Status lists every target and whether it is in rotation.
func (b *Balancer) Status() []TargetStatus {
	out := make([]TargetStatus, len(b.targets))
	for i, t := range b.targets {
		out[i] = TargetStatus{Target: t.Target, Healthy: t.healthy.Load()}
	}
	return out
}

func (b *Balancer) healthLoop(ctx context.Context) {
	tick := time.NewTicker(b.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var wg sync.WaitGroup
		for _, t := range b.targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.check(ctx, t)
			}()
		}
		wg.Wait()
	}
}

func (b *Balancer) check(ctx context.Context, t *target) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	ok := false
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.Addr+b.cfg.HealthPath, nil)
	if err == nil {
		if resp, err := b.client.Do(req); err == nil {
			ok = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
	}
	if ok {
		t.failures = 0
		t.successes++
		if !t.healthy.Load() && t.successes >= b.cfg.HealthyThreshold {
			t.healthy.Store(true)
		}
		return
	}
	t.successes = 0
	t.failures++
	if t.healthy.Load() && t.failures >= b.cfg.UnhealthyThreshold {
		t.healthy.Store(false)
	}
}

// Close stops the balancer.
func (b *Balancer) Close() error {
	b.cancel()
	err := b.srv.Close()
	b.wg.Wait()
	return err
}
