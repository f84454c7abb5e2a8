package loadgen

import (
	"math"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func perSec(n int) vegeta.Rate { return vegeta.Rate{Freq: n, Per: time.Second} }

// simulate runs a pacer in virtual time the way vegeta's attack loop does and
// counts the hits sent strictly before window. stopped reports that the
// pacer asked to stop before the window ended.
func simulate(t *testing.T, p vegeta.Pacer, window time.Duration) (hits uint64, stopped bool) {
	t.Helper()
	var elapsed time.Duration
	for range 10_000_000 {
		wait, stop := p.Pace(elapsed, hits)
		if stop {
			return hits, true
		}
		elapsed += wait
		if elapsed >= window {
			return hits, false
		}
		hits++
	}
	t.Fatalf("pacer %v did not reach %s within the loop bound", p, window)
	return 0, false
}

func TestStepPacerRate(t *testing.T) {
	capped := StepPacer{Start: perSec(100), Step: perSec(50), Every: 10 * time.Second, Max: perSec(300)}
	uncapped := StepPacer{Start: perSec(100), Step: perSec(50), Every: 10 * time.Second}
	fromZero := StepPacer{Step: perSec(10), Every: time.Second}
	tests := []struct {
		name string
		p    StepPacer
		at   time.Duration
		want float64
	}{
		{"first step", capped, 0, 100},
		{"end of first step", capped, 10*time.Second - 1, 100},
		{"second step", capped, 10 * time.Second, 150},
		{"third step", capped, 25 * time.Second, 200},
		{"reaches max", capped, 40 * time.Second, 300},
		{"stays at max", capped, time.Hour, 300},
		{"uncapped keeps climbing", uncapped, 100 * time.Second, 600},
		{"start above max is capped", StepPacer{Start: perSec(500), Step: perSec(1), Every: time.Second, Max: perSec(200)}, 0, 200},
		{"from zero", fromZero, 0, 0},
		{"from zero second step", fromZero, 1500 * time.Millisecond, 10},
		{"per-minute rates", StepPacer{Start: vegeta.Rate{Freq: 60, Per: time.Minute}, Every: time.Second}, 0, 1},
		{"invalid: no step length", StepPacer{Start: perSec(100)}, 0, 0},
		{"invalid: negative rate", StepPacer{Start: perSec(-1), Every: time.Second}, 0, 0},
		{"negative elapsed", capped, -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Rate(tt.at); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Rate(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestStepPacerHits(t *testing.T) {
	capped := StepPacer{Start: perSec(100), Step: perSec(50), Every: 10 * time.Second, Max: perSec(300)}
	tests := []struct {
		name     string
		p        StepPacer
		window   time.Duration
		want     uint64
		wantStop bool
	}{
		{"one step", capped, 10 * time.Second, 1000, false},
		{"three steps", capped, 30 * time.Second, 1000 + 1500 + 2000, false},
		{"into the cap", capped, 60 * time.Second, 1000 + 1500 + 2000 + 2500 + 3000*2, false},
		{"partial step", capped, 15 * time.Second, 1000 + 750, false},
		{"from zero", StepPacer{Step: perSec(10), Every: time.Second}, 4 * time.Second, 0 + 10 + 20 + 30, false},
		{"flat step", StepPacer{Start: perSec(7), Every: time.Second}, 10 * time.Second, 70, false},
		{"invalid stops", StepPacer{Start: perSec(10)}, time.Second, 0, true},
		{"all zero stops", StepPacer{Every: time.Second}, time.Second, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stopped := simulate(t, tt.p, tt.window)
			if stopped != tt.wantStop {
				t.Fatalf("stopped = %v, want %v", stopped, tt.wantStop)
			}
			if diff := int64(got) - int64(tt.want); diff < -1 || diff > 1 {
				t.Errorf("hits in %s = %d, want %d ±1", tt.window, got, tt.want)
			}
		})
	}
}

func TestSpikePacerRate(t *testing.T) {
	spike := SpikePacer{Base: perSec(100), Peak: perSec(1000), At: 10 * time.Second,
		Rise: 5 * time.Second, Hold: 10 * time.Second, Decay: 5 * time.Second}
	tests := []struct {
		name string
		p    SpikePacer
		at   time.Duration
		want float64
	}{
		{"before", spike, 5 * time.Second, 100},
		{"rise starts", spike, 10 * time.Second, 100},
		{"half way up", spike, 12500 * time.Millisecond, 550},
		{"peak", spike, 15 * time.Second, 1000},
		{"holding", spike, 24 * time.Second, 1000},
		{"half way down", spike, 27500 * time.Millisecond, 550},
		{"back to base", spike, 30 * time.Second, 100},
		{"long after", spike, time.Hour, 100},
		{"instant rise", SpikePacer{Base: perSec(10), Peak: perSec(100), At: time.Second, Hold: time.Second}, time.Second, 100},
		{"invalid: negative hold", SpikePacer{Base: perSec(10), Peak: perSec(100), Hold: -1}, 0, 0},
		{"invalid: no rates", SpikePacer{Hold: time.Second}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Rate(tt.at); math.Abs(got-tt.want) > 1e-6 {
				t.Errorf("Rate(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestSpikePacerHits(t *testing.T) {
	spike := SpikePacer{Base: perSec(100), Peak: perSec(1000), At: 10 * time.Second,
		Rise: 5 * time.Second, Hold: 10 * time.Second, Decay: 5 * time.Second}
	tests := []struct {
		name     string
		p        SpikePacer
		window   time.Duration
		want     uint64
		wantStop bool
	}{
		{"base only", spike, 10 * time.Second, 1000, false},
		{"through the rise", spike, 15 * time.Second, 1000 + 2750, false},
		{"whole spike and after", spike, 40 * time.Second, 1000 + 2750 + 10000 + 2750 + 1000, false},
		{"10x campaign in 30s", SpikePacer{Base: perSec(50), Peak: perSec(500), Rise: 30 * time.Second, Hold: 10 * time.Second},
			40 * time.Second, 30*275 + 5000, false},
		{"zero base stops after the spike", SpikePacer{Peak: perSec(100), At: time.Second, Rise: time.Second, Hold: time.Second, Decay: time.Second},
			time.Minute, 50 + 100 + 50, true},
		{"invalid stops", SpikePacer{Base: perSec(10), At: -time.Second}, time.Second, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stopped := simulate(t, tt.p, tt.window)
			if stopped != tt.wantStop {
				t.Fatalf("stopped = %v, want %v", stopped, tt.wantStop)
			}
			if diff := int64(got) - int64(tt.want); diff < -1 || diff > 1 {
				t.Errorf("hits in %s = %d, want %d ±1", tt.window, got, tt.want)
			}
		})
	}
}

func TestRamp(t *testing.T) {
	tests := []struct {
		name     string
		from, to vegeta.Rate
		over     time.Duration
		wantErr  string
		rateAt   time.Duration
		wantRate float64
		hitsIn   time.Duration
		wantHits uint64
	}{
		{name: "up", from: perSec(100), to: perSec(300), over: 10 * time.Second,
			rateAt: 5 * time.Second, wantRate: 200, hitsIn: 10 * time.Second, wantHits: 2000},
		{name: "down", from: perSec(300), to: perSec(100), over: 10 * time.Second,
			rateAt: 10 * time.Second, wantRate: 100, hitsIn: 10 * time.Second, wantHits: 2000},
		{name: "zero start", from: vegeta.Rate{}, to: perSec(100), over: time.Second, wantErr: "start rate"},
		{name: "zero duration", from: perSec(1), to: perSec(100), wantErr: "duration"},
		{name: "negative", from: perSec(1), to: perSec(-5), over: time.Second, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Ramp(tt.from, tt.to, tt.over)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Rate(tt.rateAt); math.Abs(got-tt.wantRate) > 1e-6 {
				t.Errorf("Rate(%s) = %v, want %v", tt.rateAt, got, tt.wantRate)
			}
			got, _ := simulate(t, p, tt.hitsIn)
			if diff := int64(got) - int64(tt.wantHits); diff < -2 || diff > 2 {
				t.Errorf("hits = %d, want %d ±2", got, tt.wantHits)
			}
		})
	}
}

func TestPacerStrings(t *testing.T) {
	tests := []struct {
		p    interface{ String() string }
		want string
	}{
		{StepPacer{Start: perSec(100), Step: perSec(50), Every: 10 * time.Second, Max: perSec(1000)},
			"Step{100 hits/1s +50 hits/1s every 10s, max 1000 hits/1s}"},
		{StepPacer{Start: perSec(1), Step: perSec(1), Every: time.Minute}, "Step{1 hits/1s +1 hits/1s every 1m0s, uncapped}"},
		{SpikePacer{Base: perSec(100), Peak: perSec(1000), At: 30 * time.Second, Rise: 5 * time.Second, Hold: 30 * time.Second, Decay: 5 * time.Second},
			"Spike{100 hits/1s → 1000 hits/1s at 30s, rise 5s, hold 30s, decay 5s}"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
