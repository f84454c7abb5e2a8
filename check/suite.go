package check

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"paysim/report"
)

// Sources of the end-of-run state, as Unread and Budget name them.
const (
	SourceLogs    = "logs"    // log ids in Elasticsearch
	SourceLedger  = "ledger"  // the ledger database
	SourceTopic   = "topic"   // the payments topic in Kafka
	SourceCache   = "cache"   // the balance cache in Redis
	SourceHistory = "history" // history.jsonl
)

// stepWeight is a source's share of the checks' time, in proportion to
// what each reads for a run of a given size (the ledger and the logs read
// a row or a document per payment, the topic an event, the history a line
// per operation; the cache holds one key per account).
func stepWeight(source string) float64 {
	switch source {
	case SourceLogs, SourceLedger:
		return 3
	case SourceTopic, SourceHistory:
		return 2
	}
	return 1
}

// Budget shares the time left until a context's deadline among the steps
// still to run, so one slow step cannot use up the others' time: each step
// gets its weight's share of what is left when it starts, and what a step
// leaves unused goes to the steps after it. Without a deadline, steps are
// unbounded.
type Budget struct {
	left map[string]float64 // weights of the steps not run yet
}

// NewBudget starts a budget over the given sources (all five when none).
func NewBudget(sources ...string) *Budget {
	if len(sources) == 0 {
		sources = []string{SourceLogs, SourceLedger, SourceTopic, SourceCache, SourceHistory}
	}
	b := &Budget{left: map[string]float64{}}
	for _, s := range sources {
		b.left[s] = stepWeight(s)
	}
	return b
}

// Step returns the context for one source's step: ctx bounded by the
// source's share of the time ctx has left.
func (b *Budget) Step(ctx context.Context, source string) (context.Context, context.CancelFunc) {
	w, ok := b.left[source]
	total := 0.0
	for _, v := range b.left {
		total += v
	}
	delete(b.left, source)
	deadline, bounded := ctx.Deadline()
	if !ok || !bounded || total <= 0 {
		return context.WithCancel(ctx)
	}
	share := time.Duration(float64(time.Until(deadline)) * w / total)
	return context.WithTimeout(ctx, share)
}

// Unread records the sources that could not be read, and why.
type Unread map[string]error

// Note records err (if any) against source and returns whether the source
// was read.
func (u Unread) Note(source string, err error) bool {
	if err == nil {
		return true
	}
	u[source] = err
	return false
}

// Missing describes which of the given sources could not be read ("" when
// every one was).
func (u Unread) Missing(sources ...string) string {
	var why []string
	for _, s := range sources {
		if err, bad := u[s]; bad {
			why = append(why, fmt.Sprintf("%s: %v", s, err))
		}
	}
	sort.Strings(why)
	return strings.Join(why, "; ")
}

// Judge runs an invariant's checker when every source it needs was read;
// otherwise the invariant is reported as not judged (inconclusive) with the
// reason, and the other invariants are judged all the same.
func (u Unread) Judge(name string, checker func() report.Invariant, needs ...string) report.Invariant {
	if why := u.Missing(needs...); why != "" {
		return Unjudged(name, why)
	}
	return checker()
}

// Unjudged is the result of an invariant that could not be judged because
// the state it needs could not be read.
func Unjudged(name, why string) report.Invariant {
	return report.Invariant{Name: name, Status: report.StatusInconclusive, Detail: "not judged: could not read " + why}
}
