package check

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"paysim/report"
)

func TestBudgetSharesTheTimeLeft(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sources []string
		step    string
		total   time.Duration
		want    time.Duration // the step's share of total
	}{
		{"logs get 3 of 11", nil, SourceLogs, 11 * time.Second, 3 * time.Second},
		{"cache gets 1 of 11", nil, SourceCache, 11 * time.Second, time.Second},
		{"the last step gets all that is left", []string{SourceHistory}, SourceHistory, 5 * time.Second, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.total)
			defer cancel()
			sctx, done := NewBudget(tc.sources...).Step(ctx, tc.step)
			defer done()
			dl, ok := sctx.Deadline()
			if !ok {
				t.Fatal("step has no deadline")
			}
			if got := time.Until(dl); got > tc.want || got < tc.want-time.Second {
				t.Errorf("step gets %v, want about %v", got, tc.want)
			}
		})
	}
	t.Run("a step that overran leaves the others their share", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		b := NewBudget(SourceLogs, SourceLedger)
		lctx, done := b.Step(ctx, SourceLogs)
		<-lctx.Done() // the logs step hangs until its share runs out
		done()
		sctx, done := b.Step(ctx, SourceLedger)
		defer done()
		if err := sctx.Err(); err != nil {
			t.Fatalf("the ledger step starts expired: %v", err)
		}
		if dl, _ := sctx.Deadline(); time.Until(dl) < 500*time.Millisecond {
			t.Errorf("the ledger step gets %v, want the ~1 s the logs step left", time.Until(dl))
		}
	})
	t.Run("no deadline, no bound", func(t *testing.T) {
		sctx, done := NewBudget().Step(context.Background(), SourceLedger)
		defer done()
		if _, ok := sctx.Deadline(); ok {
			t.Error("a step of an unbounded context got a deadline")
		}
	})
}

func TestUnreadJudgesWhatItCan(t *testing.T) {
	u := Unread{}
	u.Note(SourceLedger, nil)
	u.Note(SourceLogs, errors.New("search: context deadline exceeded"))
	ran := 0
	checker := func() report.Invariant {
		ran++
		return report.Invariant{Name: "x", OK: true, Status: report.StatusPass}
	}
	for _, tc := range []struct {
		name  string
		needs []string
		want  string // status
		why   string
	}{
		{"every source read", []string{SourceLedger}, report.StatusPass, ""},
		{"a source unread", []string{SourceLedger, SourceLogs}, report.StatusInconclusive, "logs: search: context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ran
			inv := u.Judge("x", checker, tc.needs...)
			if inv.State() != tc.want {
				t.Fatalf("status %s, want %s (%s)", inv.State(), tc.want, inv.Detail)
			}
			if tc.why != "" {
				if ran != before {
					t.Error("the checker ran without its source")
				}
				if !strings.Contains(inv.Detail, tc.why) || inv.OK {
					t.Errorf("detail %q (ok %v), want the reason %q and not ok", inv.Detail, inv.OK, tc.why)
				}
			}
		})
	}
}

// TestUnjudgedMakesTheRunInconclusive: an invariant that could not be
// judged keeps a run from passing without failing it.
func TestUnjudgedMakesTheRunInconclusive(t *testing.T) {
	r := report.Report{Requests: report.Requests{Total: 10, OK: 10}, Invariants: []report.Invariant{
		{Name: "conservation", OK: true, Status: report.StatusPass},
		Unjudged(NameLogs, "logs: search: context deadline exceeded"),
	}}
	r.Decide()
	if r.Verdict != report.VerdictInconclusive || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "could not read logs") {
		t.Errorf("verdict %s %q, want inconclusive for the unread logs", r.Verdict, r.Reasons)
	}
}
