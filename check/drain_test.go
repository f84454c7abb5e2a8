package check

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	_ "modernc.org/sqlite"
)

// TestDrainNeedsAGroupThatCoversItsTopic: a group that consumed and
// committed everything is drained; one that joined and left without a
// commit has zero lag over no partitions, which must not count as drained;
// nor does anything while the app tier still handles a request.
func TestDrainNeedsAGroupThatCoversItsTopic(t *testing.T) {
	tests := []struct {
		name         string
		commit       bool
		busy         int // requests the app tier still handles
		wantComplete bool
		wantPending  string
	}{
		{name: "committed everything", commit: true, wantComplete: true},
		{name: "left without a commit", commit: false, wantPending: "no partitions assigned or committed"},
		{name: "a request still in flight", commit: true, busy: 1, wantPending: "app: 1 requests still in flight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(kc.Close)
			seeds := kc.ListenAddrs()
			prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			for i := range 10 {
				if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte{byte(i)}}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
				kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			for got := 0; got < 10; {
				fs := cons.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("consumed %d of 10: %v", got, err)
				}
				got += fs.NumRecords()
			}
			if tc.commit {
				if err := cons.CommitUncommittedOffsets(ctx); err != nil {
					t.Fatal(err)
				}
			}
			cons.Close() // leaves the group: Empty
			db, err := sql.Open("sqlite", ":memory:")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			if _, err := db.Exec("CREATE TABLE outbox (id INTEGER PRIMARY KEY)"); err != nil {
				t.Fatal(err)
			}
			d := Drain(ctx, DrainTarget{Ledger: db, Kafka: seeds, Groups: []string{"g"}, Busy: func() int { return tc.busy }}, 2*time.Second)
			if d.Complete != tc.wantComplete || !strings.Contains(d.Pending, tc.wantPending) {
				t.Fatalf("drain %+v, want complete=%v pending containing %q", d, tc.wantComplete, tc.wantPending)
			}
		})
	}
}
