package scenarios

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/sim"
	"paysim/sim/stack"
)

// live is the Live handle of one run.
type live struct {
	st      *stack.Stack
	runner  *loadgen.Runner
	epoch   time.Time
	onFault func(chaos.Record, bool)

	mu     sync.Mutex
	active []manualFault
	healed []chaos.Record // manual faults healed by hand, for the report
	// over is set once the load has ended: the stack is draining, then torn
	// down tier by tier by the checks, so no fault may be injected.
	over bool
}

// errLoadOver refuses a manual fault after the load.
var errLoadOver = errors.New("the load is over: faults can only be injected while it runs")

type manualFault struct {
	fault chaos.Fault
	rec   chaos.Record
}

func (l *live) Nodes() []sim.NodeStatus {
	nodes := l.st.Nodes()
	out := make([]sim.NodeStatus, len(nodes))
	for i, n := range nodes {
		out[i] = n.Status()
	}
	return out
}

func (l *live) AZs() []string { return slices.Clone(l.st.Topology().AZs) }

func (l *live) Pause(paused bool) { l.runner.Pause(paused) }

func (l *live) Paused() bool { return l.runner.Paused() }

func (l *live) Inject(f chaos.Fault) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.over {
		return errLoadOver
	}
	for _, a := range l.active {
		if a.rec.Kind == f.Name() && a.rec.Target == f.Target() {
			return fmt.Errorf("%s on %s is already injected", f.Name(), f.Target())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := chaos.Record{Kind: f.Name(), Target: f.Target()}
	if err := chaos.Inject(ctx, f, l.st); err != nil {
		if herr := chaos.Heal(ctx, f, l.st); herr != nil { // undo a partial inject
			return fmt.Errorf("inject %s: %w (and its heal: %v)", f.Name(), err, herr)
		}
		return fmt.Errorf("inject %s: %w", f.Name(), err)
	}
	rec.Start = time.Since(l.epoch)
	l.active = append(l.active, manualFault{fault: f, rec: rec})
	l.emit(rec, true)
	return nil
}

func (l *live) Heal(kind, target string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, a := range l.active {
		if a.rec.Kind == kind && a.rec.Target == target {
			l.active = slices.Delete(l.active, i, i+1)
			rec := l.healLocked(a)
			l.healed = append(l.healed, rec)
			if rec.HealErr != "" {
				return fmt.Errorf("heal %s: %s", kind, rec.HealErr)
			}
			return nil
		}
	}
	return fmt.Errorf("no manual %s on %s", kind, target)
}

// healLocked heals one manual fault and returns its finished record.
func (l *live) healLocked(a manualFault) chaos.Record {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := chaos.Heal(ctx, a.fault, l.st)
	a.rec.End = time.Since(l.epoch)
	if err != nil {
		a.rec.HealErr = err.Error()
	}
	l.emit(a.rec, false)
	return a.rec
}

func (l *live) Active() []chaos.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]chaos.Record, len(l.active))
	for i, a := range l.active {
		out[i] = a.rec
	}
	return out
}

// healAll heals every manual fault still injected, refuses any later one,
// and returns the records of every manual fault of the run, healed by hand
// or here.
func (l *live) healAll() []chaos.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.over = true
	out := l.healed
	for _, a := range l.active {
		out = append(out, l.healLocked(a))
	}
	l.active, l.healed = nil, nil
	return out
}

func (l *live) emit(r chaos.Record, injected bool) {
	if l.onFault != nil {
		l.onFault(r, injected)
	}
}
