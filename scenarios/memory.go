package scenarios

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"paysim/internal/hoststat"
	"paysim/report"
)

// memoryEvery is how often a run samples its memory: a soak's growth shows
// minute by minute in report.json's memory[] (issue 20: RSS at 30 minutes
// within 20% of RSS at 10).
const memoryEvery = time.Minute

// memorySampler records the process's memory every memoryEvery from the
// start of the load until stopped, each sample tagged with the run's phase.
type memorySampler struct {
	epoch  time.Time
	events io.Writer
	read   func() hoststat.Memory
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	phase  string
	points []report.MemoryPoint
}

// sampleMemory starts sampling now, in phase "load".
func sampleMemory(epoch time.Time, every time.Duration, events io.Writer, read func() hoststat.Memory) *memorySampler {
	ctx, cancel := context.WithCancel(context.Background())
	m := &memorySampler{epoch: epoch, events: events, read: read, cancel: cancel, done: make(chan struct{}), phase: "load"}
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.sample(true)
			}
		}
	}()
	return m
}

// sample records the memory now; loud also prints it as a run event.
func (m *memorySampler) sample(loud bool) {
	mem := m.read()
	m.mu.Lock()
	p := report.MemoryPoint{TS: time.Since(m.epoch).Seconds(), Phase: m.phase, RSSMB: -1, RSSFileMB: -1, HeapLiveMB: float64(mem.HeapLive) / (1 << 20), GoHeldMB: float64(mem.GoHeld) / (1 << 20)}
	if mem.RSS >= 0 {
		p.RSSMB = float64(mem.RSS) / (1 << 20)
	}
	if mem.RSSFile >= 0 {
		p.RSSFileMB = float64(mem.RSSFile) / (1 << 20)
	}
	m.points = append(m.points, p)
	m.mu.Unlock()
	if loud {
		fmt.Fprintf(m.events, "memory at %.0fs (%s): rss=%.0fMB (files %.0fMB) go=%.0fMB heap_live=%.0fMB\n", p.TS, p.Phase, p.RSSMB, p.RSSFileMB, p.GoHeldMB, p.HeapLiveMB)
	}
}

// enter samples the end of the current phase and starts the next.
func (m *memorySampler) enter(phase string) {
	m.sample(false)
	m.mu.Lock()
	m.phase = phase
	m.mu.Unlock()
}

// stop samples once more and returns every sample, in order.
func (m *memorySampler) stop() []report.MemoryPoint {
	m.cancel()
	<-m.done
	m.sample(false)
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]report.MemoryPoint(nil), m.points...)
}
