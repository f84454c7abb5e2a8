package check

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"paysim/loadgen"
	"paysim/report"
	"paysim/sim"

	"paysim/sim/payments"
	"paysim/sim/stack/stacktest"
)

// TestLoadersAgainstEmbeddedStack drives a few payments through the real
// embedded stack, drains it, loads Kafka, Elasticsearch and Redis with the
// loaders and checks that invariants 5-8 hold; then it plants a stale cache
// entry and expects cache-convergence to catch it.
func TestLoadersAgainstEmbeddedStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st := stacktest.New(t)
	ep := st.Endpoints()

	// Nothing shipped yet: no log index is an empty set, not an error.
	if docs, err := LoadLogIDs(ctx, ep.Elasticsearch.URL); err != nil || len(docs) != 0 {
		t.Fatalf("logs before traffic: %d docs, %v", len(docs), err)
	}
	if evs, err := LoadTopic(ctx, ep.Kafka.Bootstrap, sim.TopicPayments); err != nil || len(evs) != 0 {
		t.Fatalf("topic before traffic: %d events, %v", len(evs), err)
	}
	if evs, err := LoadTopic(ctx, ep.Kafka.Bootstrap, "no-such-topic"); err != nil || len(evs) != 0 {
		t.Fatalf("missing topic: %d events, %v", len(evs), err)
	}

	var hist []loadgen.Event
	do := func(path, key, body string, ev loadgen.Event) string {
		t.Helper()
		ev.Key = key
		inv := ev
		inv.Type = loadgen.EventInvoke
		hist = append(hist, inv)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.API.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var res struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &res)
		ev.Status = resp.StatusCode
		ev.Type = loadgen.EventFail
		if resp.StatusCode/100 == 2 {
			ev.Type, ev.ResultID = loadgen.EventOK, res.ID
		}
		hist = append(hist, ev)
		return res.ID
	}
	p1 := do("/v1/payments", "it-p1", `{"user_id":"u-1","merchant_id":"m-1","amount":1000}`,
		loadgen.Event{Op: loadgen.OpPayment, From: "u-1", To: "m-1", Amount: 1000})
	do("/v1/payments", "it-p2", `{"user_id":"u-2","merchant_id":"m-2","amount":150}`,
		loadgen.Event{Op: loadgen.OpPayment, From: "u-2", To: "m-2", Amount: 150})
	do("/v1/topups", "it-t1", `{"account_id":"u-3","amount":500}`,
		loadgen.Event{Op: loadgen.OpTopup, From: "u-3", Amount: 500})
	do("/v1/transfers", "it-x1", `{"from":"u-4","to":"u-5","amount":300}`,
		loadgen.Event{Op: loadgen.OpTransfer, From: "u-4", To: "u-5", Amount: 300})
	do("/v1/refunds", "it-r1", fmt.Sprintf(`{"payment_id":%q,"amount":400}`, p1),
		loadgen.Event{Op: loadgen.OpRefund, PaymentID: p1, Amount: 400})
	do("/v1/payments", "it-j1", `{"user_id":"u-6","merchant_id":"m-1","amount":999999}`,
		loadgen.Event{Op: loadgen.OpPayment, From: "u-6", To: "m-1", Amount: 999999})
	if n, err := loadgen.CheckPairs(hist); err != nil || n != 6 {
		t.Fatalf("history: %d ops, %v", n, err)
	}

	d := Drain(ctx, DrainTarget{Ledger: st.Ledger(), Kafka: ep.Kafka.Bootstrap,
		Groups: []string{payments.GroupBonus, payments.GroupCache, payments.GroupShipper}}, 30*time.Second)
	if !d.Complete {
		t.Fatalf("drain: %+v", d)
	}
	led, err := LoadLedger(ctx, st.Ledger())
	if err != nil {
		t.Fatal(err)
	}
	topic, err := LoadTopic(ctx, ep.Kafka.Bootstrap, sim.TopicPayments)
	if err != nil {
		t.Fatal(err)
	}
	// Read two rows at a time, the ledger is the same.
	paged2, err := loadLedger(ctx, st.Ledger(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(paged2.EntrySum, led.EntrySum) || !maps.Equal(paged2.EntryCount, led.EntryCount) ||
		!maps.Equal(paged2.BonusGrants, led.BonusGrants) || !maps.Equal(paged2.GrantAccounts, led.GrantAccounts) ||
		paged2.Payments.Len() != led.Payments.Len() || led.Payments.Len() < 7 || len(led.EntrySum) < 6 {
		t.Errorf("paged by 2: %d payments, %d entry sums; whole: %d payments, %d entry sums",
			paged2.Payments.Len(), len(paged2.EntrySum), led.Payments.Len(), len(led.EntrySum))
	}
	for id, p := range led.Payments.All() {
		if q, ok := paged2.Payments.Get(id); !ok || q != p {
			t.Errorf("payment %s paged by 2: %+v, whole: %+v", id, q, p)
		}
	}
	// The shipper commits its offsets only after a bulk succeeded, so once
	// drained the documents exist; the loader refreshes so search sees them.
	docs, err := LoadLogIDs(ctx, ep.Elasticsearch.URL)
	if err != nil {
		t.Fatal(err)
	}
	paged, err := loadLogIDs(ctx, ep.Elasticsearch.URL, 2) // several search_after pages
	if err != nil {
		t.Fatal(err)
	}
	cached, err := LoadCache(ctx, ep.Redis.Addr)
	if err != nil {
		t.Fatal(err)
	}

	if len(topic) < 5 {
		t.Errorf("topic payments: %d events, want >= 5", len(topic))
	}
	if len(paged) != len(docs) || len(docs) < 5 {
		t.Errorf("log ids: %d in one page, %d paging by 2; want equal and >= 5", len(docs), len(paged))
	}
	for id := range docs {
		if !paged[id] {
			t.Errorf("log %s missing when paging", id)
		}
	}
	if led.BonusGrants[p1] != payments.BonusPoints(1000) || led.GrantAccounts[p1] != "u-1" {
		t.Errorf("grant for %s: %d points to %q", p1, led.BonusGrants[p1], led.GrantAccounts[p1])
	}
	if len(cached) == 0 {
		t.Error("no cached balances after the cache updater ran")
	}
	for _, inv := range []report.Invariant{
		Events(led, topic), Logs(hist, led, docs), Cache(led, cached), Unknowns(hist, led),
	} {
		if inv.State() == report.StatusFail || inv.Name != NameUnknowns && !inv.OK { // no timeouts here: nothing to resolve
			t.Errorf("%s: %+v", inv.Name, inv)
		}
		t.Logf("%s: checked %d: %s", inv.Name, inv.Checked, inv.Detail)
	}

	// Reading the topic as it streams judges the same as reading it whole.
	streamed, err := TopicEvents(ctx, ep.Kafka.Bootstrap, sim.TopicPayments, led, false)
	if whole := Events(led, topic); err != nil || streamed.OK != whole.OK || streamed.Checked != whole.Checked || streamed.Detail != whole.Detail {
		t.Errorf("streamed events %+v (%v), whole topic %+v", streamed, err, whole)
	}
	// After a region loss, events of payments the ledger lacks are skipped.
	lacking := led
	lacking.Payments = led.Payments.Clone()
	lacking.Payments.Delete(p1)
	phantom := fmt.Sprintf("event for payment %s (key it-p1) but the payment does not exist", p1)
	for _, onlyInLedger := range []bool{false, true} {
		inv, err := TopicEvents(ctx, ep.Kafka.Bootstrap, sim.TopicPayments, lacking, onlyInLedger)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(inv.Examples, phantom); got == onlyInLedger {
			t.Errorf("onlyInLedger %v: phantom event reported %v: %v", onlyInLedger, got, inv.Examples)
		}
	}

	// Had the client timed out on the transfer, and on a request that never
	// reached the service, both would be resolved: once and not at all.
	timedOut := append([]loadgen.Event(nil), hist...)
	for i, e := range timedOut {
		if e.Key == "it-x1" && e.Type == loadgen.EventOK {
			timedOut[i].Type, timedOut[i].ResultID, timedOut[i].Status = loadgen.EventUnknown, "", 0
		}
	}
	lost := loadgen.Event{Op: loadgen.OpTopup, Key: "it-lost", From: "u-9", Amount: 7}
	inv, unk := lost, lost
	inv.Type, unk.Type = loadgen.EventInvoke, loadgen.EventUnknown
	timedOut = append(timedOut, inv, unk)
	if inv := Unknowns(timedOut, led); !inv.OK || !strings.Contains(inv.Detail, "2 unknown outcomes resolved: 1 committed once, 1 not at all") {
		t.Errorf("unknowns: %+v", inv)
	}
	if inv := Logs(timedOut, led, docs); !inv.OK || !strings.Contains(inv.Detail, "4 acknowledged and 1 other") {
		t.Errorf("logs with a timeout: %+v", inv)
	}

	// A stale (here: newer than the ledger) cache entry must be caught.
	rdb := redis.NewClient(&redis.Options{Addr: ep.Redis.Addr})
	defer rdb.Close()
	if err := rdb.ZAdd(ctx, payments.BalanceKey("u-1"), redis.Z{Score: 1e6, Member: "1000000:1"}).Err(); err != nil {
		t.Fatal(err)
	}
	cached, err = LoadCache(ctx, ep.Redis.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if inv := Cache(led, cached); inv.OK || inv.Violations != 1 || !strings.Contains(inv.Examples[0], "account u-1: cached balance 1 at version 1000000") {
		t.Errorf("stale cache entry not caught: %+v", inv)
	}
}
