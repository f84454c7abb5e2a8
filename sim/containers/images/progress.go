package images

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Progress is told about each image as it is checked and built.
type Progress interface {
	// Step starts reporting on one image.
	Step(name string) Step
}

// Step reports on one image.
type Step interface {
	// Status says what the build is doing now.
	Status(msg string)
	// Done ends the step with a one-line summary, or the error that ended it.
	Done(summary string, err error)
}

// Bars draws one mpb spinner per image on a terminal. Call Wait when done.
type Bars struct {
	p *mpb.Progress
}

// NewBars draws on w (also when w is not a terminal: bars were asked for).
func NewBars(w io.Writer) *Bars {
	return &Bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(60), mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())}
}

// Step implements Progress.
func (b *Bars) Step(name string) Step {
	s := &barStep{msg: "checking"}
	s.bar = b.p.New(1, mpb.SpinnerStyle().PositionLeft(), mpb.BarWidth(2),
		mpb.BarFillerOnComplete("✓ "), mpb.BarFillerOnAbort("✗ "),
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-10s", name))),
		mpb.AppendDecorators(
			decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 6}),
			decor.Any(func(decor.Statistics) string {
				s.mu.Lock()
				defer s.mu.Unlock()
				return " " + s.msg
			})),
	)
	return s
}

// Wait waits for the last frame to be drawn.
func (b *Bars) Wait() { b.p.Wait() }

type barStep struct {
	bar *mpb.Bar
	mu  sync.Mutex
	msg string
}

func (s *barStep) Status(msg string) {
	s.mu.Lock()
	s.msg = msg
	s.mu.Unlock()
}

func (s *barStep) Done(summary string, err error) {
	if err != nil {
		s.Status("FAILED: " + firstLine(err.Error()))
		s.bar.Abort(false)
		return
	}
	s.Status(summary)
	s.bar.SetTotal(1, true)
}

// Lines reports as plain lines, for logs and CI: every status change of a
// step at most once per Every (default 15 s), and every end.
type Lines struct {
	W     io.Writer
	Every time.Duration
	mu    sync.Mutex
}

// Step implements Progress.
func (l *Lines) Step(name string) Step {
	return &lineStep{l: l, name: name, start: time.Now()}
}

type lineStep struct {
	l     *Lines
	name  string
	start time.Time
	last  time.Time
}

// printf writes one line; the caller holds s.l.mu.
func (s *lineStep) printf(format string, a ...any) {
	fmt.Fprintf(s.l.W, "images: %-10s %6s  %s\n", s.name, time.Since(s.start).Round(time.Second), fmt.Sprintf(format, a...))
}

func (s *lineStep) Status(msg string) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	every := s.l.Every
	if every == 0 {
		every = 15 * time.Second
	}
	if !s.last.IsZero() && time.Since(s.last) < every {
		return
	}
	s.last = time.Now()
	s.printf("%s", msg)
}

func (s *lineStep) Done(summary string, err error) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if err != nil {
		s.printf("FAILED: %v", err)
		return
	}
	s.printf("%s", summary)
}

// nopProgress reports nothing.
type nopProgress struct{}

func (nopProgress) Step(string) Step { return nopStep{} }

type nopStep struct{}

func (nopStep) Status(string)      {}
func (nopStep) Done(string, error) {}
