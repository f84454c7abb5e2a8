package loadgen

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// timetable is a rate schedule that can say when its expected hits reach
// any count, fractional too: the pacers Poisson can randomise.
type timetable interface {
	Rate(elapsed time.Duration) float64
	until(elapsed time.Duration, target float64) (time.Duration, bool)
}

// constant is vegeta's constant rate as a timetable.
type constant struct{ r vegeta.Rate }

func (c constant) Rate(elapsed time.Duration) float64 { return c.r.Rate(elapsed) }

func (c constant) String() string { return c.r.String() }

func (c constant) until(elapsed time.Duration, target float64) (time.Duration, bool) {
	r := perNs(c.r)
	if r == 0 {
		return 0, true
	}
	return toWait(target/r, elapsed), false
}

// poissonBlock is how many draws lie between two stored partial sums.
const poissonBlock = 1024

// Poisson is a pacer whose hits arrive at random: a Poisson process whose
// rate follows the wrapped pacer's over time, so the gaps between hits are
// exponentially distributed rather than equal. Real traffic arrives so, and
// only so do requests meet by chance: at 50/s an even schedule never sends
// two within 5 ms of each other, a Poisson one does for about one hit in
// five. The draws come from the seed, so a run repeats. Safe for concurrent
// use.
type Poisson struct {
	inner timetable
	seed  uint64

	mu    sync.Mutex
	marks []float64 // marks[j]: the sum of the first j*poissonBlock draws
	at    uint64    // the last sum computed is of the first at draws
	sum   float64
}

var _ vegeta.Pacer = (*Poisson)(nil)

// NewPoisson randomises p's schedule: a constant rate (vegeta.Rate), a
// StepPacer or a SpikePacer.
func NewPoisson(p vegeta.Pacer, seed uint64) (*Poisson, error) {
	var tt timetable
	switch q := p.(type) {
	case vegeta.Rate:
		if !validRate(q) || perNs(q) == 0 {
			return nil, errors.New("poisson: the rate must be > 0")
		}
		tt = constant{q}
	case StepPacer:
		if q.invalid() {
			return nil, fmt.Errorf("poisson: invalid %v", q)
		}
		tt = q
	case SpikePacer:
		if q.invalid() {
			return nil, fmt.Errorf("poisson: invalid %v", q)
		}
		tt = q
	default:
		return nil, fmt.Errorf("poisson: cannot randomise %T (want a constant rate, a step or a spike)", p)
	}
	return &Poisson{inner: tt, seed: seed, marks: []float64{0}}, nil
}

// String describes the pacer, e.g. Poisson{100 hits/1s}.
func (p *Poisson) String() string { return fmt.Sprintf("Poisson{%v}", p.inner) }

// Rate returns the wrapped pacer's rate in hits per second: the mean.
func (p *Poisson) Rate(elapsed time.Duration) float64 { return p.inner.Rate(elapsed) }

// Pace returns how long to wait before hit number hits (0-based): it is due
// when the wrapped pacer's expected hits reach the sum of hits+1 unit
// exponential draws (time rescaling of a unit-rate Poisson process).
func (p *Poisson) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return p.inner.until(elapsed, p.arrival(hits+1))
}

// arrival returns the sum of the first k draws. A sum is always added up in
// the same order from the partial sum stored before it, so asking again for
// the same k gives the same float.
func (p *Poisson) arrival(k uint64) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	j := k / poissonBlock
	for uint64(len(p.marks)) <= j {
		n := uint64(len(p.marks) - 1)
		p.marks = append(p.marks, p.add(p.marks[n], n*poissonBlock, (n+1)*poissonBlock))
	}
	from, s := j*poissonBlock, p.marks[j]
	if p.at >= from && p.at <= k {
		from, s = p.at, p.sum
	}
	p.at, p.sum = k, p.add(s, from, k)
	return p.sum
}

// add adds draws from+1..to to s, in order.
func (p *Poisson) add(s float64, from, to uint64) float64 {
	for i := from + 1; i <= to; i++ {
		s += p.draw(i)
	}
	return s
}

// draw is the i-th unit exponential draw, a pure function of the seed and i
// (splitmix64's finaliser over the pair), so any draw can be recomputed.
func (p *Poisson) draw(i uint64) float64 {
	z := p.seed + i*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	u := float64(z>>11) / (1 << 53) // [0, 1)
	return -math.Log1p(-u)
}
