// Package report turns a run's measurements into its artifacts: report.json
// (the contract in ARCHITECTURE.md), junit.xml and summary.md.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Verdicts.
const (
	VerdictPass         = "pass"
	VerdictFail         = "fail"
	VerdictInconclusive = "inconclusive"
)

// Report is report.json.
type Report struct {
	Scenario      string      `json:"scenario"`
	Mode          string      `json:"mode"`
	Seed          int64       `json:"seed"`
	StartedAt     time.Time   `json:"started_at"`
	DurationS     float64     `json:"duration_s"`
	Verdict       string      `json:"verdict"`
	Interrupted   bool        `json:"interrupted,omitempty"`
	StoppedBy     string      `json:"stopped_by,omitempty"`   // the stop condition that aborted the run
	Inconclusive  string      `json:"inconclusive,omitempty"` // why a pass could not be judged
	Error         string      `json:"error,omitempty"`
	Bugs          []string    `json:"bugs,omitempty"`
	TargetRate    float64     `json:"target_rate"`
	Requests      Requests    `json:"requests"`
	ThroughputRPS float64     `json:"throughput_rps"`
	LatencyMS     Latency     `json:"latency_ms"`
	Faults        []Fault     `json:"faults"`
	Recovery      Recovery    `json:"recovery"`
	Invariants    []Invariant `json:"invariants"`
	SLOs          []SLO       `json:"slos"`
	Timeline      []Point     `json:"timeline"`
	Drain         *Drain      `json:"drain,omitempty"`
	SetupS        float64     `json:"setup_s"`
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
	Error  string  `json:"error,omitempty"`
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
}

// Recovery is the run's worst recovery time and lost acknowledged payments.
type Recovery struct {
	RTOS            float64 `json:"rto_s"`
	RPOLostPayments int     `json:"rpo_lost_payments"`
}

// Invariant is one checker's result.
type Invariant struct {
	Name       string   `json:"name"`
	OK         bool     `json:"ok"`
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
}

// Point is one second of the timeline.
type Point struct {
	TS     float64 `json:"t_s"`
	RPS    float64 `json:"rps"`
	OK     int     `json:"ok"`
	Errors int     `json:"errors"`
	P99MS  float64 `json:"p99_ms"`
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

// Decide sets the verdict from the invariants, the SLOs, an error and a
// stop condition; a run that would pass but could not be judged
// (Inconclusive) is inconclusive.
func (r *Report) Decide() {
	r.Verdict = VerdictPass
	if r.Error != "" || r.StoppedBy != "" {
		r.Verdict = VerdictFail
	}
	for _, inv := range r.Invariants {
		if !inv.OK {
			r.Verdict = VerdictFail
		}
	}
	for _, s := range r.SLOs {
		if !s.OK {
			r.Verdict = VerdictFail
		}
	}
	if r.Verdict == VerdictPass && r.Inconclusive != "" {
		r.Verdict = VerdictInconclusive
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
