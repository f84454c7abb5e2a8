package check

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/internal/testwait"
)

// newTopic starts a one-broker kfake cluster with topic over 3 partitions
// and the given retention.ms ("" for the default).
func newTopic(t *testing.T, topic, retentionMS string) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := map[string]string{}
	if retentionMS != "" {
		cfg["retention.ms"] = retentionMS
	}
	if err := c.CreateTopic(topic, 3, cfg); err != nil {
		t.Fatal(err)
	}
	return c, c.ListenAddrs()
}

// produceEvents writes one payments event per id, keyed by id.
func produceEvents(t *testing.T, brokers []string, topic string, ids ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, id := range ids {
		v, _ := json.Marshal(Event{PaymentID: id, Kind: "payment", From: "u-1", To: "m-1", Amount: 100})
		recs = append(recs, &kgo.Record{Key: []byte(id), Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func eventIDs(n, from int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%d", from+i)
	}
	return ids
}

// TestTopicArchive: the events archived during the run and those produced
// after the archive stopped are each handed over once; the file goes on
// Close.
func TestTopicArchive(t *testing.T) {
	_, brokers := newTopic(t, "payments", "")
	produceEvents(t, brokers, "payments", eventIDs(10, 1)...)
	a, err := NewTopicArchive(func() []string { return brokers }, "payments", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	testwait.For(t, 20*time.Second, "10 records archived", func() bool { return a.Archived() == 10 })
	stop()
	<-done
	produceEvents(t, brokers, "payments", eventIDs(5, 11)...) // past the archive
	rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	if err := a.Events(rctx, func(ev Event) { got = append(got, ev.PaymentID) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := append(eventIDs(10, 1), eventIDs(5, 11)...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v once each", got, want)
	}
	path := a.file.path
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("archive file %s after Close: %v", path, err)
	}
}

// TestTopicArchiveExpired: records that retention removed before anyone
// read them make Events fail, saying how many: delivery cannot be judged.
func TestTopicArchiveExpired(t *testing.T) {
	c, brokers := newTopic(t, "payments", "1")
	produceEvents(t, brokers, "payments", eventIDs(6, 1)...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	testwait.For(t, 10*time.Second, "retention to remove the 6 records", func() bool {
		c.ApplyRetention()
		starts, err := kadm.NewClient(cl).ListStartOffsets(context.Background(), "payments")
		var sum int64
		starts.Each(func(o kadm.ListedOffset) { sum += o.Offset })
		return err == nil && sum == 6
	})
	a, err := NewTopicArchive(func() []string { return brokers }, "payments", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = a.Events(ctx, func(Event) {})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Events after retention removed unread records: %v, want an expired error", err)
	}
}
