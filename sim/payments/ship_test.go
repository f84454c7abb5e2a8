package payments

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim"
	"paysim/sim/embedded/search"
)

// searchNode starts an embedded search node on loopback; stopped with the test.
func searchNode(t *testing.T) *search.Node {
	t.Helper()
	st := search.NewStore()
	n := search.NewNode(st, "es-test", "127.0.0.1:0")
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.Close()
		_ = st.Close()
	})
	return n
}

// logRecord is an app-logs record of a committed payment.
func logRecord(t *testing.T, id string) *kgo.Record {
	t.Helper()
	v, err := json.Marshal(LogDoc{ID: CommittedLogID(id), Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Level: "info",
		Message: "transfer committed", Instance: "app-az1-0", AZ: "az1", PaymentID: id, Key: "k-" + id, Kind: "transfer",
		Amount: 250, From: "u-1", To: "u-2"})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: sim.TopicAppLogs, Value: v}
}

// getJSON decodes the answer to a GET on the node.
func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, raw)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestShipperMapsLogFields: the shipper installs the log template before it
// ships, so ids land as keywords (exact, sortable), the message as text;
// while the search tier is down nothing ships and the batch fails, to be
// retried.
func TestShipperMapsLogFields(t *testing.T) {
	ctx := context.Background()
	n := searchNode(t)
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{n.URL()}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: Config{Instance: "app-test"}.WithDefaults(), es: es, metrics: newMetrics()}

	n.Kill()
	if err := s.ship(ctx, []*kgo.Record{logRecord(t, "p-down")}); err == nil || s.logTemplated.Load() {
		t.Fatalf("ship with the search tier down: err %v, template marked installed %v", err, s.logTemplated.Load())
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p-1", "p-2"} {
		if err := s.ship(ctx, []*kgo.Record{logRecord(t, id)}); err != nil {
			t.Fatalf("ship %s: %v", id, err)
		}
	}
	var mappings map[string]struct {
		Mappings struct {
			Properties map[string]struct {
				Type   string         `json:"type"`
				Fields map[string]any `json:"fields"`
			} `json:"properties"`
		} `json:"mappings"`
	}
	getJSON(t, n.URL()+"/"+sim.LogIndexPattern+"/_mapping", &mappings)
	if len(mappings) != 1 {
		t.Fatalf("log indices %v, want one", mappings)
	}
	want := map[string]string{"log_id": "keyword", "payment_id": "keyword", "idem_key": "keyword", "level": "keyword",
		"az": "keyword", "from": "keyword", "message": "text", "amount": "long", "@timestamp": "date"}
	for _, m := range mappings {
		for field, typ := range want {
			got := m.Mappings.Properties[field]
			if got.Type != typ || len(got.Fields) != 0 {
				t.Errorf("%s mapped as %q with subfields %v, want %s alone", field, got.Type, got.Fields, typ)
			}
		}
	}
	if resp, err := http.Post(n.URL()+"/_refresh", "application/json", nil); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	var count struct {
		Count int `json:"count"`
	}
	getJSON(t, n.URL()+"/"+sim.LogIndexPattern+"/_count?q=payment_id:p-2", &count)
	if count.Count != 1 {
		t.Errorf("payment_id:p-2 matched %d lines, want 1 (an exact keyword)", count.Count)
	}
	getJSON(t, n.URL()+"/"+sim.LogIndexPattern+"/_count?q=message:committed", &count)
	if count.Count != 2 {
		t.Errorf("message:committed matched %d lines, want 2 (analysed text)", count.Count)
	}
	if !strings.Contains(string(logTemplate()), sim.LogIndexPattern) {
		t.Errorf("template %s does not match %s", logTemplate(), sim.LogIndexPattern)
	}
}
