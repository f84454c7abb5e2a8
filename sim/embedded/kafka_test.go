package embedded

import (
	"context"
	"errors"
	"fmt"
	"paysim/internal/testwait"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim"
)

func newKafkaClient(t *testing.T, s *Stack, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(s.Endpoints().Kafka.Bootstrap...),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.MetadataMaxAge(time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(20 * time.Second),
		kgo.DefaultProduceTopic(sim.TopicPayments),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consumeAll reads every record of a topic from the start.
func consumeAll(t *testing.T, s *Stack, topic string, want int) map[string]bool {
	t.Helper()
	cl := newKafkaClient(t, s, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	return got
}

func TestKafkaBrokerKillLosesNoAckedRecord(t *testing.T) {
	s := newStack(t)
	cl := newKafkaClient(t, s)
	ctx := context.Background()
	acked := 0
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r-%d", i)}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
			acked++
		}
	}
	produce(0, 200)
	b := nodeOf(t, s, sim.ServiceKafka, 0)
	if err := b.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.Status().State; got != sim.StateDown {
		t.Fatalf("broker state %s, want down", got)
	}
	produce(200, 400) // continues once leadership has moved
	if err := b.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	produce(400, 500)
	got := consumeAll(t, s, sim.TopicPayments, acked)
	for i := 0; i < acked; i++ {
		if !got[fmt.Sprintf("r-%d", i)] {
			t.Fatalf("acknowledged record r-%d lost (have %d of %d)", i, len(got), acked)
		}
	}
}

func TestKafkaBelowMinISRRejectsProduce(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	cl := newKafkaClient(t, s, kgo.RecordDeliveryTimeout(1500*time.Millisecond), kgo.RecordRetries(3))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatalf("produce before: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := nodeOf(t, s, sim.ServiceKafka, i).Kill(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A client that knows only the survivor: one that still holds the dead
	// brokers in its metadata may run out of retries dialing them, which
	// says nothing about min ISR.
	survivor := newKafkaClient(t, s, kgo.SeedBrokers(s.Endpoints().Kafka.Bootstrap[2]),
		kgo.RecordDeliveryTimeout(1500*time.Millisecond), kgo.RecordRetries(3))
	err := survivor.ProduceSync(ctx, &kgo.Record{Value: []byte("below-min-isr")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) && !errors.Is(err, kgo.ErrRecordTimeout) && !errors.Is(err, kgo.ErrRecordRetries) {
		t.Fatalf("produce with 1 of 3 brokers: err %v, want NOT_ENOUGH_REPLICAS or a timeout", err)
	}
	if err == nil {
		t.Fatal("produce below min ISR succeeded")
	}
	if err := nodeOf(t, s, sim.ServiceKafka, 0).Restart(ctx); err != nil {
		t.Fatal(err)
	}
	cl2 := newKafkaClient(t, s)
	if err := cl2.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
}

func TestKafkaPauseStallsThenFences(t *testing.T) {
	s := newStack(t)
	s.kafka.fenceAfter = 300 * time.Millisecond
	ctx := context.Background()
	b := nodeOf(t, s, sim.ServiceKafka, 1)
	if err := b.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "paused broker fenced", func() bool {
		s.kafka.mu.Lock()
		defer s.kafka.mu.Unlock()
		return !s.kafka.registered[1]
	})
	cl := newKafkaClient(t, s, kgo.SeedBrokers(s.Endpoints().Kafka.Bootstrap[0]))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce with a fenced broker: %v", err)
	}
	if err := b.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "broker rejoined", func() bool {
		s.kafka.mu.Lock()
		defer s.kafka.mu.Unlock()
		return s.kafka.registered[1]
	})
}
