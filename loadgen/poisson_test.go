package loadgen

import (
	"math"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// arrivals runs a pacer in virtual time as vegeta's attack loop does and
// returns when each hit was sent, up to window.
func arrivals(t *testing.T, p vegeta.Pacer, window time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	var elapsed time.Duration
	for range 10_000_000 {
		wait, stop := p.Pace(elapsed, uint64(len(out)))
		if stop {
			return out
		}
		elapsed += wait
		if elapsed >= window {
			return out
		}
		out = append(out, elapsed)
	}
	t.Fatalf("pacer %v did not reach %s within the loop bound", p, window)
	return nil
}

func mustPoisson(t *testing.T, p vegeta.Pacer, seed uint64) *Poisson {
	t.Helper()
	pp, err := NewPoisson(p, seed)
	if err != nil {
		t.Fatal(err)
	}
	return pp
}

func TestNewPoisson(t *testing.T) {
	tests := []struct {
		name string
		p    vegeta.Pacer
		ok   bool
	}{
		{"constant", perSec(100), true},
		{"per minute", vegeta.Rate{Freq: 600, Per: time.Minute}, true},
		{"step", StepPacer{Start: perSec(100), Step: perSec(50), Every: time.Second}, true},
		{"spike", SpikePacer{Base: perSec(10), Peak: perSec(100), Rise: time.Second, Hold: time.Second}, true},
		{"zero rate (vegeta's unlimited)", vegeta.Rate{}, false},
		{"negative rate", perSec(-5), false},
		{"step without a length", StepPacer{Start: perSec(100)}, false},
		{"spike from nothing to nothing", SpikePacer{}, false},
		{"vegeta's linear pacer", vegeta.LinearPacer{StartAt: perSec(1), Slope: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPoisson(tt.p, 1)
			if (err == nil) != tt.ok {
				t.Fatalf("NewPoisson(%v): err = %v, want ok=%v", tt.p, err, tt.ok)
			}
		})
	}
}

// TestPoissonGaps: the mean rate is kept, and the gaps are exponential, so
// hits meet by chance where an even schedule never lets them.
func TestPoissonGaps(t *testing.T) {
	const rate, window = 50, 200 * time.Second
	const close = 5 * time.Millisecond
	tests := []struct {
		name   string
		p      vegeta.Pacer
		near   float64 // expected share of gaps under close
		cvLow  float64 // coefficient of variation of the gaps: 1 for exponential, 0 for even
		cvHigh float64
	}{
		{"poisson", mustPoisson(t, perSec(rate), 7), 1 - math.Exp(-rate*close.Seconds()), 0.95, 1.05},
		{"even", perSec(rate), 0, 0, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := arrivals(t, tt.p, window)
			want := rate * window.Seconds()
			// ±5 standard deviations of a Poisson count.
			if n := float64(len(at)); math.Abs(n-want) > 5*math.Sqrt(want) {
				t.Fatalf("%d hits in %s, want %.0f ± %.0f", len(at), window, want, 5*math.Sqrt(want))
			}
			var near int
			var sum, sq float64
			for i := 1; i < len(at); i++ {
				g := (at[i] - at[i-1]).Seconds()
				if at[i]-at[i-1] < close {
					near++
				}
				sum, sq = sum+g, sq+g*g
			}
			n := float64(len(at) - 1)
			mean := sum / n
			cv := math.Sqrt(max(sq/n-mean*mean, 0)) / mean
			share := float64(near) / n
			if math.Abs(share-tt.near) > 0.02 {
				t.Errorf("%.3f of gaps under %s, want %.3f", share, close, tt.near)
			}
			if cv < tt.cvLow || cv > tt.cvHigh {
				t.Errorf("coefficient of variation %.3f, want in [%.2f, %.2f]", cv, tt.cvLow, tt.cvHigh)
			}
		})
	}
}

// TestPoissonRepeats: the schedule is a function of the seed and the hit
// number alone, asked in any order and any number of times.
func TestPoissonRepeats(t *testing.T) {
	a := arrivals(t, mustPoisson(t, perSec(500), 3), 20*time.Second)
	b := arrivals(t, mustPoisson(t, perSec(500), 3), 20*time.Second)
	c := arrivals(t, mustPoisson(t, perSec(500), 4), 20*time.Second)
	if len(a) != len(b) || len(a) < 9000 {
		t.Fatalf("same seed: %d and %d hits", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed: hit %d at %s and %s", i, a[i], b[i])
		}
	}
	same := 0
	for i := range min(len(a), len(c)) {
		if a[i] == c[i] {
			same++
		}
	}
	if same > len(a)/100 {
		t.Errorf("seeds 3 and 4 share %d of %d arrival times", same, len(a))
	}
	// Out of order, across blocks of stored sums, and again: the same answer.
	p := mustPoisson(t, perSec(500), 3)
	for _, n := range []uint64{5000, 10, 4096, 1023, 1024, 5000, 9000, 10} {
		if w, _ := p.Pace(0, n); w != a[n] {
			t.Errorf("hit %d: due at %s asked out of order, %s in order", n, w, a[n])
		}
	}
}

// TestPoissonFollowsProfile: the rate follows the wrapped step profile.
func TestPoissonFollowsProfile(t *testing.T) {
	p := mustPoisson(t, StepPacer{Start: perSec(100), Step: perSec(200), Every: 50 * time.Second, Max: perSec(300)}, 9)
	at := arrivals(t, p, 100*time.Second)
	var first int
	for _, a := range at {
		if a < 50*time.Second {
			first++
		}
	}
	second := len(at) - first
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"first step (100/s)", float64(first), 5000}, {"second step (300/s)", float64(second), 15000}} {
		if math.Abs(c.got-c.want) > 5*math.Sqrt(c.want) {
			t.Errorf("%s: %.0f hits, want %.0f ± %.0f", c.name, c.got, c.want, 5*math.Sqrt(c.want))
		}
	}
	if got := p.Rate(60 * time.Second); got != 300 {
		t.Errorf("Rate at 60s = %v, want 300", got)
	}
}
