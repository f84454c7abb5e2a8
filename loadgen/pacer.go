package loadgen

import (
	"errors"
	"fmt"
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// maxPaceSegments bounds the walk over rate segments in Pace so that a
// pathological configuration can never spin forever.
const maxPaceSegments = 1 << 16

// hitEpsilon absorbs floating-point error when integrating rates.
const hitEpsilon = 1e-6

// Ramp returns vegeta's LinearPacer rising from `from` to `to` over `over`.
// The rate keeps rising at the same slope after `over`, so make the run last
// `over` (or follow it with another phase). vegeta treats a zero start rate as
// "unlimited", so a zero `from` is refused.
func Ramp(from, to vegeta.Rate, over time.Duration) (vegeta.LinearPacer, error) {
	switch {
	case !validRate(from) || !validRate(to):
		return vegeta.LinearPacer{}, errors.New("ramp: negative or per-less rate")
	case perNs(from) == 0:
		return vegeta.LinearPacer{}, errors.New("ramp: start rate must be > 0 (vegeta treats 0 as unlimited)")
	case over <= 0:
		return vegeta.LinearPacer{}, errors.New("ramp: duration must be > 0")
	}
	slope := (perNs(to) - perNs(from)) * 1e9 / over.Seconds()
	return vegeta.LinearPacer{StartAt: from, Slope: slope}, nil
}

// StepPacer raises the rate by Step every Every, starting at Start, never
// exceeding Max. It is the staircase used for capacity searches.
type StepPacer struct {
	Start vegeta.Rate   // rate during the first step
	Step  vegeta.Rate   // added to the rate at the start of each further step
	Every time.Duration // length of one step; must be > 0
	Max   vegeta.Rate   // cap on the rate; zero means uncapped
}

var _ vegeta.Pacer = StepPacer{}

// String describes the staircase, e.g. Step{100 hits/1s +50 hits/1s every 10s, max 1000 hits/1s}.
func (p StepPacer) String() string {
	maxs := "uncapped"
	if perNs(p.Max) > 0 {
		maxs = "max " + rateString(p.Max)
	}
	return fmt.Sprintf("Step{%s +%s every %s, %s}", rateString(p.Start), rateString(p.Step), p.Every, maxs)
}

func (p StepPacer) invalid() bool {
	return p.Every <= 0 || !validRate(p.Start) || !validRate(p.Step) || !validRate(p.Max) ||
		(perNs(p.Start) == 0 && perNs(p.Step) == 0)
}

// kcap is the index of the first step running at Max (+Inf when never capped).
func (p StepPacer) kcap() float64 {
	s, d, m := perNs(p.Start), perNs(p.Step), perNs(p.Max)
	switch {
	case m == 0:
		return math.Inf(1)
	case s >= m:
		return 0
	case d == 0:
		return math.Inf(1)
	}
	return math.Ceil((m - s) / d)
}

// rateAt returns the rate (hits/ns) of step k.
func (p StepPacer) rateAt(k, kcap float64) float64 {
	if k >= kcap {
		return perNs(p.Max)
	}
	return perNs(p.Start) + k*perNs(p.Step)
}

// hits is the expected number of hits in [0, t).
func (p StepPacer) hits(t time.Duration) float64 {
	if t <= 0 || p.invalid() {
		return 0
	}
	s, d, e, kc := perNs(p.Start), perNs(p.Step), float64(p.Every), p.kcap()
	tf := float64(t)
	k := math.Floor(tf / e)
	if k < kc {
		return e*(k*s+d*k*(k-1)/2) + (s+k*d)*(tf-k*e)
	}
	return e*(kc*s+d*kc*(kc-1)/2) + perNs(p.Max)*(tf-kc*e)
}

// Rate returns the instantaneous rate in hits per second.
func (p StepPacer) Rate(elapsed time.Duration) float64 {
	if p.invalid() || elapsed < 0 {
		return 0
	}
	return p.rateAt(math.Floor(float64(elapsed)/float64(p.Every)), p.kcap()) * 1e9
}

// Pace returns how long to wait before the next hit; it stops on an invalid
// configuration.
func (p StepPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return p.until(elapsed, float64(hits+1))
}

// until returns how long after elapsed the expected hits reach target (0
// when they already have); it stops on an invalid configuration.
func (p StepPacer) until(elapsed time.Duration, target float64) (time.Duration, bool) {
	if p.invalid() {
		return 0, true
	}
	expected := p.hits(elapsed)
	if target <= expected {
		return 0, false // running behind
	}
	e, kc := float64(p.Every), p.kcap()
	rem := target - expected
	t := float64(elapsed)
	for range maxPaceSegments {
		k := math.Floor(t / e)
		r := p.rateAt(k, kc)
		end := (k + 1) * e
		if k >= kc {
			end = math.Inf(1)
		}
		if r > 0 && t+rem/r <= end {
			return toWait(t+rem/r, elapsed), false
		}
		if math.IsInf(end, 1) {
			return 0, true // rate is zero forever
		}
		rem -= r * (end - t)
		t = end
		if rem <= hitEpsilon { // float slop: the hit is due at the boundary
			return toWait(t, elapsed), false
		}
	}
	return 0, true
}

// SpikePacer holds Base, then at At rises linearly to Peak within Rise, holds
// Peak for Hold, decays linearly back to Base within Decay and holds Base
// again: the campaign spike (e.g. 10× in 30 s). With a zero Base the attack
// stops after the spike.
type SpikePacer struct {
	Base  vegeta.Rate   // rate before and after the spike
	Peak  vegeta.Rate   // rate at the top of the spike
	At    time.Duration // offset from the start of the run at which the rise begins
	Rise  time.Duration // Base→Peak, linear
	Hold  time.Duration // time spent at Peak
	Decay time.Duration // Peak→Base, linear
}

var _ vegeta.Pacer = SpikePacer{}

// String describes the spike, e.g. Spike{100 hits/1s → 1000 hits/1s at 30s, rise 5s, hold 30s, decay 5s}.
func (p SpikePacer) String() string {
	return fmt.Sprintf("Spike{%s → %s at %s, rise %s, hold %s, decay %s}",
		rateString(p.Base), rateString(p.Peak), p.At, p.Rise, p.Hold, p.Decay)
}

func (p SpikePacer) invalid() bool {
	return !validRate(p.Base) || !validRate(p.Peak) || p.At < 0 || p.Rise < 0 || p.Hold < 0 || p.Decay < 0 ||
		(perNs(p.Base) == 0 && perNs(p.Peak) == 0)
}

// segment is one linear piece of a rate profile: the rate goes from r0 to r1
// (hits/ns) over [start, end); end may be +Inf.
type segment struct {
	start, end, r0, r1 float64
}

func (s segment) slope() float64 {
	if math.IsInf(s.end, 1) || s.end <= s.start {
		return 0
	}
	return (s.r1 - s.r0) / (s.end - s.start)
}

// rateAt is the rate at t within the segment.
func (s segment) rateAt(t float64) float64 { return s.r0 + s.slope()*(t-s.start) }

// area is the number of hits in [a, b) within the segment.
func (s segment) area(a, b float64) float64 {
	ra := s.rateAt(a)
	x := b - a
	return ra*x + s.slope()*x*x/2
}

func (p SpikePacer) segments() [5]segment {
	base, peak := perNs(p.Base), perNs(p.Peak)
	b1 := float64(p.At)
	b2 := b1 + float64(p.Rise)
	b3 := b2 + float64(p.Hold)
	b4 := b3 + float64(p.Decay)
	return [5]segment{
		{0, b1, base, base},
		{b1, b2, base, peak},
		{b2, b3, peak, peak},
		{b3, b4, peak, base},
		{b4, math.Inf(1), base, base},
	}
}

// hits is the expected number of hits in [0, t).
func (p SpikePacer) hits(t time.Duration) float64 {
	if t <= 0 || p.invalid() {
		return 0
	}
	tf := float64(t)
	var h float64
	for _, s := range p.segments() {
		if tf <= s.start {
			break
		}
		if s.end <= s.start {
			continue
		}
		h += s.area(s.start, math.Min(tf, s.end))
	}
	return h
}

// Rate returns the instantaneous rate in hits per second.
func (p SpikePacer) Rate(elapsed time.Duration) float64 {
	if p.invalid() || elapsed < 0 {
		return 0
	}
	t := float64(elapsed)
	for _, s := range p.segments() {
		if t < s.end {
			return s.rateAt(t) * 1e9
		}
	}
	return perNs(p.Base) * 1e9
}

// Pace returns how long to wait before the next hit; it stops on an invalid
// configuration or when the rate is zero for ever after.
func (p SpikePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return p.until(elapsed, float64(hits+1))
}

// until returns how long after elapsed the expected hits reach target (0
// when they already have); it stops on an invalid configuration or when the
// rate is zero for ever after.
func (p SpikePacer) until(elapsed time.Duration, target float64) (time.Duration, bool) {
	if p.invalid() {
		return 0, true
	}
	expected := p.hits(elapsed)
	if target <= expected {
		return 0, false // running behind
	}
	rem := target - expected
	t := float64(elapsed)
	for _, s := range p.segments() {
		if t >= s.end || s.end <= s.start {
			continue
		}
		a := s.rateAt(t)
		if x := solveLinear(a, s.slope(), rem); !math.IsInf(x, 1) && t+x <= s.end {
			return toWait(t+x, elapsed), false
		}
		if math.IsInf(s.end, 1) {
			break
		}
		rem -= s.area(t, s.end)
		t = s.end
		if rem <= hitEpsilon { // float slop: the hit is due at the boundary
			return toWait(t, elapsed), false
		}
	}
	return 0, true
}

// solveLinear returns x >= 0 with a·x + b·x²/2 = rem (rate a at x=0 rising by
// b per ns), or +Inf when the rate never accumulates rem hits. The form
// 2·rem/(a+√(a²+2b·rem)) is stable for b = 0 and for a = 0.
func solveLinear(a, b, rem float64) float64 {
	disc := a*a + 2*b*rem
	if disc < 0 {
		return math.Inf(1)
	}
	den := a + math.Sqrt(disc)
	if den <= 0 {
		return math.Inf(1)
	}
	return 2 * rem / den
}

// toWait converts an absolute target time (ns, float) into a wait from elapsed.
func toWait(at float64, elapsed time.Duration) time.Duration {
	w := at - float64(elapsed)
	switch {
	case w <= 0:
		return 0
	case w >= math.MaxInt64:
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Ceil(w))
}

// perNs returns a rate in hits per nanosecond; zero for a zero rate.
func perNs(r vegeta.Rate) float64 {
	if r.Per <= 0 || r.Freq <= 0 {
		return 0
	}
	return float64(r.Freq) / float64(r.Per)
}

// validRate refuses negative rates and a frequency without a period (which
// vegeta would read as "unlimited").
func validRate(r vegeta.Rate) bool {
	return r.Freq >= 0 && r.Per >= 0 && (r.Freq == 0 || r.Per > 0)
}

func rateString(r vegeta.Rate) string {
	return fmt.Sprintf("%d hits/%s", r.Freq, r.Per)
}
