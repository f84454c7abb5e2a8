package check

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/report"
)

// DrainTarget is what must be empty before the checkers run.
type DrainTarget struct {
	Ledger *sql.DB  // the outbox lives here
	Kafka  []string // bootstrap brokers
	Groups []string // consumer groups that must have caught up
	// Busy reports the write requests still running in the app tier (nil:
	// none to wait for). One whose client gave up can still commit.
	Busy func() int
}

// Drain waits, at most bound, until no request is in flight, the outbox is
// empty and every consumer group has no lag. It reports both the bound and
// the time it took.
func Drain(ctx context.Context, t DrainTarget, bound time.Duration) report.Drain {
	start := time.Now()
	d := report.Drain{BoundS: bound.Seconds()}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.Kafka...), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		d.Pending = "kafka client: " + err.Error()
		return d
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		pending := pendingWork(ctx, t, adm)
		if pending == "" {
			d.Complete = true
			d.ActualS = time.Since(start).Seconds()
			return d
		}
		// A check cut short by the bound says only that time ran out;
		// the report keeps what the last whole check found.
		if ctx.Err() == nil || last == "" {
			last = pending
		}
		select {
		case <-ctx.Done():
			d.ActualS = time.Since(start).Seconds()
			d.Pending = last
			return d
		case <-tick.C:
		}
	}
}

// pendingWork describes what is still in flight, or "" when drained.
func pendingWork(ctx context.Context, t DrainTarget, adm *kadm.Client) string {
	if t.Busy != nil {
		if n := t.Busy(); n > 0 {
			return fmt.Sprintf("app: %d requests still in flight", n)
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var outbox int
	if err := t.Ledger.QueryRowContext(qctx, "SELECT COUNT(*) FROM outbox").Scan(&outbox); err != nil {
		return "outbox: " + err.Error()
	}
	if outbox > 0 {
		return fmt.Sprintf("outbox: %d rows not relayed", outbox)
	}
	lags, err := adm.Lag(qctx, t.Groups...)
	if err != nil {
		return "consumer lag: " + err.Error()
	}
	for _, g := range t.Groups {
		l, ok := lags[g]
		if !ok {
			return "consumer group " + g + ": not found"
		}
		if l.Error() != nil {
			return fmt.Sprintf("consumer group %s: %v", g, l.Error())
		}
		// Lag covers only the partitions a group is assigned or has
		// committed: mid-rebalance, or before its first commit with no
		// members, a group's zero lag says nothing.
		if l.State != "Stable" && l.State != "Empty" {
			return fmt.Sprintf("consumer group %s: %s", g, l.State)
		}
		if len(l.Lag) == 0 {
			return fmt.Sprintf("consumer group %s: no partitions assigned or committed yet", g)
		}
		if n := l.Lag.Total(); n > 0 {
			return fmt.Sprintf("consumer group %s: lag %d", g, n)
		}
	}
	return ""
}
