package scenarios

import (
	"fmt"
	"slices"
	"time"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
)

// Recovery measurement settings.
const (
	rtoStep       = 100 * time.Millisecond // RTO resolution
	healthyWindow = 3 * time.Second        // how long the success rate must hold
	healthyShare  = 0.9                    // of the target rate, answered ok
	healthyErrors = 0.01                   // share of unknown outcomes still healthy
	warmup        = time.Second            // skipped at the start of the before window
	minBefore     = 3 * time.Second        // shorter pre-fault windows cannot be judged
	minBeforeRate = 0.5                    // pre-fault ok rate below this share of the target: inconclusive
)

// completion is one finished operation on the run's clock.
type completion struct {
	t       time.Duration
	outcome string // ok|fail|unknown
	latency time.Duration
}

func completions(evs []loadgen.Event) []completion {
	out := make([]completion, 0, len(evs)/2)
	for _, e := range evs {
		if e.Type == loadgen.EventInvoke {
			continue
		}
		out = append(out, completion{t: time.Duration(e.TNS), outcome: e.Type, latency: time.Duration(e.LatencyMS * float64(time.Millisecond))})
	}
	slices.SortFunc(out, func(a, b completion) int { return int(a.t - b.t) })
	return out
}

// Measure summarises a history's completions in [from, to) on the run's
// clock: requests by outcome, ok/s, mean and percentile latencies.
func Measure(evs []loadgen.Event, from, to time.Duration) report.Window {
	return *window(completions(evs), from, to)
}

// window summarises the completions in [from, to).
func window(cs []completion, from, to time.Duration) *report.Window {
	w := &report.Window{FromS: from.Seconds(), ToS: to.Seconds()}
	var lat []time.Duration
	for _, c := range cs {
		if c.t < from || c.t >= to {
			continue
		}
		w.Requests++
		switch c.outcome {
		case loadgen.EventOK:
			w.OK++
		case loadgen.EventFail:
			w.Failed++
		default:
			w.Errors++
		}
		lat = append(lat, c.latency)
	}
	if span := (to - from).Seconds(); span > 0 {
		w.OKRPS = float64(w.OK) / span
	}
	if len(lat) > 0 {
		var sum time.Duration
		for _, l := range lat {
			sum += l
		}
		w.MeanMS = report.MS(sum / time.Duration(len(lat)))
		slices.Sort(lat)
		q := func(p float64) float64 { return report.MS(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
		w.P50MS, w.P99MS, w.MaxMS = q(0.5), q(0.99), report.MS(lat[len(lat)-1])
	}
	return w
}

// rtoOf is the RTO of a fault injected at start and healed at heal: from
// start until the success rate is back above threshold for healthyWindow,
// on a 100 ms grid. "Back" means it dropped first: a fault that never caused
// an unknown outcome inside its window (plus a second) has an RTO of 0. Back
// above threshold means at most healthyErrors of the window's answers were
// unknown outcomes and at least healthyShare of rate was answered ok. If
// that never happens before end, the RTO is end - start.
func rtoOf(cs []completion, start, heal, end time.Duration, rate float64) time.Duration {
	if end <= start {
		return 0
	}
	n := int((end-start)/rtoStep) + 1
	ok, bad := make([]int, n), make([]int, n)
	firstBad := -1
	for _, c := range cs {
		if c.t < start || c.t >= end {
			continue
		}
		b := int((c.t - start) / rtoStep)
		switch c.outcome {
		case loadgen.EventOK:
			ok[b]++
		case loadgen.EventUnknown:
			bad[b]++
			if (firstBad < 0 || b < firstBad) && c.t < heal+time.Second {
				firstBad = b
			}
		}
	}
	if firstBad < 0 {
		return 0
	}
	span := int(healthyWindow / rtoStep)
	need := healthyShare * rate * healthyWindow.Seconds()
	for b := firstBad; b+span <= n; b++ {
		okSum, badSum := 0, 0
		for k := b; k < b+span; k++ {
			okSum += ok[k]
			badSum += bad[k]
		}
		if float64(badSum) <= healthyErrors*float64(okSum+badSum) && float64(okSum) >= need {
			return time.Duration(b) * rtoStep
		}
	}
	return end - start
}

// analyseFaults fills each fault's RTO, windows and lateness from the
// history, and marks the run inconclusive when the traffic before a fault
// was too thin to judge its recovery.
// The healthy rate is the lower of the target rate and the ok rate before the
// fault, so a stack that never reached the target can still recover.
func analyseFaults(rep *report.Report, plan []chaos.Entry, recs []chaos.Record, evs []loadgen.Event, loadEnd time.Duration, rateAt func(time.Duration) float64) {
	cs := completions(evs)
	rep.Faults = rep.Faults[:0]
	rep.Recovery.RTOS = 0
	for i, r := range recs {
		f := faultOf(r)
		if r.Start == 0 {
			rep.Faults = append(rep.Faults, f) // never injected
			continue
		}
		f.LateMS = report.MS(r.Start - plan[i].At)
		end := r.End
		if end == 0 || end > loadEnd {
			end = loadEnd
		}
		f.Before = window(cs, min(warmup, r.Start), r.Start)
		f.During = window(cs, r.Start, end)
		f.After = window(cs, end, loadEnd)
		rate := rateAt(r.Start)
		rto := rtoOf(cs, r.Start, end, loadEnd, min(rate, f.Before.OKRPS))
		f.RTOS = rto.Seconds()
		rep.Recovery.RTOS = max(rep.Recovery.RTOS, f.RTOS)
		if rep.Inconclusive == "" {
			switch {
			case r.Start < minBefore:
				rep.Inconclusive = fmt.Sprintf("%s starts at %.1fs: less than %v of traffic before it to compare with", r.Kind, r.Start.Seconds(), minBefore)
			case f.Before.OKRPS < minBeforeRate*rate:
				rep.Inconclusive = fmt.Sprintf("before %s the stack answered %.1f ok/s, under %.0f%% of the target %.0f/s: recovery cannot be judged", r.Kind, f.Before.OKRPS, minBeforeRate*100, rate)
				if h := rep.Host; h != nil && h.Saturated { // the shortfall may be the host's
					rep.Inconclusive += "; host saturated (" + h.Reason + ")"
				}
			}
		}
		rep.Faults = append(rep.Faults, f)
	}
}
