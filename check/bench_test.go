package check

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"paysim/loadgen"
	"paysim/report"
	"paysim/sim/payments"
)

// synthRun is a synthetic run: a history of ops operations (invoke + ok
// each) and the consistent final state every checker should accept.
type synthRun struct {
	history []loadgen.Event
	l       Ledger
	topic   []Event
	docs    map[string]bool
	cached  map[string]CachedBalance
}

// synth builds a run of ops operations over 10,000 users and 500 merchants:
// about 65% QR payments, 10% top-ups, 15% transfers, 10% refunds, each
// committed, published, granted, logged and cached as the service would.
func synth(ops int) synthRun {
	const users, merchants, initial = 10_000, 500, 50_000
	rng := rand.New(rand.NewPCG(1, 2))
	s := synthRun{
		history: make([]loadgen.Event, 0, 2*ops),
		l: Ledger{
			Accounts: make(map[string]Account, users+merchants), Payments: NewPayments(ops + 1),
			EntrySum:   make(map[string]int64, ops+1),
			EntryCount: make(map[string]int, ops+1), AccountEntrySum: make(map[string]int64, users+merchants+1),
			BonusGrants: map[string]int64{}, GrantAccounts: map[string]string{},
		},
		topic:  make([]Event, 0, ops),
		docs:   make(map[string]bool, ops),
		cached: make(map[string]CachedBalance, users+merchants),
	}
	l := &s.l
	for i := 1; i <= users; i++ {
		id := payments.UserID(i)
		l.Accounts[id] = Account{ID: id, Kind: payments.KindUser, Balance: initial}
		l.AccountEntrySum[id] = initial
	}
	for i := 1; i <= merchants; i++ {
		id := payments.MerchantID(i)
		l.Accounts[id] = Account{ID: id, Kind: payments.KindMerchant}
	}
	l.Payments.Put(Payment{ID: "opening", Key: "opening", Kind: payments.OpOpening, From: payments.FundingAccount, To: "*", Amount: users * initial, Status: payments.StatusCommitted})
	l.EntrySum["opening"], l.EntryCount["opening"] = 0, users+1
	l.AccountEntrySum[payments.FundingAccount] = -users * initial

	move := func(id, from, to string, amount int64) {
		for _, side := range []struct {
			acct  string
			delta int64
		}{{from, -amount}, {to, amount}} {
			l.AccountEntrySum[side.acct] += side.delta
			if a, ok := l.Accounts[side.acct]; ok {
				a.Balance += side.delta
				a.Version++
				l.Accounts[side.acct] = a
			}
		}
		l.EntrySum[id], l.EntryCount[id] = 0, 2
	}
	var refundable []string
	for i := range ops {
		key := "bench-" + strconv.Itoa(i)
		id := payments.PaymentID(key)
		p := Payment{ID: id, Key: key, Status: payments.StatusCommitted}
		req := loadgen.Event{Key: key}
		op := loadgen.OpPayment
		switch n := rng.IntN(100); {
		case n >= 90 && len(refundable) > 0:
			op = loadgen.OpRefund
		case n >= 75 && n < 90:
			op = loadgen.OpTransfer
		case n >= 65 && n < 75:
			op = loadgen.OpTopup
		}
		user := payments.UserID(1 + rng.IntN(users))
		switch op {
		case loadgen.OpRefund:
			orig, _ := l.Payments.Get(refundable[len(refundable)-1])
			refundable = refundable[:len(refundable)-1]
			p.Kind, p.From, p.To, p.Amount, p.RefundOf = payments.OpRefund, orig.To, orig.From, orig.Amount, orig.ID
			orig.Refunded = orig.Amount
			l.Payments.Put(orig)
			req.PaymentID = orig.ID
		case loadgen.OpTransfer, loadgen.OpPayment:
			to := payments.MerchantID(1 + rng.IntN(merchants))
			if op == loadgen.OpTransfer {
				to = payments.UserID(1 + rng.IntN(users))
			}
			amount := 1 + rng.Int64N(5000)
			if to == user || l.Accounts[user].Balance < amount {
				op = loadgen.OpTopup // what the client could still do
				break
			}
			p.Kind, p.From, p.To, p.Amount = op, user, to, amount
			req.From, req.To = user, to
		}
		if op == loadgen.OpTopup {
			p.Kind, p.From, p.To, p.Amount = payments.OpTopup, payments.FundingAccount, user, 1000+rng.Int64N(9000)
			req.From = user
		}
		req.Op = op
		if op == loadgen.OpPayment {
			if pts := payments.BonusPoints(p.Amount); pts > 0 {
				l.BonusGrants[id], l.GrantAccounts[id] = pts, user
				a := l.Accounts[user]
				a.Points += pts
				l.Accounts[user] = a
			}
			if rng.IntN(7) == 0 {
				refundable = append(refundable, id)
			}
		}
		req.Amount = p.Amount
		move(id, p.From, p.To, p.Amount)
		l.Payments.Put(p)
		s.topic = append(s.topic, Event{PaymentID: id, Key: key, Kind: p.Kind, From: p.From, To: p.To, Amount: p.Amount, RefundOf: p.RefundOf})
		s.docs[payments.CommittedLogID(id)] = true
		invoke, ok := req, req
		invoke.Type, invoke.TNS = loadgen.EventInvoke, int64(i)*int64(time.Millisecond)
		ok.Type, ok.Status, ok.ResultID, ok.Attempts, ok.TNS = loadgen.EventOK, 201, id, 1, invoke.TNS+int64(3*time.Millisecond)
		s.history = append(s.history, invoke, ok)
	}
	for id, a := range l.Accounts {
		s.cached[id] = CachedBalance{ID: id, Balance: a.Balance, Version: a.Version}
	}
	return s
}

// checkAll runs all eight checkers over a run.
func checkAll(s synthRun) []report.Invariant {
	dur, _ := Durability(s.history, s.l)
	return []report.Invariant{
		Conservation(s.l),
		NoNegative(s.l),
		Idempotency(s.history, s.l),
		dur,
		Events(s.l, s.topic),
		Logs(s.history, s.l, s.docs),
		Cache(s.l, s.cached),
		Unknowns(s.history, s.l),
	}
}

// TestSyntheticRunPasses: the benchmark's synthetic run is consistent, so
// all eight checkers agree it is clean (and the benchmark times real work).
func TestSyntheticRunPasses(t *testing.T) {
	s := synth(20_000)
	if n, err := loadgen.CheckPairs(s.history); err != nil || n != 20_000 {
		t.Fatalf("history: %d ops, %v", n, err)
	}
	for _, inv := range checkAll(s) {
		// A clean synthetic run has no unknown outcomes: nothing to resolve.
		if inv.Name == NameUnknowns && inv.State() == report.StatusNotApplicable {
			continue
		}
		if !inv.OK || inv.Checked == 0 {
			t.Errorf("%s: %+v", inv.Name, inv)
		}
	}
}

// BenchmarkCheck1M times all eight checkers over a 1M-operation history
// (2M events) and its final state; the target is <= 10 s per run.
//
//	go test ./check/ -run '^$' -bench BenchmarkCheck1M -benchtime=1x
func BenchmarkCheck1M(b *testing.B) { benchCheck(b, 1_000_000) }

// BenchmarkCheck2h is a 2-hour run at 200 payments/s (1.44M operations):
// issue 20's long soak. heap-peak-MB is the largest heap, inputs included
// (a real run's checks hold the same history, ledger, topic and log ids).
//
//	go test ./check/ -run '^$' -bench BenchmarkCheck2h -benchtime=1x
func BenchmarkCheck2h(b *testing.B) { benchCheck(b, 2*3600*200) }

// benchCheck times checkAll over a synthetic run of ops operations and
// reports the peak heap, sampled every 5 ms.
func benchCheck(b *testing.B, ops int) {
	b.Helper()
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	s := synth(ops)
	b.ResetTimer()
	for b.Loop() {
		for _, inv := range checkAll(s) {
			if inv.State() == report.StatusFail {
				b.Fatalf("%s: %+v", inv.Name, inv)
			}
		}
	}
	b.StopTimer()
	close(done)
	<-sampled
	b.ReportMetric(float64(ops)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/check")
	b.ReportMetric(float64(peak.Load())/(1<<20), "heap-peak-MB")
}

// BenchmarkPaymentsTable reports the heap a loaded payments table holds per
// row (ids and keys shaped as the service writes them).
func BenchmarkPaymentsTable(b *testing.B) {
	const rows = 600_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ps := NewPayments(rows)
		for i := range rows {
			key := fmt.Sprintf("baseline-1-1796119832-%d", i)
			ps.Put(Payment{ID: payments.PaymentID(key), Key: key, Kind: payments.OpPayment, From: payments.UserID(1 + i%10_000),
				To: payments.MerchantID(1 + i%500), Amount: int64(i), Status: payments.StatusCommitted})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/rows, "B/row")
		runtime.KeepAlive(ps)
	}
}
