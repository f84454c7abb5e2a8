package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"paysim/check"
	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"
	"paysim/sim/lb"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// TestChecksJudgeWhatTheyCanRead: with the search tier gone before the
// checks, log completeness is reported as not judged (inconclusive, saying
// why) and every other invariant is still judged; before, the first
// unreadable source ended the checks with an error and no invariant at all.
func TestChecksJudgeWhatTheyCanRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := stack.Up(ctx, stack.Config{
		Topology: sim.DefaultTopology(),
		Accounts: payments.Accounts{Users: 20, Merchants: 3, InitialBalance: 10_000},
		Dir:      t.TempDir(),
		LB:       lb.Config{Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("stack up: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, svc := range []sim.Service{sim.ServiceApp, sim.ServiceSearch} { // the app tier first, as the checks do
		if err := st.Release(svc); err != nil {
			t.Fatal(err)
		}
	}
	rep := &report.Report{}
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	logs := func(ctx context.Context) (map[string]bool, error) {
		return check.LoadLogIDs(ctx, st.Endpoints().Elasticsearch.URL)
	}
	events := func(ctx context.Context, led check.Ledger, onlyInLedger bool) (report.Invariant, error) {
		return check.TopicEvents(ctx, st.Endpoints().Kafka.Bootstrap, sim.TopicPayments, led, onlyInLedger)
	}
	if err := runChecks(cctx, st, logs, events, func() ([]loadgen.Event, error) { return nil, nil }, rep, false, 0); err != nil {
		t.Fatalf("runChecks: %v", err)
	}
	if len(rep.Invariants) != 8 {
		t.Fatalf("%d invariants, want all 8 reported", len(rep.Invariants))
	}
	for _, inv := range rep.Invariants {
		unjudged := inv.State() == report.StatusInconclusive
		switch {
		case inv.Name == check.NameLogs && (!unjudged || !strings.Contains(inv.Detail, "could not read logs")):
			t.Errorf("%s: %s %q, want inconclusive for the unread logs", inv.Name, inv.State(), inv.Detail)
		case inv.Name != check.NameLogs && unjudged:
			t.Errorf("%s not judged (%s), though its sources were read", inv.Name, inv.Detail)
		}
	}
}
