package kafkanode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startLocal runs a cluster of s's shape on loopback, each broker
// advertising where it listens, and returns it and the brokers' addresses.
func startLocal(t *testing.T, s Settings) (*Cluster, []string) {
	t.Helper()
	ports := make([]int, s.Brokers)
	var addrs []string
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", ports[i]))
	}
	c, err := Start(Config{
		Settings: s, DataDir: t.TempDir(), Ports: ports,
		Listen: func(_ int32, port int) (net.Listener, error) {
			return net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, addrs
}

// startCluster runs a three-broker cluster on loopback and its control API;
// it returns the API's client and the brokers' addresses.
func startCluster(t *testing.T) (*Client, []string) {
	t.Helper()
	c, addrs := startLocal(t, Settings{ClusterID: "test", Brokers: 3, Topics: []string{"payments"}, Partitions: 6,
		Retention: time.Minute, MinInsyncReplicas: 2})
	srv := httptest.NewServer(Handler(c))
	t.Cleanup(srv.Close)
	return NewClient(strings.TrimPrefix(srv.URL, "http://")), addrs
}

// produce sends one record and returns the produce error.
func produce(ctx context.Context, t *testing.T, brokers []string) error {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordRetries(1), kgo.RequestRetries(1),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.ProduceRequestTimeout(2*time.Second), kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: "payments", Value: []byte("x")}).FirstErr()
}

func TestControlOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctl, brokers := startCluster(t)
	if err := ctl.Healthy(ctx); err != nil {
		t.Fatalf("healthz: %v", err)
	}
	if err := produce(ctx, t, brokers); err != nil {
		t.Fatalf("produce to a healthy cluster: %v", err)
	}
	leads := func() map[int32]int {
		t.Helper()
		l, err := ctl.Leaders(ctx)
		if err != nil {
			t.Fatalf("leaders: %v", err)
		}
		return l
	}
	if l := leads(); l[0]+l[1]+l[2] != 6 {
		t.Fatalf("leaders of 6 partitions: %v", l)
	}

	// A removed broker leads nothing; back, it can lead again.
	if err := ctl.RemoveBroker(ctx, 1); err != nil {
		t.Fatalf("remove broker 1: %v", err)
	}
	if l := leads(); l[1] != 0 || l[0]+l[2] != 6 {
		t.Fatalf("broker 1 removed, yet leaders are %v", l)
	}
	if c, err := net.DialTimeout("tcp", brokers[1], time.Second); err == nil {
		c.Close()
		t.Fatalf("broker 1 removed, yet %s accepts connections", brokers[1])
	}
	if err := ctl.AddBroker(ctx, 1); err != nil {
		t.Fatalf("add broker 1: %v", err)
	}
	if c, err := net.DialTimeout("tcp", brokers[1], time.Second); err != nil {
		t.Fatalf("broker 1 back, yet %s: %v", brokers[1], err)
	} else {
		c.Close()
	}
	if err := ctl.ShuffleLeaders(ctx); err != nil {
		t.Fatalf("shuffle: %v", err)
	}
	if l := leads(); l[0]+l[1]+l[2] != 6 {
		t.Fatalf("leaders after a shuffle: %v", l)
	}

	// Produce is refused while too few replicas are in sync, and only then.
	if err := ctl.RefuseProduce(ctx, true); err != nil {
		t.Fatalf("refuse produce: %v", err)
	}
	if err := produce(ctx, t, brokers); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("produce while refused: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	if err := ctl.RefuseProduce(ctx, false); err != nil {
		t.Fatalf("accept produce: %v", err)
	}
	if err := produce(ctx, t, brokers); err != nil {
		t.Fatalf("produce once accepted again: %v", err)
	}
}

func TestControlRejectsBadRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctl, _ := startCluster(t)
	if err := ctl.RemoveBroker(ctx, 7); !errors.Is(err, ErrNoBroker) {
		t.Errorf("remove broker 7 of 3: %v, want ErrNoBroker", err)
	}
	if err := ctl.AddBroker(ctx, -1); !errors.Is(err, ErrNoBroker) {
		t.Errorf("add broker -1: %v, want ErrNoBroker", err)
	}
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/brokers/x/remove", http.StatusBadRequest},
		{http.MethodPost, "/produce/refuse?on=maybe", http.StatusBadRequest},
		{http.MethodGet, "/brokers/0/remove", http.StatusMethodNotAllowed},
		{http.MethodPost, "/nothing", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, tt.method, ctl.api.Base()+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// The cluster still serves after the bad requests.
	if _, err := ctl.Leaders(ctx); err != nil {
		t.Errorf("leaders after bad requests: %v", err)
	}
}

func TestSettingsValidate(t *testing.T) {
	ok := Settings{Brokers: 3, Partitions: 6, Retention: time.Minute, MinInsyncReplicas: 2}
	tests := []struct {
		name string
		edit func(*Settings)
		want string
	}{
		{"ok", func(*Settings) {}, ""},
		{"no brokers", func(s *Settings) { s.Brokers = 0 }, "brokers 0"},
		{"no partitions", func(s *Settings) { s.Partitions = 0 }, "partitions 0"},
		{"no retention", func(s *Settings) { s.Retention = 0 }, "retention"},
		{"no insync", func(s *Settings) { s.MinInsyncReplicas = 0 }, "min.insync.replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			err := s.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRetentionFreesOldSegments: records past retention leave the disk,
// not only the index, once newer records follow them. Before segmentBytes a
// partition's one 100 MB segment kept every byte of a run.
func TestRetentionFreesOldSegments(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, addrs := startLocal(t, Settings{ClusterID: "test", Brokers: 1, Topics: []string{"payments"}, Partitions: 1,
		Retention: time.Minute, MinInsyncReplicas: 1})
	dir := c.cfg.DataDir
	broker := kgo.SeedBrokers(addrs...)
	cl, err := kgo.NewClient(broker, kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	// 1.5 MiB of records an hour old (their own timestamps, which retention
	// goes by), one batch each, then one record of now.
	old := time.Now().Add(-time.Hour)
	value := make([]byte, 64<<10)
	for range 24 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "payments", Value: value, Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "payments", Value: []byte("fresh")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	logBytes := func() int64 {
		t.Helper()
		var n int64
		segs, err := filepath.Glob(filepath.Join(dir, "partitions", "payments-0", "*.dat"))
		if err != nil || len(segs) == 0 {
			t.Fatalf("no segment files (%v)", err)
		}
		for _, f := range segs {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			n += st.Size()
		}
		return n
	}
	if before := logBytes(); before < 3<<19 {
		t.Fatalf("log holds %d bytes before retention, want the 1.5 MiB produced", before)
	}
	c.c.ApplyRetention()
	if after := logBytes(); after >= 1<<20 {
		t.Errorf("log holds %d bytes after retention, want under 1 MiB (the expired segment freed)", after)
	}
	// What is kept reads from the new log start: the fresh record, and none
	// of the expired ones kept in its segment.
	cons, err := kgo.NewClient(broker, kgo.ConsumeTopics("payments"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cons.Close)
	fs := cons.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Value) != "fresh" {
		t.Fatalf("read %d records after retention, want only the fresh one", len(recs))
	}
}
