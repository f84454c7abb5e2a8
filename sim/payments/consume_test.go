package payments

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumersDoNotReplayAfterLeaderChanges: a consumer group member keeps
// its place when partition leaders move and brokers leave and come back
// (the nemesis's kafka-leader-move and kafka-broker-loss). At least once
// allows a batch again after a rebalance; re-reading the topic does not.
// With a reset policy of AtStart it consumed four times what was produced:
// every leader change sent it back to the start of the log.
func TestConsumersDoNotReplayAfterLeaderChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("moves Kafka leaders for ~15 s")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	const topic = "t"
	if err := c.CreateTopic(topic, 6, map[string]string{"retention.ms": "3600000"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Service{cfg: Config{Instance: "app-test", KafkaBrokers: c.ListenAddrs()}.WithDefaults(), metrics: newMetrics()}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 2 { // two members of the group
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.consume(ctx, "replay-test", topic, func(_ context.Context, recs []*kgo.Record) error {
				mu.Lock()
				defer mu.Unlock()
				for _, r := range recs {
					seen[string(r.Value)]++
				}
				return nil
			})
		}()
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produced := 0
	produce := func(d time.Duration) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); {
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(produced % 64)), Value: []byte(fmt.Sprint(produced))}).FirstErr(); err == nil {
				produced++
			}
		}
	}
	produce(2 * time.Second)
	for i := range 4 {
		if i%2 == 0 {
			c.ShufflePartitionLeaders()
		} else {
			node := int32(i % 3)
			if err := c.RemoveNode(node); err != nil {
				t.Fatal(err)
			}
			produce(500 * time.Millisecond)
			if _, _, err := c.AddNode(node, 0); err != nil {
				t.Fatal(err)
			}
		}
		produce(2 * time.Second)
	}
	// Wait until every produced record was consumed at least once.
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= produced {
			break
		}
		select {
		case <-wctx.Done():
			t.Fatalf("consumed %d distinct records of %d produced", n, produced)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, k := range seen {
		total += k
	}
	// Each leader change may redeliver the last uncommitted batch of each
	// member (at most 500 records each); a replay re-reads everything.
	if allowed := produced + 4*2*500; total > allowed {
		t.Errorf("consumed %d records for %d produced (at most %d allowed): the group re-read its topic after a leader change", total, produced, allowed)
	}
}

// TestNewGroupStartsAtTheLogStart: a group with no committed offsets reads
// what was produced before its members joined. franz-go's NoResetOffset()
// alone starts at the log end, and a soak lost the bonus grants of the
// payments made before the consumers' first assignment.
func TestNewGroupStartsAtTheLogStart(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	const topic, produced = "early", 50
	if err := c.CreateTopic(topic, 3, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range produced {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{cfg: Config{Instance: "app-test", KafkaBrokers: c.ListenAddrs()}.WithDefaults(), metrics: newMetrics()}
	seen := make(chan string, 2*produced)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.consume(cctx, "early-test", topic, func(_ context.Context, recs []*kgo.Record) error {
			for _, r := range recs {
				seen <- string(r.Value)
			}
			return nil
		})
	}()
	got := map[string]bool{}
	for len(got) < produced {
		select {
		case v := <-seen:
			got[v] = true
		case <-ctx.Done():
			t.Fatalf("a new group read %d of the %d records produced before it joined", len(got), produced)
		}
	}
	stop()
	<-done
}
