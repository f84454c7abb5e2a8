// Package report turns a run's measurements into its artifacts: report.json
// (the contract in ARCHITECTURE.md), junit.xml, summary.md and report.html.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Verdicts.
const (
	VerdictPass         = "pass"
	VerdictFail         = "fail"
	VerdictInconclusive = "inconclusive"
)

// Statuses of one invariant or SLO. An invariant below the minimum it
// needs to mean anything is not applicable; an SLO that could not be judged
// (a latency target on a saturated host) is inconclusive.
const (
	StatusPass          = "pass"
	StatusFail          = "fail"
	StatusNotApplicable = "not-applicable"
	StatusInconclusive  = "inconclusive"
)

// How a run's requests arrive around its rate (Report.Arrivals), as
// scenario files name it too.
const (
	ArrivalsEven    = "even"    // evenly spaced
	ArrivalsPoisson = "poisson" // at random, exponential gaps from the seed
)

// Report is report.json.
type Report struct {
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"`
	// RunID labels a containers run's containers and network (paysim.run);
	// `paysim down --run ID` removes what a killed process left of them.
	RunID        string    `json:"run_id,omitempty"`
	Seed         int64     `json:"seed"`
	StartedAt    time.Time `json:"started_at"`
	DurationS    float64   `json:"duration_s"`
	Verdict      string    `json:"verdict"`
	Interrupted  bool      `json:"interrupted,omitempty"`
	StoppedBy    string    `json:"stopped_by,omitempty"`   // the stop condition that aborted the run
	Inconclusive string    `json:"inconclusive,omitempty"` // why the run's analysis could not judge it
	// Reasons are why the verdict is what it is: every failure, and for an
	// inconclusive run every reason it could not be judged. Decide fills it.
	Reasons       []string    `json:"reasons,omitempty"`
	Error         string      `json:"error,omitempty"`
	Bugs          []string    `json:"bugs,omitempty"`
	TargetRate    float64     `json:"target_rate"`
	Arrivals      string      `json:"arrivals"` // ArrivalsEven or ArrivalsPoisson
	Requests      Requests    `json:"requests"`
	ThroughputRPS float64     `json:"throughput_rps"`
	LatencyMS     Latency     `json:"latency_ms"`
	Faults        []Fault     `json:"faults"`
	Recovery      Recovery    `json:"recovery"`
	Invariants    []Invariant `json:"invariants"`
	SLOs          []SLO       `json:"slos"`
	Timeline      []Point     `json:"timeline"`
	Drain         *Drain      `json:"drain,omitempty"`
	Host          *Host       `json:"host,omitempty"`
	// Memory is the process's memory over the run, a sample a minute and
	// one at the end of the load and of the checks.
	Memory []MemoryPoint `json:"memory,omitempty"`
	SetupS float64       `json:"setup_s"`
	// Logs is what the run's log documents take in the search tier,
	// measured after the drain.
	Logs *Logs `json:"logs,omitempty"`
	// Nodes is what each node ran: its image and the server's own version.
	Nodes []Node `json:"nodes,omitempty"`
}

// PoissonArrivals reports whether the run's requests arrived at random.
func (r Report) PoissonArrivals() bool { return r.Arrivals == ArrivalsPoisson }

// Node is one node of the stack and what it ran.
type Node struct {
	ID      string `json:"id"`
	Service string `json:"service"`
	AZ      string `json:"az"`
	// Image is the container's image; empty for a node in paysim's process.
	Image string `json:"image,omitempty"`
	// Version is the server's own: SELECT VERSION(), INFO server, or for an
	// in-process node the library standing in for the server.
	Version string `json:"version"`
}

// Host is how busy the machine was while the load ran. The load generator
// shares the cores with the stack, so a saturated host breaks the
// measurement, not the system: latency SLOs are then inconclusive.
type Host struct {
	Cores int `json:"cores"`
	// CPUUsed is the paysim process's CPU time over the load phase, as a
	// share of every core's time (1 = all cores busy).
	CPUUsed float64 `json:"cpu_used"`
	// LoadS is the load phase's length (first send to last completion)
	// and ProcessCPUS the paysim process's CPU seconds over it: CPU per
	// operation is ProcessCPUS over the operations.
	LoadS       float64 `json:"load_s"`
	ProcessCPUS float64 `json:"process_cpu_s"`
	// HostCPUBusy is the whole machine's busy share of every core over the
	// load phase (every process); -1 where the OS does not tell.
	HostCPUBusy float64 `json:"host_cpu_busy"`
	// LoadgenLatenessP99MS is how late the load generator fired against its
	// schedule (p99 over every request); LoadgenLatenessMaxMS the worst.
	LoadgenLatenessP99MS float64 `json:"loadgen_lateness_p99_ms"`
	LoadgenLatenessMaxMS float64 `json:"loadgen_lateness_max_ms"`
	// SchedLatencyP99MS is the Go scheduler's p99 wait of a runnable
	// goroutine over the load phase.
	SchedLatencyP99MS float64 `json:"sched_latency_p99_ms"`
	// LoadgenPoolFull counts requests due while every load generator worker
	// waited on an answer (the system held them all, e.g. through a
	// failover), sent late then or in the catch-up after, and
	// LoadgenPoolFullLateMaxMS is the latest of them: late for the system's
	// sake, so not in the lateness above, the host's measure.
	LoadgenPoolFull          int     `json:"loadgen_pool_full"`
	LoadgenPoolFullLateMaxMS float64 `json:"loadgen_pool_full_late_max_ms"`
	// NotSent counts requests the schedule called for that were never sent.
	NotSent    int            `json:"not_sent"`
	Saturated  bool           `json:"saturated"`
	Reason     string         `json:"reason,omitempty"` // the figures over their thresholds
	Thresholds HostThresholds `json:"thresholds"`
}

// HostThresholds are the figures above which a host counts as saturated.
type HostThresholds struct {
	HostCPUBusy          float64 `json:"host_cpu_busy"`
	LoadgenLatenessP99MS float64 `json:"loadgen_lateness_p99_ms"`
	SchedLatencyP99MS    float64 `json:"sched_latency_p99_ms"`
}

// Requests counts operations by outcome as the client saw them.
type Requests struct {
	Total    int            `json:"total"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	Unknown  int            `json:"unknown"`
	ByStatus map[string]int `json:"by_status"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Fault is one injected fault's window on the run's clock.
type Fault struct {
	Kind   string  `json:"kind"`
	Target string  `json:"target"`
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	RTOS   float64 `json:"rto_s"`
	Manual bool    `json:"manual,omitempty"` // injected by hand from the TUI
	LateMS float64 `json:"late_ms"`          // start against the schedule
	// Error is the fault's inject and heal errors in one line. An inject
	// error (InjectError) means the drill did not happen: the run is
	// inconclusive. A heal error (HealError) means the system may have been
	// left broken: the run fails.
	Error       string `json:"error,omitempty"`
	InjectError string `json:"inject_error,omitempty"`
	HealError   string `json:"heal_error,omitempty"`
	// RTOBoundS is the longest recovery the scenario allows after each
	// fault; RTOOK says whether this one recovered within it.
	RTOBoundS float64 `json:"rto_bound_s,omitempty"`
	RTOOK     *bool   `json:"rto_ok,omitempty"`
	// Before, During and After are the traffic before the fault, inside its
	// window and after it healed, until the load ended.
	Before *Window `json:"before,omitempty"`
	During *Window `json:"during,omitempty"`
	After  *Window `json:"after,omitempty"`
}

// Window is the traffic in one span of the run, from the history.
type Window struct {
	FromS    float64 `json:"from_s"`
	ToS      float64 `json:"to_s"`
	Requests int     `json:"requests"`
	OK       int     `json:"ok"`
	Failed   int     `json:"failed"`
	Errors   int     `json:"errors"` // unknown outcomes: 5xx, timeouts
	OKRPS    float64 `json:"ok_rps"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
	MeanMS   float64 `json:"mean_ms"`
}

// Recovery is the run's worst recovery time and lost acknowledged payments.
type Recovery struct {
	RTOS            float64 `json:"rto_s"`
	RPOLostPayments int     `json:"rpo_lost_payments"`
}

// Invariant is one checker's result. OK is true only when it was checked
// and held; Status tells a failure from an invariant that had too little to
// check (not-applicable, with Needs saying what it needs).
type Invariant struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Status string `json:"status"`
	Needs  string `json:"needs,omitempty"`
	// Expected is set when the scenario counts on the invariant being
	// judged: then not-applicable makes the run inconclusive.
	Expected   bool     `json:"expected"`
	Checked    int      `json:"checked"`
	Violations int      `json:"violations"`
	Detail     string   `json:"detail"`
	Examples   []string `json:"examples,omitempty"`
}

// SLO is one objective and what the run achieved.
type SLO struct {
	Name   string  `json:"name"`
	Target string  `json:"target"`
	Actual float64 `json:"actual"`
	OK     bool    `json:"ok"`
	Status string  `json:"status"`
	Detail string  `json:"detail,omitempty"`
}

// State is the invariant's status, derived from OK when unset.
func (i Invariant) State() string { return state(i.Status, i.OK) }

// State is the SLO's status, derived from OK when unset.
func (s SLO) State() string { return state(s.Status, s.OK) }

func state(status string, ok bool) string {
	switch {
	case status != "":
		return status
	case ok:
		return StatusPass
	}
	return StatusFail
}

// Point is one second of the timeline.
type Point struct {
	TS     float64 `json:"t_s"`
	RPS    float64 `json:"rps"`
	OK     int     `json:"ok"`
	Errors int     `json:"errors"`
	// P50MS is absent from reports written before it was recorded.
	P50MS float64 `json:"p50_ms,omitempty"`
	P99MS float64 `json:"p99_ms"`
}

// MemoryPoint is the paysim process's memory at one moment of a run.
type MemoryPoint struct {
	TS    float64 `json:"t_s"`   // since the load started
	Phase string  `json:"phase"` // load, drain or checks
	// RSSMB is the resident set (-1 where the OS does not say).
	RSSMB float64 `json:"rss_mb"`
	// RSSFileMB is RSS's file-backed part: mapped files such as the
	// search segments, which the kernel can reclaim (-1 where unknown).
	RSSFileMB float64 `json:"rss_file_mb"`
	// HeapLiveMB is the Go heap the last collection found reachable: what
	// the run holds, without the garbage GOGC lets gather between
	// collections.
	HeapLiveMB float64 `json:"heap_live_mb"`
	// GoHeldMB is the memory the Go runtime holds, garbage and free spans
	// included; RSS less the files and this is held outside the Go heap
	// (the embedded SQLite's). Absent from reports written before it was
	// recorded.
	GoHeldMB float64 `json:"go_held_mb,omitempty"`
}

// Logs is the log documents of a run in the search tier. StoreBytes is one
// copy of those still in it (each replica holds as much again), Docs every
// document the run indexed, the ones archived during the run included.
type Logs struct {
	Docs        int   `json:"docs"`
	PresentDocs int   `json:"present_docs"`
	StoreBytes  int64 `json:"store_bytes"`
	// BytesPerOK is the log bytes one acknowledged operation costs:
	// StoreBytes per present document, times documents per ok operation.
	BytesPerOK float64 `json:"bytes_per_ok"`
}

// Drain is the bounded wait for the outbox, consumers and shipper to catch
// up before the checkers run.
type Drain struct {
	BoundS   float64 `json:"bound_s"`
	ActualS  float64 `json:"actual_s"`
	Complete bool    `json:"complete"`
	Pending  string  `json:"pending,omitempty"`
}

// MS converts a duration to float milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Decide sets the verdict and its reasons. A run fails on an error, a stop
// condition, a fault that did not heal, a failed invariant or a failed SLO.
// Otherwise it is inconclusive when it could not be judged: a fault that
// did not inject (the drill did not happen), an SLO that could not be
// judged, an expected invariant with nothing to check, no request sent or
// none answered ok, or the analysis's own reason (Inconclusive). Only a run
// with none of these passes.
func (r *Report) Decide() {
	var fails, unsure []string
	if r.Error != "" {
		fails = append(fails, "error: "+r.Error)
	}
	if r.StoppedBy != "" {
		fails = append(fails, "stopped by "+r.StoppedBy)
	}
	for _, f := range r.Faults {
		if f.HealError != "" {
			fails = append(fails, fmt.Sprintf("fault %s on %s did not heal: %s", f.Kind, f.Target, f.HealError))
		}
		if f.InjectError != "" {
			unsure = append(unsure, fmt.Sprintf("fault %s on %s did not happen: %s", f.Kind, f.Target, f.InjectError))
		}
	}
	for _, inv := range r.Invariants {
		switch inv.State() {
		case StatusFail:
			fails = append(fails, "invariant "+inv.Name+": "+inv.Detail)
		case StatusNotApplicable:
			if inv.Expected {
				unsure = append(unsure, "invariant "+inv.Name+" had nothing to check (needs "+inv.Needs+")")
			}
		case StatusInconclusive: // its state could not be read (check.Unjudged)
			unsure = append(unsure, "invariant "+inv.Name+" "+inv.Detail)
		}
	}
	for _, s := range r.SLOs {
		switch s.State() {
		case StatusFail:
			fails = append(fails, fmt.Sprintf("slo %s: %.4g against %s", s.Name, s.Actual, s.Target))
		case StatusInconclusive:
			unsure = append(unsure, "slo "+s.Name+": "+s.Detail)
		}
	}
	switch {
	case r.Requests.Total == 0:
		unsure = append(unsure, "no request was sent")
	case r.Requests.OK == 0:
		unsure = append(unsure, "no request succeeded: nothing acknowledged to check")
	}
	if r.Inconclusive != "" {
		unsure = append(unsure, r.Inconclusive)
	}
	switch {
	case len(fails) > 0:
		r.Verdict, r.Reasons = VerdictFail, fails
	case len(unsure) > 0:
		r.Verdict, r.Reasons = VerdictInconclusive, unsure
	default:
		r.Verdict, r.Reasons = VerdictPass, nil
	}
}

// WriteJSON writes report.json into dir.
func (r *Report) WriteJSON(dir string) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: write: %w", err)
	}
	return nil
}

// ReadJSON reads a run directory's report.json.
func ReadJSON(dir string) (*Report, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("report: %s: %w", filepath.Join(dir, "report.json"), err)
	}
	return &r, nil
}

// SLOLatency names the latency objective, the one SLO a busy machine can
// miss without anything being wrong with the system under test.
const SLOLatency = "p99"

// LatencyOnly says the run failed or was inconclusive only on latency:
// no error or stop, every fault injected and healed, every invariant
// judged and none failed, and every SLO met but p99 (missed, or not judged
// on a saturated host). Tests use it to measure latency, never assert it,
// on a machine shared with other tests; the catalogue's SLOs still decide.
func (r *Report) LatencyOnly() bool {
	if r.Verdict == VerdictPass || r.Error != "" || r.StoppedBy != "" || r.Inconclusive != "" || r.Requests.OK == 0 {
		return false
	}
	for _, f := range r.Faults {
		if f.InjectError != "" || f.HealError != "" {
			return false
		}
	}
	for _, inv := range r.Invariants {
		switch inv.State() {
		case StatusFail, StatusInconclusive:
			return false
		case StatusNotApplicable:
			if inv.Expected {
				return false
			}
		}
	}
	missed := false
	for _, s := range r.SLOs {
		if st := s.State(); st != StatusPass {
			if s.Name != SLOLatency {
				return false
			}
			missed = true
		}
	}
	return missed
}

// HostSaturatedOnly says the run was judged inconclusive only because the
// host was saturated: every reason is a timing objective missed on a busy
// machine, and the invariants passed. CI and tests accept such a run as a
// pass they could not time (the README's rule, .ci/run's accepted()).
func (r *Report) HostSaturatedOnly() bool {
	if r.Verdict != VerdictInconclusive || len(r.Reasons) == 0 {
		return false
	}
	for _, reason := range r.Reasons {
		if !strings.Contains(reason, "host saturated") {
			return false
		}
	}
	return true
}
