package capacity

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File is the capacity.json a capacity directory holds.
const File = "capacity.json"

// Result is capacity.json.
type Result struct {
	Scenario  string    `json:"scenario"`
	Mode      string    `json:"mode"`
	StartedAt time.Time `json:"started_at"`
	DurationS float64   `json:"duration_s"`
	StepS     float64   `json:"step_s"`
	SettleS   float64   `json:"settle_s"`
	Precision float64   `json:"precision"`
	// MaxSteps bounds each phase's steps (--max-steps).
	MaxSteps int `json:"max_steps"`
	// SLOP99MS is the p99 each step's judged window was held to (0: none).
	SLOP99MS float64 `json:"slo_p99_ms"`
	// MaxRate is the highest rate sustained with every AZ, and
	// MaxRateOneAZDown with the first AZ lost (0: none found).
	MaxRate          float64    `json:"max_rate"`
	MaxRateOneAZDown float64    `json:"max_rate_one_az_down"`
	Reference        *Reference `json:"reference,omitempty"`
	Ratios           *Ratios    `json:"ratios,omitempty"`
	Model            *USL       `json:"model,omitempty"`
	ModelError       string     `json:"model_error,omitempty"`
	Limit            *Limit     `json:"limit,omitempty"`
	Sizing           *Sizing    `json:"sizing,omitempty"`
	LogRetention     *Retention `json:"log_retention,omitempty"`
	// Searches says how each phase's search ended and how close its
	// bracket came, so that a search the step bound cut short is told
	// apart from one that reached the precision.
	Searches    []SearchEnd `json:"searches"`
	Steps       []Step      `json:"steps"`
	Interrupted bool        `json:"interrupted,omitempty"`
	Error       string      `json:"error,omitempty"`
}

// How a phase's search ended (SearchEnd.EndedBy).
const (
	EndPrecision        = "precision"         // the bracket is within the precision
	EndAdjacentRates    = "adjacent_rates"    // no whole rate is left between its ends
	EndStepBound        = "step_bound"        // MaxSteps ran out first
	EndNothingSustained = "nothing_sustained" // not even 1/s was sustained
	EndNothingFailed    = "nothing_failed"    // every step was sustained: no upper end
	EndInterrupted      = "interrupted"
	EndError            = "error"
	EndNotRun           = "not_run"
)

// SearchEnd is one phase's bracket: the highest rate sustained and the
// lowest rate above it that was not (for the one-AZ-down phase, the
// all-AZs max_rate when every step held), their gap, and why the search
// stopped there.
type SearchEnd struct {
	Phase     string  `json:"phase"`
	Steps     int     `json:"steps"`
	Sustained float64 `json:"sustained"`
	Failed    float64 `json:"failed"`
	// Gap is (Failed − Sustained) / Sustained, 0 without both ends.
	Gap     float64 `json:"gap"`
	EndedBy string  `json:"ended_by"`
}

// searchEnd derives a phase's bracket from its steps. ceiling is the rate
// the phase may not exceed (0: none); stopped says why a search that
// reached no natural end stopped (EndInterrupted, EndError, or "" when
// only the step bound can have stopped it).
func searchEnd(phase string, steps []Step, ceiling, precision float64, maxSteps int, stopped string) SearchEnd {
	e := SearchEnd{Phase: phase, Steps: len(steps)}
	if best := highest(steps); best != nil {
		e.Sustained = best.Rate
	}
	for _, s := range steps {
		if !s.Sustained && !s.Retried && s.Rate > e.Sustained && (e.Failed == 0 || s.Rate < e.Failed) {
			e.Failed = s.Rate
		}
	}
	if e.Failed == 0 && ceiling > e.Sustained {
		e.Failed = ceiling
	}
	if e.Sustained > 0 && e.Failed > 0 {
		e.Gap = (e.Failed - e.Sustained) / e.Sustained
	}
	switch {
	case len(steps) == 0 && stopped != "":
		e.EndedBy = stopped
	case len(steps) == 0:
		e.EndedBy = EndNotRun
	case e.Sustained > 0 && e.Failed > 0 && e.Gap <= precision:
		e.EndedBy = EndPrecision
	case e.Sustained > 0 && e.Failed > 0 && e.Failed-e.Sustained <= 1:
		e.EndedBy = EndAdjacentRates // the bisection's midpoint rounds to an end
	case stopped != "":
		e.EndedBy = stopped
	case e.Sustained == 0 && (len(steps) < maxSteps || lowestRate(steps) <= 2):
		e.EndedBy = EndNothingSustained // it halved the rate below 1/s
	case e.Failed == 0:
		e.EndedBy = EndNothingFailed // the step bound, still growing
	default:
		e.EndedBy = EndStepBound // a bracket wider than the precision
	}
	return e
}

// lowestRate is the lowest rate steps tried.
func lowestRate(steps []Step) float64 {
	low := math.Inf(1)
	for _, s := range steps {
		low = math.Min(low, s.Rate)
	}
	return low
}

// Ratios put the capacity figures against the machine's reference.
type Ratios struct {
	MaxRateToReference          float64 `json:"max_rate_to_reference"`
	MaxRateOneAZDownToReference float64 `json:"max_rate_one_az_down_to_reference"`
	// CPUSecondsPer1000Payments is paysim's CPU (load generator and, in
	// embedded mode, the whole stack) per 1,000 ok operations at MaxRate,
	// and CPUPerPaymentToReference that per payment against the
	// reference's CPU per no-op request.
	CPUSecondsPer1000Payments float64 `json:"cpu_seconds_per_1000_payments"`
	CPUPerPaymentToReference  float64 `json:"cpu_per_payment_to_reference"`
}

// Options are what Analyze needs besides the steps.
type Options struct {
	Target        float64 // payments/s to size for; 0 skips sizing
	InstanceCores float64 // cores one app instance gets
	AZs           int
	HotDays       int
	WarmDays      int
	Replicas      int
}

// Analyze fills the results from the steps: the rates, how each search
// ended, the ratios, the model, the limit, the sizing and the log
// retention. Set Precision, MaxSteps, Interrupted and Error first.
func (r *Result) Analyze(all, down []Step, ref *Reference, o Options) {
	r.Steps = append(append([]Step(nil), all...), down...)
	r.Reference = ref
	best := highest(all)
	if best != nil {
		r.MaxRate = best.Rate
	}
	if d := highest(down); d != nil {
		r.MaxRateOneAZDown = d.Rate
	}
	stopped := ""
	switch {
	case r.Interrupted:
		stopped = EndInterrupted
	case r.Error != "":
		stopped = EndError
	}
	allStopped := stopped
	if len(down) > 0 {
		allStopped = "" // the first search ended on its own: the second began
	}
	r.Searches = []SearchEnd{
		searchEnd(PhaseAllAZs, all, 0, r.Precision, r.MaxSteps, allStopped),
		searchEnd(PhaseOneAZDown, down, r.MaxRate, r.Precision, r.MaxSteps, stopped),
	}
	if best != nil && ref != nil && ref.ReqPerS > 0 {
		r.Ratios = &Ratios{
			MaxRateToReference:          r.MaxRate / ref.ReqPerS,
			MaxRateOneAZDownToReference: r.MaxRateOneAZDown / ref.ReqPerS,
			CPUSecondsPer1000Payments:   best.CPUMSPerPayment,
		}
		if ref.CPUMSPerReq > 0 {
			r.Ratios.CPUPerPaymentToReference = best.CPUMSPerPayment / ref.CPUMSPerReq
		}
	}
	var pts []point
	for _, s := range all {
		x := s.AnsweredPS
		pts = append(pts, point{n: x * s.MeanMS / 1000, x: x})
	}
	if u, err := fitUSL(pts); err != nil {
		r.ModelError = err.Error()
	} else {
		u.MeasuredKnee = r.MaxRate
		if r.MaxRate > 0 && u.PredictedPeak > 0 {
			u.Disagreement = math.Abs(u.PredictedPeak-r.MaxRate) / r.MaxRate
		}
		r.Model = &u
	}
	var shares []Share
	if knee := lowestFailed(all); knee != nil {
		if knee.Profile != "" {
			shares, _ = TierShares(knee.Profile)
		}
		l := limitOf(knee, shares)
		r.Limit = &l
	} else if len(all) > 0 {
		r.Limit = &Limit{Sentence: fmt.Sprintf("no step with every AZ failed up to %.0f/s: the limit lies higher (raise --max-steps)", all[len(all)-1].Rate)}
	}
	if best != nil {
		bestShares := shares
		if best.Profile != "" {
			if s, err := TierShares(best.Profile); err == nil {
				bestShares = s
			}
		}
		if o.Target > 0 {
			sz := sizeFor(o, r.MaxRate, r.MaxRateOneAZDown, best, bestShares)
			r.Sizing = &sz
		}
		if best.rep != nil && best.rep.Logs != nil && best.rep.Logs.BytesPerOK > 0 {
			ret := retention(best.rep.Logs.BytesPerOK, r.MaxRate, o)
			r.LogRetention = &ret
		}
	}
}

// highest is the sustained step of the highest rate.
func highest(steps []Step) *Step {
	var best *Step
	for i := range steps {
		if s := &steps[i]; s.Sustained && (best == nil || s.Rate > best.Rate) {
			best = s
		}
	}
	return best
}

// lowestFailed is the step not sustained of the lowest rate, less those
// run again: the knee.
func lowestFailed(steps []Step) *Step {
	var knee *Step
	for i := range steps {
		if s := &steps[i]; !s.Sustained && !s.Retried && (knee == nil || s.Rate < knee.Rate) {
			knee = s
		}
	}
	return knee
}

// Sizing answers whether the topology holds a target rate and what it
// would take, under the model its Model field states.
type Sizing struct {
	Target         float64 `json:"target"`
	HoldsAllAZs    bool    `json:"holds_all_azs"`
	HoldsOneAZDown bool    `json:"holds_one_az_down"`
	// PlatformCPUMSPerPayment is paysim's CPU per payment at MaxRate
	// without the load generator's share.
	PlatformCPUMSPerPayment float64 `json:"platform_cpu_ms_per_payment"`
	// AppCores, LedgerCores and OtherCores are the cores each part needs at
	// the target; AppInstancesPerAZ the app instances per AZ with every AZ
	// and with one lost.
	AppCores                 float64  `json:"app_cores"`
	LedgerCores              float64  `json:"ledger_cores"`
	OtherCores               float64  `json:"other_cores"`
	InstanceCores            float64  `json:"instance_cores"`
	AppInstancesPerAZ        int      `json:"app_instances_per_az"`
	AppInstancesPerAZOneDown int      `json:"app_instances_per_az_one_az_down"`
	Model                    string   `json:"model"`
	Assumptions              []string `json:"assumptions"`
}

func sizeFor(o Options, maxRate, oneDown float64, best *Step, shares []Share) Sizing {
	s := Sizing{Target: o.Target, HoldsAllAZs: o.Target <= maxRate, HoldsOneAZDown: oneDown > 0 && o.Target <= oneDown, InstanceCores: o.InstanceCores}
	share := func(tiers ...string) float64 {
		sum := 0.0
		for _, sh := range shares {
			for _, t := range tiers {
				if sh.Tier == t {
					sum += sh.Share
				}
			}
		}
		return sum
	}
	loadgen := share(TierLoadgen)
	s.PlatformCPUMSPerPayment = best.CPUMSPerPayment * (1 - loadgen)
	cores := o.Target * s.PlatformCPUMSPerPayment / 1000
	platform := 1 - loadgen
	appShare, ledgerShare := 0.5, 0.25 // without a profile: stated below
	if len(shares) > 0 && platform > 0 {
		appShare = (share(TierApp) + share(TierHTTP)) / platform
		ledgerShare = share(TierLedger) / platform
	}
	s.AppCores = cores * appShare
	s.LedgerCores = cores * ledgerShare
	s.OtherCores = cores - s.AppCores - s.LedgerCores
	azs := max(o.AZs, 2)
	s.AppInstancesPerAZ = int(math.Ceil(s.AppCores / o.InstanceCores / float64(azs)))
	s.AppInstancesPerAZOneDown = int(math.Ceil(s.AppCores / o.InstanceCores / float64(azs-1)))
	s.Model = fmt.Sprintf("cores at the target = target × platform CPU per payment (%.3f CPU-ms, measured at %.0f/s, load generator excluded); "+
		"the app tier's part (app handlers + HTTP serving, %.0f%% of the platform's CPU) spreads over app instances of %.1f cores in %d AZs, "+
		"or %d when one AZ is lost; the ledger's part (%.0f%%) runs on its single writer; the rest (Redis, Kafka, search, proxies, GC) on their own tiers",
		s.PlatformCPUMSPerPayment, best.Rate, 100*appShare, o.InstanceCores, azs, azs-1, 100*ledgerShare)
	s.Assumptions = []string{
		"CPU per payment stays what it was at the highest rate sustained here: no contention the measurement did not see (the USL fit says how far that holds)",
		"app instances scale out linearly; the ledger writer does not scale out: if its cores exceed one machine's, the ledger must be sharded or moved to a distributed store (TiDB)",
		"HOLDS on this machine means the target is at or under the measured rate; the instance counts are for dedicated cores per instance",
	}
	if len(shares) == 0 {
		s.Assumptions = append(s.Assumptions, "no CPU profile: the app tier is taken as half of the CPU and the ledger as a quarter")
	}
	return s
}

// Retention is the log storage the found rate needs: Elasticsearch hot
// nodes for the first days, then UltraWarm (one copy on object storage).
type Retention struct {
	BytesPerPayment float64 `json:"bytes_per_payment"`
	AtRate          float64 `json:"at_rate"`
	GBPerDay        float64 `json:"gb_per_day"`
	HotDays         int     `json:"hot_days"`
	WarmDays        int     `json:"warm_days"`
	Replicas        int     `json:"replicas"`
	HotGB           float64 `json:"hot_gb"`
	WarmGB          float64 `json:"warm_gb"`
	Note            string  `json:"note"`
}

func retention(bytesPer, rate float64, o Options) Retention {
	r := Retention{BytesPerPayment: bytesPer, AtRate: rate, HotDays: o.HotDays, WarmDays: o.WarmDays, Replicas: o.Replicas}
	r.GBPerDay = bytesPer * rate * 86400 / 1e9
	r.HotGB = r.GBPerDay * float64(o.HotDays) * float64(1+o.Replicas)
	r.WarmGB = r.GBPerDay * float64(o.WarmDays)
	r.Note = "bytes per payment: the log indices' primary store size per document after the run, times documents per ok operation (the search tier stores each document's source; Elasticsearch's on-disk size with its default codec is of the same order); hot keeps 1+replicas copies, warm one"
	return r
}

// Write writes capacity.json and capacity.html into dir.
func (r *Result) Write(dir string) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("capacity: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, File), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("capacity: %w", err)
	}
	page, err := r.HTML()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, HTMLFile), page, 0o644); err != nil {
		return fmt.Errorf("capacity: %w", err)
	}
	return nil
}

// Text prints the result for people: the steps as a knee chart, the rates,
// ratios, model, limit, sizing and retention.
func (r *Result) Text(w io.Writer) {
	fmt.Fprintf(w, "\ncapacity of %s (%s mode): steps of %.0fs, precision %.0f%%\n", r.Scenario, r.Mode, r.StepS, 100*r.Precision)
	r.kneeChart(w)
	fmt.Fprintf(w, "\nmax_rate               %.0f/s with every AZ", r.MaxRate)
	if r.SLOP99MS > 0 {
		fmt.Fprintf(w, " (p99 within %.0f ms)", r.SLOP99MS)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "max_rate_one_az_down   %.0f/s with %s lost", r.MaxRateOneAZDown, "the first AZ")
	if r.MaxRate > 0 {
		fmt.Fprintf(w, " (%.0f%% of it)", 100*r.MaxRateOneAZDown/r.MaxRate)
	}
	fmt.Fprintln(w)
	if len(r.Searches) > 0 {
		parts := make([]string, len(r.Searches))
		for i, e := range r.Searches {
			parts[i] = e.describe(r.Precision)
		}
		fmt.Fprintf(w, "search                 %s\n", strings.Join(parts, "; "))
	}
	if ref := r.Reference; ref != nil {
		fmt.Fprintf(w, "reference              %.0f no-op req/s, %.4f CPU-ms each (%s)\n", ref.ReqPerS, ref.CPUMSPerReq, ref.Method)
	}
	if q := r.Ratios; q != nil {
		fmt.Fprintf(w, "ratios                 max_rate = %.4f × reference; one AZ down = %.4f ×; %.2f CPU-s per 1,000 payments = %.0f× a no-op request's CPU\n",
			q.MaxRateToReference, q.MaxRateOneAZDownToReference, q.CPUSecondsPer1000Payments, q.CPUPerPaymentToReference)
	}
	if m := r.Model; m != nil {
		peak := fmt.Sprintf("predicted peak %.0f/s at N=%.1f", m.PredictedPeak, m.PeakConcurrency)
		if m.PeakConcurrency == 0 {
			peak = fmt.Sprintf("no coherency cost (κ=0): throughput flattens towards λ/σ = %.0f/s", m.PredictedPeak)
		}
		fmt.Fprintf(w, "model (USL)            λ=%.1f/s σ=%.4f κ=%.6f (R² %.3f over %d steps): %s; measured knee %.0f/s; they differ by %.0f%%\n",
			m.Lambda, m.Sigma, m.Kappa, m.R2, m.Points, peak, m.MeasuredKnee, 100*m.Disagreement)
	} else if r.ModelError != "" {
		fmt.Fprintf(w, "model (USL)            not fitted: %s\n", r.ModelError)
	}
	if l := r.Limit; l != nil {
		fmt.Fprintf(w, "limit                  %s\n", l.Sentence)
	}
	if s := r.Sizing; s != nil {
		yes := map[bool]string{true: "HOLDS", false: "does NOT hold"}
		fmt.Fprintf(w, "sizing for %.0f/s       this topology on this machine %s it with every AZ and %s it with one AZ lost\n",
			s.Target, yes[s.HoldsAllAZs], yes[s.HoldsOneAZDown])
		fmt.Fprintf(w, "                       needs %.1f app cores → %d app instances per AZ (%d with one AZ lost) of %.1f cores; the ledger writer %.1f cores; other tiers %.1f cores\n",
			s.AppCores, s.AppInstancesPerAZ, s.AppInstancesPerAZOneDown, s.InstanceCores, s.LedgerCores, s.OtherCores)
		fmt.Fprintf(w, "                       model: %s\n", s.Model)
		for _, a := range s.Assumptions {
			fmt.Fprintf(w, "                       assumes: %s\n", a)
		}
	}
	if t := r.LogRetention; t != nil {
		fmt.Fprintf(w, "log retention          %.0f bytes per payment → %.2f GB/day at %.0f/s; hot %d days × %d copies = %.1f GB; warm %d days = %.1f GB\n",
			t.BytesPerPayment, t.GBPerDay, t.AtRate, t.HotDays, 1+t.Replicas, t.HotGB, t.WarmDays, t.WarmGB)
	}
}

// kneeChart prints every step sorted by phase and rate, with a bar of
// what it answered against what was offered.
func (r *Result) kneeChart(w io.Writer) {
	steps := append([]Step(nil), r.Steps...)
	sort.SliceStable(steps, func(i, j int) bool {
		if steps[i].Phase != steps[j].Phase {
			return steps[i].Phase == PhaseAllAZs
		}
		return steps[i].Rate < steps[j].Rate
	})
	top := 1.0
	for _, s := range steps {
		top = math.Max(top, s.Rate)
	}
	fmt.Fprintf(w, "%-12s %8s %9s %9s  %-32s %s\n", "phase", "offered", "answered", "p99 ms", "answered/s", "")
	for _, s := range steps {
		n := int(math.Round(32 * math.Min(s.AnsweredPS, top) / top))
		mark := "ok"
		if !s.Sustained {
			mark = "NOT sustained: " + s.Why
		}
		fmt.Fprintf(w, "%-12s %8.0f %9.1f %9.1f  %-32s %s\n", s.Phase, s.Rate, s.AnsweredPS, s.P99MS, strings.Repeat("█", n), mark)
	}
}

// describe says in words how the search ended.
func (e SearchEnd) describe(precision float64) string {
	name := e.Phase
	switch e.Phase {
	case PhaseAllAZs:
		name = "every AZ"
	case PhaseOneAZDown:
		name = "one AZ down"
	}
	bracket := fmt.Sprintf("%.0f–%.0f/s (%.1f%% apart) in %d steps", e.Sustained, e.Failed, 100*e.Gap, e.Steps)
	switch e.EndedBy {
	case EndPrecision, EndAdjacentRates:
		return name + " " + bracket
	case EndStepBound:
		return fmt.Sprintf("%s %s: the step bound ended it before the %.0f%% precision (raise --max-steps)", name, bracket, 100*precision)
	case EndNothingFailed:
		return fmt.Sprintf("%s held every step up to %.0f/s: the step bound ended it before one failed (raise --max-steps or --start)", name, e.Sustained)
	case EndNothingSustained:
		return name + ": no rate down to 1/s held"
	case EndNotRun:
		return name + ": not run"
	}
	return fmt.Sprintf("%s %s: %s", name, bracket, e.EndedBy)
}
