package loadgen

import (
	"maps"
	"strings"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Histogram range: 1 µs .. 60 s at 3 significant figures, recorded in µs.
const (
	histMinUS   = 1
	histMaxUS   = 60_000_000
	histSigFigs = 3
)

// Tick is one interval (normally one second) of the run, counted by
// completion time.
type Tick struct {
	T        time.Duration `json:"t"`        // start of the interval, from the run's start
	Requests int           `json:"requests"` // operations completed in the interval
	OK       int           `json:"ok"`       // 2xx
	Failed   int           `json:"failed"`   // definite failures: 4xx, or never sent
	Errors   int           `json:"errors"`   // outcome unknown: 5xx, timeouts, lost connections
	RPS      float64       `json:"rps"`      // Requests per second of interval
	P50      time.Duration `json:"p50"`
	P95      time.Duration `json:"p95"`
	P99      time.Duration `json:"p99"`
	Max      time.Duration `json:"max"`
}

// Summary is the whole run as the client saw it. Outcomes follow Classify, so
// Total = OK + Failed + Unknown matches the history's completions.
type Summary struct {
	Duration   time.Duration `json:"duration"`   // first send to last completion
	Total      int           `json:"total"`      // operations completed
	OK         int           `json:"ok"`         // 2xx
	Failed     int           `json:"failed"`     // 4xx or never sent: definitely no effect
	Unknown    int           `json:"unknown"`    // 5xx, timeouts: maybe an effect
	ByStatus   map[int]int   `json:"by_status"`  // final HTTP status → count; 0 = no response
	Rate       float64       `json:"rate"`       // completed operations per second
	Throughput float64       `json:"throughput"` // OK operations per second
	P50        time.Duration `json:"p50"`
	P95        time.Duration `json:"p95"`
	P99        time.Duration `json:"p99"`
	Max        time.Duration `json:"max"`
	Timeline   []Tick        `json:"timeline"` // every emitted interval, in order
	// Pacing is how well the load generator kept to its schedule (filled
	// by Run at the end).
	Pacing Pacing `json:"pacing"`
}

// ResultOutcome classifies a vegeta result like the history does (see
// Classify): the Client marks never-sent operations with ErrNotSent.
func ResultOutcome(r *vegeta.Result) string {
	return Classify(int(r.Code), !strings.Contains(r.Error, ErrNotSent.Error()))
}

// bucket accumulates one interval.
type bucket struct {
	tick Tick
	hist *hdr.Histogram
}

// Metrics is the one aggregator of a run: it folds vegeta results into
// per-interval ticks (emitted in order to the onTick callback) and overall
// totals. Intervals are emitted by Advance once they are over, and by Close.
// A result completing in an interval already emitted counts in the oldest
// open one, so the ticks always add up to the totals. Safe for concurrent use.
type Metrics struct {
	emitMu sync.Mutex // serialises onTick calls so ticks arrive in order
	mu     sync.Mutex

	epoch    time.Time
	interval time.Duration
	onTick   func(Tick)

	open   map[int64]*bucket
	next   int64 // first interval not yet emitted
	last   int64 // highest interval holding data, -1 when none
	free   []*hdr.Histogram
	closed bool

	sum        Summary
	hist       *hdr.Histogram
	firstStart time.Duration // earliest send, from the epoch; -1 when none
	lastEnd    time.Duration // latest completion, from the epoch
	timeline   []Tick
}

// NewMetrics returns an aggregator whose intervals count from epoch.
// interval <= 0 means one second; onTick may be nil.
func NewMetrics(epoch time.Time, interval time.Duration, onTick func(Tick)) *Metrics {
	if interval <= 0 {
		interval = time.Second
	}
	return &Metrics{
		epoch:      epoch,
		interval:   interval,
		onTick:     onTick,
		open:       make(map[int64]*bucket),
		last:       -1,
		firstStart: -1,
		sum:        Summary{ByStatus: make(map[int]int)},
		hist:       newHist(),
	}
}

func newHist() *hdr.Histogram { return hdr.New(histMinUS, histMaxUS, histSigFigs) }

func recordLatency(h *hdr.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMinUS), histMaxUS)
	_ = h.RecordValue(us) // in range by construction
}

// Add folds one result in. Results added after Close are ignored.
func (m *Metrics) Add(r *vegeta.Result) {
	outcome := ResultOutcome(r)
	begin := r.Timestamp.Sub(m.epoch)
	end := begin + r.Latency
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	idx := max(int64(end/m.interval), m.next)
	b := m.open[idx]
	if b == nil {
		b = &bucket{tick: Tick{T: time.Duration(idx) * m.interval}, hist: m.takeHist()}
		m.open[idx] = b
	}
	m.last = max(m.last, idx)

	b.tick.Requests++
	recordLatency(b.hist, r.Latency)
	b.tick.Max = max(b.tick.Max, r.Latency)
	m.sum.Total++
	m.sum.ByStatus[int(r.Code)]++
	m.sum.Max = max(m.sum.Max, r.Latency)
	recordLatency(m.hist, r.Latency)
	m.lastEnd = max(m.lastEnd, end)
	if m.firstStart < 0 || begin < m.firstStart {
		m.firstStart = begin
	}
	switch outcome {
	case EventOK:
		b.tick.OK++
		m.sum.OK++
	case EventFail:
		b.tick.Failed++
		m.sum.Failed++
	default:
		b.tick.Errors++
		m.sum.Unknown++
	}
}

// Advance emits every interval that ended at or before elapsed (measured from
// the epoch), including empty ones: a stalled second shows as zero requests.
func (m *Metrics) Advance(elapsed time.Duration) {
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	m.mu.Lock()
	ticks := m.emitLocked(int64(elapsed / m.interval))
	m.mu.Unlock()
	m.deliver(ticks)
}

// Close emits every remaining interval up to the last one with data and
// returns the final summary. Later Adds are ignored.
func (m *Metrics) Close() Summary {
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	m.mu.Lock()
	ticks := m.emitLocked(m.last + 1)
	m.closed = true
	m.mu.Unlock()
	m.deliver(ticks)
	return m.Summary()
}

// Summary returns a snapshot of the totals and the ticks emitted so far.
func (m *Metrics) Summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sum
	s.ByStatus = maps.Clone(m.sum.ByStatus)
	s.Timeline = append([]Tick(nil), m.timeline...)
	if m.firstStart >= 0 {
		s.Duration = m.lastEnd - m.firstStart
	}
	if secs := s.Duration.Seconds(); secs > 0 {
		s.Rate = float64(s.Total) / secs
		s.Throughput = float64(s.OK) / secs
	}
	s.P50, s.P95, s.P99 = quantiles(m.hist)
	return s
}

// emitLocked finalises intervals [m.next, upto) and returns their ticks.
func (m *Metrics) emitLocked(upto int64) []Tick {
	if m.closed || upto <= m.next {
		return nil
	}
	ticks := make([]Tick, 0, upto-m.next)
	for ; m.next < upto; m.next++ {
		t := Tick{T: time.Duration(m.next) * m.interval}
		if b := m.open[m.next]; b != nil {
			t = b.tick
			t.P50, t.P95, t.P99 = quantiles(b.hist)
			m.putHist(b.hist)
			delete(m.open, m.next)
		}
		t.RPS = float64(t.Requests) / m.interval.Seconds()
		ticks = append(ticks, t)
	}
	m.timeline = append(m.timeline, ticks...)
	return ticks
}

func (m *Metrics) deliver(ticks []Tick) {
	if m.onTick == nil {
		return
	}
	for _, t := range ticks {
		m.onTick(t)
	}
}

func (m *Metrics) takeHist() *hdr.Histogram {
	if n := len(m.free); n > 0 {
		h := m.free[n-1]
		m.free = m.free[:n-1]
		return h
	}
	return newHist()
}

func (m *Metrics) putHist(h *hdr.Histogram) {
	if len(m.free) < 4 {
		h.Reset()
		m.free = append(m.free, h)
	}
}

func quantiles(h *hdr.Histogram) (p50, p95, p99 time.Duration) {
	if h.TotalCount() == 0 {
		return 0, 0, 0
	}
	q := func(p float64) time.Duration { return time.Duration(h.ValueAtQuantile(p)) * time.Microsecond }
	return q(50), q(95), q(99)
}
