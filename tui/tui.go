// Package tui is the live terminal dashboard of a run: mpb bars while the
// stack comes up, then a bubbletea program with the topology, throughput,
// errors, latency, faults and, at the end, the verdict. The Model takes all
// of its data as messages, so it is tested without a terminal or a stack.
package tui

import (
	"time"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
)

// Control is the part of a running scenario the dashboard drives: the live
// topology, load pause, and manual faults. scenarios.Live satisfies it.
type Control interface {
	// Nodes is the live status of every node.
	Nodes() []sim.NodeStatus
	// AZs are the topology's AZs in order.
	AZs() []string
	// Pause pauses (true) or resumes (false) the load.
	Pause(paused bool)
	// Paused reports whether the load is paused.
	Paused() bool
	// Inject starts a manual fault now.
	Inject(f chaos.Fault) error
	// Heal ends a manual fault started by Inject.
	Heal(kind, target string) error
	// Active lists the manual faults currently injected.
	Active() []chaos.Record
}

// TickMsg is one second of load metrics (scenarios.Options.OnTick).
type TickMsg loadgen.Tick

// FaultMsg is a fault injected (Injected) or healed, scheduled or manual
// (scenarios.Options.OnFault).
type FaultMsg struct {
	Record   chaos.Record
	Injected bool
}

// NodesMsg is a poll of the live control: every node's status, the AZs,
// whether the load is paused and which manual faults are active.
type NodesMsg struct {
	Nodes  []sim.NodeStatus
	AZs    []string
	Paused bool
	Manual []chaos.Record
}

// EventMsg is one line of the run's event log (scenarios.Options.Events).
type EventMsg string

// ResultMsg ends the run: its report (partial if interrupted) and error.
type ResultMsg struct {
	Report *report.Report
	Err    error
}

// ControlMsg reports the outcome of an action taken from the dashboard
// (pause, inject, heal).
type ControlMsg struct {
	Action string
	Err    error
}

// feedMsg wraps a message read from the dashboard's feed channel, so the
// model knows to listen for the next one.
type feedMsg struct{ msg any }

// pollMsg asks the model to poll the live control.
type pollMsg struct{}

// defaultPoll is how often the topology is refreshed.
const defaultPoll = 250 * time.Millisecond
