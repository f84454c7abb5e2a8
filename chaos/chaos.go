// Package chaos injects faults into a running stack on a schedule and
// records when each one started and ended on the run's clock. It never
// takes *testing.T: the CLI runs it.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"paysim/sim"
)

// Cluster is what faults act on: the stack's nodes.
type Cluster interface {
	Nodes() []sim.Node
}

// Fault is one kind of breakage.
type Fault interface {
	// Name is the fault kind, e.g. "az-outage".
	Name() string
	// Target says what the fault hits, e.g. an AZ or a node id.
	Target() string
	// Inject breaks the cluster.
	Inject(ctx context.Context, c Cluster) error
	// Heal undoes Inject; it must be safe after a partial Inject.
	Heal(ctx context.Context, c Cluster) error
	// Needs lists the abilities the fault needs beyond sim.Node's, of the
	// target's service or of the stack; a mode lacking one cannot run it.
	Needs() []sim.Need
}

// Entry is one scheduled fault.
type Entry struct {
	Fault Fault
	At    time.Duration // offset from the run's start
	For   time.Duration // how long it lasts
}

// Record is what happened to one entry, on the run's clock.
type Record struct {
	Kind   string
	Target string
	Start  time.Duration // when Inject returned; 0 if it never succeeded
	End    time.Duration // when Heal returned; 0 if never attempted
	// InjectErr says why Inject failed or panicked: the fault did not
	// happen, so the drill cannot be judged.
	InjectErr string
	// HealErr says why Heal failed or panicked: the system may have been
	// left broken.
	HealErr string
}

// Err is the record's errors in one line ("inject: ...; heal: ..."), or "".
func (r Record) Err() string {
	switch {
	case r.InjectErr != "" && r.HealErr != "":
		return "inject: " + r.InjectErr + "; heal: " + r.HealErr
	case r.InjectErr != "":
		return "inject: " + r.InjectErr
	case r.HealErr != "":
		return "heal: " + r.HealErr
	}
	return ""
}

// Inject calls f.Inject, turning a panic into an error.
func Inject(ctx context.Context, f Fault, c Cluster) (err error) {
	defer recoverInto(&err)
	return f.Inject(ctx, c)
}

// Heal calls f.Heal, turning a panic into an error.
func Heal(ctx context.Context, f Fault, c Cluster) (err error) {
	defer recoverInto(&err)
	return f.Heal(ctx, c)
}

func recoverInto(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("panic: %v", p)
	}
}

// Run executes the schedule from epoch until every entry has healed or ctx
// ends. Every injected fault is healed on every exit path, including a
// cancelled ctx and a panic inside the fault (recovered and recorded as the
// fault's error). onEvent, if set, hears each inject and heal.
func Run(ctx context.Context, c Cluster, epoch time.Time, schedule []Entry, onEvent func(Record, bool)) (recs []Record, err error) {
	var mu sync.Mutex
	recs = make([]Record, len(schedule))
	var wg sync.WaitGroup
	for i, e := range schedule {
		recs[i] = Record{Kind: e.Fault.Name(), Target: e.Fault.Target()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := runEntry(ctx, c, epoch, e, onEvent)
			mu.Lock()
			recs[i] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	var errs []error
	for _, r := range recs {
		if e := r.Err(); e != "" {
			errs = append(errs, fmt.Errorf("%s %s: %s", r.Kind, r.Target, e))
		}
	}
	return recs, errors.Join(errs...)
}

func runEntry(ctx context.Context, c Cluster, epoch time.Time, e Entry, onEvent func(Record, bool)) (r Record) {
	r = Record{Kind: e.Fault.Name(), Target: e.Fault.Target()}
	if !sleepUntil(ctx, epoch.Add(e.At)) {
		return r
	}
	injected := false
	defer func() {
		if !injected {
			return
		}
		// Heal on every path, with a context of its own: the run's may be gone.
		hctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := Heal(hctx, e.Fault, c); err != nil {
			r.HealErr = err.Error()
		}
		r.End = time.Since(epoch)
		if onEvent != nil {
			onEvent(r, false)
		}
	}()
	injected = true // Heal copes with a partial Inject
	if err := Inject(ctx, e.Fault, c); err != nil {
		r.InjectErr = err.Error()
		return r
	}
	r.Start = time.Since(epoch)
	if onEvent != nil {
		onEvent(r, true)
	}
	sleepUntil(ctx, epoch.Add(e.At+e.For))
	return r
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
