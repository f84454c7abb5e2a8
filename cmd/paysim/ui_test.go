package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"paysim/internal/syncbuf"
	"paysim/internal/testwait"
	"paysim/report"
	"paysim/scenarios"
)

func shortBaseline(t *testing.T, d time.Duration) scenarios.Scenario {
	t.Helper()
	cat, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := cat.Find("baseline")
	if err != nil {
		t.Fatal(err)
	}
	rate, err := scenarios.ParseRate("50")
	if err != nil {
		t.Fatal(err)
	}
	sc.Load.Duration, sc.Load.Rate, sc.Load.Pacer = d, rate, nil
	return sc
}

func TestRunTUI(t *testing.T) {
	cases := []struct {
		name     string
		duration time.Duration
		quit     bool // press q once the load runs
		wantErr  error
		want     []string
	}{
		{name: "runs to the verdict and leaves on its own without hold", duration: 3 * time.Second,
			want: []string{"setup", "load balancer", "stack up in", "\x1b[?1049h", "● LOAD", "VERDICT: PASS", "verdict: PASS"}},
		{name: "q stops the run: heal, tear down, partial report", duration: time.Minute, quit: true, wantErr: scenarios.ErrInterrupted,
			want: []string{"stopping: healing faults", "INTERRUPTED", "interrupted: the report is partial", "verdict: FAIL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			term := &syncbuf.Buffer{}
			keys, press := io.Pipe()
			defer press.Close()
			if tc.quit {
				go func() {
					// Press q once the dashboard shows load; the run's own bound ends the wait otherwise.
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for !strings.Contains(term.String(), "● LOAD t=2s") {
						select {
						case <-ctx.Done():
							return
						case <-tick.C:
						}
					}
					_, _ = press.Write([]byte("q"))
				}()
			}
			type result struct {
				rep *report.Report
				err error
			}
			done := make(chan result, 1)
			go func() {
				rep, err := runTUI(context.Background(), keys, false, term, shortBaseline(t, tc.duration), scenarios.Options{Out: t.TempDir()}, nil)
				done <- result{rep, err}
			}()
			var res result
			testwait.For(t, 2*time.Minute, "the run to return", func() bool {
				select {
				case res = <-done:
					return true
				default:
					return false
				}
			})
			if !errors.Is(res.err, tc.wantErr) {
				t.Fatalf("runTUI error %v, want %v", res.err, tc.wantErr)
			}
			if res.rep == nil {
				t.Fatal("no report")
			}
			if tc.quit && (!res.rep.Interrupted || res.rep.Requests.Total == 0) {
				t.Errorf("report interrupted=%v total=%d, want a partial report with traffic", res.rep.Interrupted, res.rep.Requests.Total)
			}
			screen := term.String()
			for _, w := range tc.want {
				if !strings.Contains(screen, w) {
					t.Errorf("terminal output lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("terminal output:\n%q", screen)
			}
		})
	}
}
