package tui

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"paysim/chaos"
	"paysim/internal/syncbuf"
	"paysim/internal/testwait"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
)

func (f *fakeControl) setNodes(n []sim.NodeStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes = n
}

// headless is a Dashboard on a fake terminal, with its keyboard.
type headless struct {
	d         *Dashboard
	out       *syncbuf.Buffer
	keys      *io.PipeWriter
	ctl       *fakeControl
	cancelled chan struct{}
	finished  chan error
}

// newHeadless runs setup on a fake terminal and starts the program.
func newHeadless(t *testing.T, hold bool) *headless {
	t.Helper()
	in, keys := io.Pipe()
	h := &headless{out: &syncbuf.Buffer{}, keys: keys, ctl: &fakeControl{nodes: testNodes()},
		cancelled: make(chan struct{}), finished: make(chan error, 1)}
	var once sync.Once
	h.d = NewDashboard(Options{
		Config: Config{Scenario: "az-outage", Mode: "embedded", Duration: 40 * time.Second, Rate: 100, Hold: hold,
			Poll: 10 * time.Millisecond, Cancel: func() { once.Do(func() { close(h.cancelled) }) }},
		In: in, Out: h.out,
	})
	t.Cleanup(func() {
		keys.Close()
		select {
		case <-h.finished:
		default:
			// Make sure the program ends even if the test failed early.
			go func() { h.finished <- h.d.Finish(nil, nil) }()
			_, _ = keys.Write([]byte("q"))
		}
	})
	for i, step := range []string{"infrastructure nodes", "ledger seeded", "payment API instances", "load balancer"} {
		h.d.Progress(step, i+1, 4)
	}
	fmt.Fprintln(h.d, "stack up in 1.00s: 14 nodes, API http://127.0.0.1:1")
	h.d.Start(h.ctl)
	return h
}

func (h *headless) waitScreen(t *testing.T, what string) {
	t.Helper()
	testwait.For(t, 10*time.Second, "the screen to show "+what, func() bool { return strings.Contains(h.out.String(), what) })
}

func (h *headless) finish(rep *report.Report, err error) {
	go func() { h.finished <- h.d.Finish(rep, err) }()
}

func (h *headless) waitFinished(t *testing.T) {
	t.Helper()
	var err error
	testwait.For(t, 10*time.Second, "the dashboard to end", func() bool {
		select {
		case err = <-h.finished:
			h.finished <- err // keep it for Cleanup
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
}

func TestDashboardHeadless(t *testing.T) {
	a := testAZs[0]
	h := newHeadless(t, true)
	for i := range 20 {
		h.d.Tick(loadgen.Tick{T: time.Duration(i) * time.Second, OK: 100, RPS: 100, P99: 3 * time.Millisecond})
	}
	h.waitScreen(t, "t=20s/40s")

	// The fault lands: the event, then the poll sees the AZ's nodes down.
	h.d.Fault(chaos.Record{Kind: "az-outage", Target: a, Start: 20 * time.Second}, true)
	h.ctl.setNodes(withState(testNodes(), sim.StateDown, inAZ(a)))
	h.d.Tick(loadgen.Tick{T: 20 * time.Second, Errors: 100, RPS: 100, P99: 1070 * time.Millisecond})
	h.waitScreen(t, a+" DOWN")
	h.waitScreen(t, "✖ down primary")
	h.waitScreen(t, "Faults (1 active)")
	h.waitScreen(t, "1.07s")

	h.d.Fault(chaos.Record{Kind: "az-outage", Target: a, Start: 20 * time.Second, End: 50 * time.Second}, false)
	h.ctl.setNodes(testNodes())
	fmt.Fprintln(h.d, "drain: complete=true in 0.01s (bound 30s)")
	h.waitScreen(t, "checking invariants")

	h.finish(testReport(report.VerdictPass), nil)
	h.waitScreen(t, "VERDICT: PASS")
	h.waitScreen(t, "RTO 11.0s")
	select {
	case <-h.finished:
		t.Fatal("the dashboard left before the user pressed q")
	default:
	}
	if _, err := h.keys.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	h.waitFinished(t)
	select {
	case <-h.cancelled:
		t.Fatal("q after the run cancelled it")
	default:
	}

	screen := h.out.String()
	alt := strings.Index(screen, "\x1b[?1049h")
	if alt < 0 {
		t.Fatalf("the program never took the alternate screen:\n%q", screen)
	}
	setup := screen[:alt]
	for _, want := range []string{"setup", "4/4", "load balancer", "stack up in 1.00s"} {
		if !strings.Contains(setup, want) {
			t.Errorf("setup output before the dashboard lacks %q:\n%s", want, setup)
		}
	}
	if got := h.d.Log(); len(got) != 1 || !strings.HasPrefix(got[0], "drain:") {
		t.Errorf("Log() = %q, want the drain line only", got)
	}
}

func TestDashboardQuitStopsTheRun(t *testing.T) {
	h := newHeadless(t, true)
	h.d.Tick(loadgen.Tick{T: 0, OK: 100, RPS: 100, P99: 3 * time.Millisecond})
	h.waitScreen(t, "● LOAD")
	if _, err := h.keys.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "q to cancel the run", func() bool {
		select {
		case <-h.cancelled:
			return true
		default:
			return false
		}
	})
	h.waitScreen(t, "STOPPING")
	select {
	case <-h.finished:
		t.Fatal("the dashboard left before the run returned")
	default:
	}
	rep := testReport(report.VerdictFail)
	rep.Interrupted = true
	h.finish(rep, fmt.Errorf("interrupted"))
	h.waitFinished(t) // no second q: the user already asked to leave
}

func TestDashboardNeverBlocksTheRun(t *testing.T) {
	cases := []struct {
		name        string
		feed, sends int   // each send is a tick and a fault
		wantDropped int64 // messages beyond the feed's room
	}{
		{name: "room for all", feed: 128, sends: 50, wantDropped: 0},
		{name: "model far behind: drop, never block", feed: 4, sends: 1000, wantDropped: 2*1000 - 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDashboard(Options{Out: io.Discard, FeedSize: tc.feed})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range tc.sends {
					d.Tick(loadgen.Tick{T: time.Duration(i) * time.Second})
					d.Fault(chaos.Record{Kind: "k"}, i%2 == 0)
				}
			}()
			testwait.For(t, 5*time.Second, "the sends to return", func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			})
			if got := d.Dropped(); got != tc.wantDropped {
				t.Errorf("dropped %d, want %d", got, tc.wantDropped)
			}
			// Setup failed before the load: Finish only ends the bars.
			if err := d.Finish(nil, fmt.Errorf("setup: boom")); err != nil {
				t.Errorf("Finish without Start: %v", err)
			}
		})
	}
}
