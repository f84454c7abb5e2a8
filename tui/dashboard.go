package tui

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"paysim/chaos"
	"paysim/loadgen"
	"paysim/report"
)

// Options configure a Dashboard.
type Options struct {
	// Config is what the model shows; the dashboard fills in Control, Feed
	// and Renderer.
	Config
	In  io.Reader // keyboard; nil disables input
	Out io.Writer // the terminal
	// FPS caps the frame rate; default 10. Updates between frames are
	// folded into the next one, so rendering never keeps up with the load.
	FPS int
	// FeedSize is how many messages may wait for the model before new
	// ticks and faults are dropped (never blocking the run); default 1024.
	FeedSize int
	// ProgramOptions are passed to tea.NewProgram after the dashboard's own.
	ProgramOptions []tea.ProgramOption
}

// Dashboard is the terminal UI of one run. Wire its methods into
// scenarios.Options: Progress, OnTick (Tick), OnFault (Fault), Events
// (the Dashboard itself), OnLive (Start); then call Finish with what Run
// returned. Setup is drawn with mpb bars on the plain terminal; the
// bubbletea program takes the screen only from Start, so the two never
// draw at the same time.
type Dashboard struct {
	opt     Options
	setup   *Setup
	feed    chan tea.Msg
	dropped atomic.Int64
	done    chan struct{}

	mu      sync.Mutex
	started bool
	partial []byte   // an unfinished event line
	log     []string // event lines seen while the program ran
	runErr  error
}

// NewDashboard starts the setup bars on opt.Out.
func NewDashboard(opt Options) *Dashboard {
	if opt.FPS <= 0 {
		opt.FPS = 10
	}
	if opt.FeedSize <= 0 {
		opt.FeedSize = 1024
	}
	return &Dashboard{
		opt:   opt,
		setup: NewSetup(opt.Out),
		feed:  make(chan tea.Msg, opt.FeedSize),
		done:  make(chan struct{}),
	}
}

// Progress draws a completed setup step.
func (d *Dashboard) Progress(step string, done, total int) { d.setup.Progress(step, done, total) }

// send queues msg for the model without ever blocking the caller (the
// load's or the fault schedule's goroutine): when the model is that far
// behind, the message is dropped and counted.
func (d *Dashboard) send(msg tea.Msg) {
	select {
	case d.feed <- msg:
	default:
		d.dropped.Add(1)
	}
}

// Tick feeds one second of metrics; it never blocks.
func (d *Dashboard) Tick(t loadgen.Tick) { d.send(TickMsg(t)) }

// Fault feeds a fault injected or healed; it never blocks.
func (d *Dashboard) Fault(r chaos.Record, injected bool) {
	d.send(FaultMsg{Record: r, Injected: injected})
}

// Dropped is how many messages were dropped because the model lagged.
func (d *Dashboard) Dropped() int64 { return d.dropped.Load() }

// Write takes the run's event lines: before Start they go to the terminal
// under the setup bars, afterwards to the dashboard (and Log).
func (d *Dashboard) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.partial = append(d.partial, p...)
	for {
		i := bytes.IndexByte(d.partial, '\n')
		if i < 0 {
			break
		}
		line := string(d.partial[:i])
		d.partial = d.partial[i+1:]
		if !d.started {
			d.setup.Done()
			fmt.Fprintln(d.opt.Out, line)
			continue
		}
		d.log = append(d.log, line)
		d.send(EventMsg(line))
	}
	return len(p), nil
}

// Log is the event lines the run wrote while the dashboard had the screen,
// to print once it has left.
func (d *Dashboard) Log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

// Start ends the setup bars and runs the bubbletea program on the
// alternate screen with c as its control. It returns at once.
func (d *Dashboard) Start(c Control) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.setup.Done()
	d.started = true
	cfg := d.opt.Config
	cfg.Control, cfg.Feed = c, d.feed
	if cfg.Renderer == nil {
		cfg.Renderer = lipgloss.NewRenderer(d.opt.Out)
	}
	opts := []tea.ProgramOption{
		tea.WithInput(d.opt.In), tea.WithOutput(d.opt.Out),
		tea.WithAltScreen(), tea.WithFPS(d.opt.FPS),
		// SIGINT/SIGTERM cancel the run's context (cmd/paysim); the program
		// keeps drawing until the run has healed and reported.
		tea.WithoutSignalHandler(),
	}
	p := tea.NewProgram(New(cfg), append(opts, d.opt.ProgramOptions...)...)
	go func() {
		_, err := p.Run()
		d.mu.Lock()
		d.runErr = err
		d.mu.Unlock()
		close(d.done)
	}()
}

// Finish hands the run's outcome to the dashboard and waits until the
// program has ended: at once unless Hold is set, else when the user quits.
// Without Start (setup failed), it only ends the setup bars.
func (d *Dashboard) Finish(rep *report.Report, err error) error {
	d.mu.Lock()
	started := d.started
	d.mu.Unlock()
	d.setup.Done()
	if !started {
		return nil
	}
	select {
	case d.feed <- ResultMsg{Report: rep, Err: err}:
	case <-d.done:
	}
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runErr != nil {
		return fmt.Errorf("dashboard: %w", d.runErr)
	}
	return nil
}
