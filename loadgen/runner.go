package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Defaults for Config's zero values.
const (
	DefaultMaxWorkers     = 1024
	DefaultMaxConnections = 1024
)

// tickGrace is how long after an interval ends Run waits before emitting it,
// so results still on their way through vegeta's channel land in it.
const tickGrace = 200 * time.Millisecond

// advanceEvery is how often Run emits finished intervals.
const advanceEvery = 100 * time.Millisecond

// paceChunk bounds how long the pacing goroutine sleeps inside vegeta before
// re-checking pause and stop: longer waits are slept in Pace, interruptibly.
const paceChunk = 50 * time.Millisecond

// Config is one load run.
type Config struct {
	Targets  []string      // base URLs of the payment API, e.g. http://127.0.0.1:8080; round robin
	Pacer    vegeta.Pacer  // the rate over time (vegeta.Rate, Ramp, StepPacer, SpikePacer...)
	Duration time.Duration // wall-clock length, pauses included; 0 runs until ctx is cancelled

	MaxWorkers     uint64 // cap on vegeta's concurrent workers; default DefaultMaxWorkers
	MaxConnections int    // cap on connections per target host; default DefaultMaxConnections

	Mix   MixConfig
	Seed  uint64 // seeds the mix: same seed, same operations
	RunID string // prefix of idempotency keys; default derived from the start time and seed

	Retry RetryPolicy
	// Timeout is the per-attempt timeout; when set it overrides Retry.AttemptTimeout.
	Timeout time.Duration

	History       io.Writer // receives history.jsonl; nil records none
	HistoryBuffer int       // events queued before Record blocks; default DefaultHistoryBuffer

	OnTick func(Tick) // called once per second of the run, in order, from Run's goroutine
	// OnResult hears every completed operation, from Run's goroutine; it
	// must be quick (e.g. a Prometheus observation).
	OnResult func(*vegeta.Result)
	// Epoch is time zero for history t_ns and ticks, e.g. the stack's start
	// so faults and traffic share a clock. Zero means when Run starts.
	Epoch time.Time
	// Transport carries the requests (e.g. through a fault proxy). Default: a
	// keep-alive http.Transport limited to MaxConnections per host (a custom
	// Transport must set its own limits).
	Transport http.RoundTripper
	// Dial opens the default Transport's connections (default: a
	// net.Dialer); a stack in this process passes its in-memory dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c Config) withDefaults() Config {
	if c.MaxWorkers == 0 {
		c.MaxWorkers = DefaultMaxWorkers
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.Timeout > 0 {
		c.Retry.AttemptTimeout = c.Timeout
	}
	c.Retry = c.Retry.withDefaults()
	return c
}

// Validate reports a configuration Run would refuse.
func (c Config) Validate() error {
	switch {
	case len(c.Targets) == 0:
		return errors.New("config: no target URL")
	case c.Pacer == nil:
		return errors.New("config: no pacer")
	case c.Duration < 0 || c.Timeout < 0:
		return errors.New("config: negative duration or timeout")
	case c.MaxConnections < 0:
		return errors.New("config: negative max connections")
	}
	for _, t := range c.Targets {
		if u, err := url.Parse(t); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: target %q is not an http(s) base URL", t)
		}
	}
	if err := c.Mix.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.withDefaults().Retry.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// Runner runs one load run and lets another goroutine (the TUI) pause it and
// read live totals.
type Runner struct {
	cfg     Config
	gate    gate
	used    atomic.Bool
	metrics atomic.Pointer[Metrics]
}

// NewRunner validates cfg and returns a Runner for one Run.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg.withDefaults()}, nil
}

// Run is NewRunner(cfg) followed by Run(ctx).
func Run(ctx context.Context, cfg Config) (Summary, error) {
	r, err := NewRunner(cfg)
	if err != nil {
		return Summary{}, err
	}
	return r.Run(ctx)
}

// Pause stops (true) or resumes (false) sending new operations; in-flight
// ones complete. Paused time counts toward Duration; the pacer resumes where
// it left off (a ramp does not jump ahead).
func (r *Runner) Pause(paused bool) { r.gate.set(paused) }

// Paused reports whether the load is paused.
func (r *Runner) Paused() bool { return r.gate.resumeCh() != nil }

// Snapshot returns the totals so far (zero before Run starts).
func (r *Runner) Snapshot() Summary {
	if m := r.metrics.Load(); m != nil {
		return m.Summary()
	}
	return Summary{}
}

// Run sends the load until Duration has passed or ctx is cancelled, then
// waits for in-flight operations (on cancellation they are abandoned at once
// and recorded as unknown, or fail if never sent), flushes the history and
// returns the summary. On cancellation the summary is still complete for what
// was sent and the error is ctx's. A Runner runs once.
func (r *Runner) Run(ctx context.Context) (Summary, error) {
	if !r.used.CompareAndSwap(false, true) {
		return Summary{}, errors.New("run: runner already used")
	}
	cfg := r.cfg
	epoch := cfg.Epoch
	if epoch.IsZero() {
		epoch = time.Now()
	}
	runID := cfg.RunID
	if runID == "" {
		runID = strconv.FormatInt(time.Now().UnixNano(), 36) + "s" + strconv.FormatUint(cfg.Seed, 36)
	}
	mix, err := NewMix(cfg.Mix, cfg.Seed, runID, cfg.Targets...)
	if err != nil {
		return Summary{}, fmt.Errorf("run: %w", err)
	}

	var rec *Recorder
	if cfg.History != nil {
		rec = NewRecorder(cfg.History, cfg.HistoryBuffer)
	}
	sink := SinkFunc(func(e Event) {
		if rec != nil {
			rec.Record(e)
		}
		switch {
		case e.Type == EventOK && e.Op == OpPayment:
			mix.Paid(e.ResultID, e.Amount)
		case e.Type == EventFail && e.Status == http.StatusPaymentRequired && (e.Op == OpPayment || e.Op == OpTransfer):
			mix.Declined(e.From)
		}
	})

	transport := cfg.Transport
	var own *http.Transport
	if transport == nil {
		own = newTransport(cfg.MaxConnections, cfg.Dial)
		transport = own
	}
	abortCtx, abort := context.WithCancel(context.Background())
	defer abort()
	client := &Client{Next: transport, Policy: cfg.Retry, History: sink, Epoch: epoch, Abort: abortCtx}

	metrics := NewMetrics(epoch, time.Second, cfg.OnTick)
	r.metrics.Store(metrics)

	stop := make(chan struct{})
	var stopOnce sync.Once
	stopPacing := func() { stopOnce.Do(func() { close(stop) }) }
	defer stopPacing()
	// busy counts vegeta's workers between taking a hit (the targeter call)
	// and handing its result over (received below): all of them busy, the
	// next hit waits for one.
	var busy atomic.Int64
	targeter := mix.Targeter()
	counted := func(t *vegeta.Target) error { busy.Add(1); return targeter(t) }
	pacer := &pausablePacer{inner: cfg.Pacer, gate: &r.gate, stop: stop, du: cfg.Duration,
		// The worker just handed a hit may not have taken it yet.
		full: func() bool { return busy.Load() >= int64(max(cfg.MaxWorkers, 2))-1 }}

	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{
			Transport: client,
			// Following a redirect would re-invoke the operation under the same key.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}),
		vegeta.Workers(min(vegeta.DefaultWorkers, cfg.MaxWorkers)),
		vegeta.MaxWorkers(cfg.MaxWorkers),
		vegeta.MaxBody(-1),
	)
	results := atk.Attack(counted, pacer, cfg.Duration, "paysim")

	ticker := time.NewTicker(advanceEvery)
	defer ticker.Stop()
	var runErr error
	done := ctx.Done()
loop:
	for {
		select {
		case res, ok := <-results:
			if !ok {
				break loop
			}
			busy.Add(-1)
			metrics.Add(res)
			if cfg.OnResult != nil {
				cfg.OnResult(res)
			}
		case <-ticker.C:
			metrics.Advance(time.Since(epoch) - tickGrace)
		case <-done:
			done = nil
			runErr = ctx.Err()
			stopPacing()
			atk.Stop()
			abort()
		}
	}
	sum := metrics.Close()
	sum.Pacing = pacer.pacing() // the pacing goroutine ended before results closed
	if rec != nil {
		if err := rec.Close(); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("run: %w", err))
		}
	}
	if own != nil {
		own.CloseIdleConnections()
	}
	return sum, runErr
}

func newTransport(maxConns int, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	return &http.Transport{
		DialContext:         dial,
		MaxIdleConnsPerHost: maxConns,
		MaxConnsPerHost:     maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// gate is the pause switch: while paused, resumeCh returns a channel closed
// on resume.
type gate struct {
	mu     sync.Mutex
	resume chan struct{} // nil when running
}

func (g *gate) set(paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case paused && g.resume == nil:
		g.resume = make(chan struct{})
	case !paused && g.resume != nil:
		close(g.resume)
		g.resume = nil
	}
}

func (g *gate) resumeCh() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.resume
}

// pausablePacer wraps the configured pacer with pause/resume and prompt
// stopping. Paused time is subtracted from the elapsed time the inner pacer
// sees, so it resumes where it left off. Pace is only called by vegeta's
// single pacing goroutine.
type pausablePacer struct {
	inner  vegeta.Pacer
	gate   *gate
	stop   <-chan struct{}
	du     time.Duration
	offset atomic.Int64 // total paused time, ns

	// full tells whether every worker is busy: a hit then waits for an
	// operation to end, a wait the system under test causes, not the host.
	full func() bool

	// Lateness: how late each hit fired against the schedule; the hits due
	// before a hand-off that found every worker busy are counted apart.
	// Only the pacing goroutine touches these until the attack is over.
	began       time.Time     // vegeta's start: now - elapsed at the first Pace
	pending     bool          // a hit was released; the next Pace times it
	due         time.Duration // when that hit was due, on the inner clock
	late        *hdr.Histogram
	poolFull    int
	poolFullMax time.Duration
	lastFull    time.Duration // inner clock when a hand-off last found every worker busy
	sawFull     bool
	fired       uint64
}

// Pacing is how the load generator kept to its schedule.
type Pacing struct {
	Due       int           // hits the schedule called for until the load ended
	Fired     int           // hits actually fired
	LateP50   time.Duration // lateness of a hit against its due time
	LateP99   time.Duration
	LateMax   time.Duration
	LateCount int // hits timed
	// PoolFull counts the hits due before a hand-off that found every
	// worker waiting on an answer (sent then, or in the catch-up after),
	// and PoolFullLateMax is the latest of them: the system held MaxWorkers
	// operations, so the schedule slipped because of it, not the host.
	// They are left out of the lateness above, the host's measure.
	PoolFull        int
	PoolFullLateMax time.Duration
}

// recordLate times the hit released by the previous Pace: Pace is called
// again right after vegeta hands it to a worker.
func (p *pausablePacer) recordLate(innerElapsed time.Duration, hits uint64) {
	p.fired = hits
	if !p.pending {
		return
	}
	p.pending = false
	late := max(innerElapsed-p.due, 0)
	if p.full != nil && p.full() {
		p.lastFull, p.sawFull = innerElapsed, true
	}
	// Due before the pool was last full: the hit waited on the system,
	// handed over then or in the catch-up once workers came free.
	if p.sawFull && p.due <= p.lastFull {
		p.poolFull++
		p.poolFullMax = max(p.poolFullMax, late)
		return
	}
	if p.late == nil {
		p.late = newHist()
	}
	recordLatency(p.late, late)
}

// dueOf is when hit number hits (0-based) was due on the inner clock, given
// that the pacer answered wait at innerElapsed. A pacer's wait is the due
// time minus elapsed, except that it answers 0 once it is behind, without
// saying by how much: then the due time lies between the previous hit's and
// now, and is found by bisection.
func (p *pausablePacer) dueOf(innerElapsed, wait time.Duration, hits uint64) time.Duration {
	if wait != 0 {
		return innerElapsed + wait
	}
	lo := min(p.due, innerElapsed)
	if w, stop := p.inner.Pace(lo, hits); !stop && w != 0 {
		return lo + w
	}
	hi := innerElapsed
	for hi-lo > time.Microsecond {
		mid := lo + (hi-lo)/2
		if w, _ := p.inner.Pace(mid, hits); w <= 0 {
			hi = mid // behind already at mid: due at or before it
		} else {
			lo = mid
		}
	}
	return hi
}

// pacing summarises lateness and counts the hits due until end (wall time
// since the attack began, capped at the duration).
func (p *pausablePacer) pacing() Pacing {
	out := Pacing{Fired: int(p.fired), PoolFull: p.poolFull, PoolFullLateMax: p.poolFullMax}
	if p.pending {
		out.Fired++
	}
	if p.late != nil {
		out.LateP50, _, out.LateP99 = quantiles(p.late)
		out.LateMax = time.Duration(p.late.Max()) * time.Microsecond
		out.LateCount = int(p.late.TotalCount())
	}
	if p.began.IsZero() {
		return out
	}
	end := time.Since(p.began)
	if p.du > 0 {
		end = min(end, p.du)
	}
	end -= time.Duration(p.offset.Load())
	// The hits due by end are the smallest n the pacer is not behind on.
	behind := func(n uint64) bool { w, stop := p.inner.Pace(end, n); return !stop && w <= 0 }
	lo, hi := uint64(0), max(p.fired, 1)
	for behind(hi) && hi < 1<<40 {
		lo, hi = hi, hi*2
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if behind(mid) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	out.Due = int(lo)
	return out
}

var _ vegeta.Pacer = (*pausablePacer)(nil)

func (p *pausablePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.began.IsZero() {
		p.began = time.Now().Add(-elapsed)
	}
	p.recordLate(elapsed-time.Duration(p.offset.Load()), hits)
	for {
		if p.du > 0 && elapsed >= p.du {
			return 0, true
		}
		if resume := p.gate.resumeCh(); resume != nil {
			t0 := time.Now()
			if !p.wait(resume, elapsed) {
				return 0, true
			}
			blocked := time.Since(t0)
			p.offset.Add(int64(blocked))
			elapsed += blocked
			continue
		}
		inner := elapsed - time.Duration(p.offset.Load())
		wait, stop := p.inner.Pace(inner, hits)
		if stop {
			return wait, stop
		}
		if wait <= paceChunk {
			p.due, p.pending = p.dueOf(inner, wait, hits), true
			return wait, stop
		}
		// A long wait: sleep here, interruptibly, then re-evaluate.
		t0 := time.Now()
		t := time.NewTimer(paceChunk)
		select {
		case <-t.C:
		case <-p.stop:
			t.Stop()
			return 0, true
		}
		elapsed += time.Since(t0)
	}
}

// wait blocks until resumed (true), or stopped or out of time (false).
func (p *pausablePacer) wait(resume <-chan struct{}, elapsed time.Duration) bool {
	var timeout <-chan time.Time
	if p.du > 0 {
		t := time.NewTimer(p.du - elapsed)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-resume:
		return true
	case <-p.stop:
		return false
	case <-timeout:
		return false
	}
}

func (p *pausablePacer) Rate(elapsed time.Duration) float64 {
	if p.gate.resumeCh() != nil {
		return 0
	}
	return p.inner.Rate(elapsed - time.Duration(p.offset.Load()))
}
