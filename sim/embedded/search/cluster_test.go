package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"paysim/internal/testwait"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

// decodeRes returns a decoder of a client call's (response, error) that
// fails the test on any error: decodeRes(t)(es.Info()).
func decodeRes(t testing.TB) func(*esapi.Response, error) map[string]any {
	return func(res *esapi.Response, err error) map[string]any {
		t.Helper()
		return decodeOK(t, res, err)
	}
}

func decodeOK(t testing.TB, res *esapi.Response, err error) map[string]any {
	t.Helper()
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if res.IsError() {
		t.Fatalf("ES error %s: %v", res.Status(), m)
	}
	return m
}

// TestClientCompat drives the API with the official client, including its
// product check, typed errors and the bulk indexer.
func TestClientCompat(t *testing.T) {
	_, nodes := newCluster(t, 3)
	es := newESClient(t, nodes...)
	ctx := context.Background()

	info := decodeRes(t)(es.Info())
	if path(info, "version", "number") != Version {
		t.Fatalf("info %v", info)
	}
	decodeRes(t)(es.Indices.Create("clients"))
	decodeRes(t)(es.Index("clients", strings.NewReader(`{"name":"Ann","age":31}`), es.Index.WithDocumentID("1"), es.Index.WithRefresh("true")))
	got := decodeRes(t)(es.Get("clients", "1"))
	if path(got, "_source", "name") != "Ann" {
		t.Fatalf("get %v", got)
	}

	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: "paysim-logs-client", NumWorkers: 2, FlushBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int64
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	const n = 2000
	for i := 0; i < n; i++ {
		err := bi.Add(ctx, esutil.BulkIndexerItem{
			Action: "index", DocumentID: fmt.Sprintf("d%d", i), Body: strings.NewReader(logDoc(i, base)),
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				failed.Add(1)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := bi.Stats()
	if st.NumFailed != 0 || failed.Load() != 0 || st.NumIndexed != n {
		t.Fatalf("bulk indexer stats %+v", st)
	}
	decodeRes(t)(es.Indices.Refresh(es.Indices.Refresh.WithIndex("paysim-logs-*")))
	cnt := decodeRes(t)(es.Count(es.Count.WithIndex("paysim-logs-*")))
	if cnt["count"] != float64(n) {
		t.Fatalf("count %v", cnt)
	}
	sr := decodeRes(t)(es.Search(es.Search.WithIndex("paysim-logs-*"),
		es.Search.WithBody(strings.NewReader(`{"query":{"bool":{"filter":[{"term":{"level.keyword":"error"}},{"range":{"amount":{"gte":500}}}]}},"sort":[{"@timestamp":"desc"}],"size":5}`))))
	if hitsTotal(sr) != 400 || len(hitIDs(sr)) != 5 || hitIDs(sr)[0] != "d1999" {
		t.Fatalf("search total %d ids %v", hitsTotal(sr), hitIDs(sr))
	}

	// Errors come back as ES errors the client understands.
	res, err := es.Get("missing-index", "1")
	if err != nil {
		t.Fatalf("client rejected an error response: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || !res.IsError() {
		t.Fatalf("status %d", res.StatusCode)
	}
	res, err = es.Search(es.Search.WithIndex("clients"), es.Search.WithBody(strings.NewReader(`{"query":{"nope":{}}}`)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !bytes.Contains(body, []byte("parsing_exception")) {
		t.Fatalf("bad query: %d %s", res.StatusCode, body)
	}
}

// TestKillNode kills one of three nodes: the others keep serving every
// document, health turns yellow, and the node comes back on its address.
func TestKillNode(t *testing.T) {
	st, nodes := newCluster(t, 3)
	seedLogs(t, nodes[0].URL(), 100)
	es := newESClient(t, nodes...)
	addr := nodes[1].Addr()

	nodes[1].Kill()
	if nodes[1].Running() {
		t.Fatal("node still running after Kill")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("killed node still accepts connections")
	}
	h := do(t, "GET", nodes[0].URL()+"/_cluster/health", "")
	if h.body["status"] != "yellow" || h.body["number_of_nodes"] != 2.0 || h.body["unassigned_shards"] != 2.0 {
		t.Fatalf("health with a node down: %s", h.raw)
	}
	if got := st.Health(); got.Status != "yellow" || got.NodesUp != 2 || got.NodesTotal != 3 {
		t.Fatalf("Store.Health = %+v", got)
	}
	for _, nd := range []*Node{nodes[0], nodes[2]} {
		r := do(t, "GET", nd.URL()+"/paysim-logs-*/_count", "")
		if r.body["count"] != 100.0 {
			t.Fatalf("%s count %s", nd.Name(), r.raw)
		}
	}
	// The client spreads requests over all three addresses and retries
	// the dead one elsewhere: every request succeeds.
	for i := 0; i < 12; i++ {
		m := decodeRes(t)(es.Search(es.Search.WithIndex("paysim-logs-*"), es.Search.WithQuery("level:error"), es.Search.WithSize(0)))
		if hitsTotal(m) != 20 {
			t.Fatalf("search via client: %v", m)
		}
	}
	// Writes through a survivor are visible everywhere.
	if r := do(t, "PUT", nodes[2].URL()+"/paysim-logs-2024.05.01/_doc/during-outage?refresh=true", `{"level":"warn"}`); r.status != 201 {
		t.Fatalf("write during outage %d %s", r.status, r.raw)
	}

	// Kill all but one: still everything searchable.
	nodes[2].Kill()
	if r := do(t, "GET", nodes[0].URL()+"/paysim-logs-*/_count", ""); r.body["count"] != 101.0 {
		t.Fatalf("last node count %s", r.raw)
	}
	if r := do(t, "GET", nodes[0].URL()+"/_cluster/health", ""); r.body["number_of_nodes"] != 1.0 {
		t.Fatalf("health %s", r.raw)
	}

	for _, nd := range []*Node{nodes[1], nodes[2]} {
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if nodes[1].Addr() != addr {
		t.Fatalf("restarted on %s, want %s", nodes[1].Addr(), addr)
	}
	if c := do(t, "GET", nodes[1].URL()+"/paysim-logs-2024.05.01/_doc/during-outage", ""); c.body["found"] != true {
		t.Fatalf("restarted node misses outage write: %s", c.raw)
	}
	w := do(t, "GET", nodes[0].URL()+"/_cluster/health?wait_for_status=green&wait_for_nodes=3&timeout=5s", "")
	if w.status != 200 || w.body["status"] != "green" {
		t.Fatalf("health after restart %s", w.raw)
	}
}

// TestKillDropsInFlight shows Kill cuts open keep-alive connections.
func TestKillDropsInFlight(t *testing.T) {
	_, nodes := newCluster(t, 1)
	conn, err := net.Dial("tcp", nodes[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := conn.Read(buf); err != nil {
		t.Fatal(err)
	}
	nodes[0].Kill()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read after kill: %v", err)
	}
	if err := nodes[0].Start(); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "GET", nodes[0].URL()+"/", ""); r.status != 200 {
		t.Fatalf("after restart %d", r.status)
	}
}

// TestRefreshSemantics: writes are visible to GET at once, to search after a
// refresh (explicit, via ?refresh, or the periodic one), as in ES.
func TestRefreshSemantics(t *testing.T) {
	st, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	if r := do(t, "PUT", u+"/nrt/_doc/1", `{"v":1}`); r.status != 201 {
		t.Fatalf("index %s", r.raw)
	}
	if r := do(t, "GET", u+"/nrt/_doc/1", ""); r.body["found"] != true {
		t.Fatalf("realtime get %s", r.raw)
	}
	if st.Count("nrt") != 1 {
		t.Fatal("Store.Count is not realtime")
	}
	do(t, "POST", u+"/nrt/_refresh", "")
	if r := do(t, "GET", u+"/nrt/_count", ""); r.body["count"] != 1.0 {
		t.Fatalf("count after refresh %s", r.raw)
	}
	do(t, "PUT", u+"/nrt/_doc/2", `{"v":2}`)
	testwait.For(t, 5*RefreshInterval, "periodic refresh", func() bool {
		r := do(t, "GET", u+"/nrt/_count", "")
		return r.body["count"] == 2.0
	})
	if r := do(t, "DELETE", u+"/nrt/_doc/1?refresh=wait_for", ""); r.status != 200 {
		t.Fatalf("delete %s", r.raw)
	}
	if r := do(t, "GET", u+"/nrt/_search", ""); hitsTotal(r.body) != 1 {
		t.Fatalf("search after delete %s", r.raw)
	}
}

// TestTrickleRefreshesOnlyBusyIndices: between periodic refreshes, an
// index with trickleOps pending writes is refreshed; a quiet one waits.
func TestTrickleRefreshesOnlyBusyIndices(t *testing.T) {
	st, nodes := newClusterOn(t, newStore(t.TempDir(), false), 1)
	u := nodes[0].URL()
	count := func(ix string) float64 {
		t.Helper()
		return do(t, "GET", u+"/"+ix+"/_count", "").body["count"].(float64)
	}
	tests := []struct {
		index string
		docs  int
		want  float64 // searchable after one trickle
	}{
		{"busy", trickleOps, trickleOps},
		{"quiet", trickleOps - 1, 0},
	}
	for _, tc := range tests {
		do(t, "PUT", u+"/"+tc.index, "")
		var body strings.Builder
		for i := 0; i < tc.docs; i++ {
			fmt.Fprintf(&body, "{\"index\":{\"_index\":%q}}\n{\"n\":%d}\n", tc.index, i)
		}
		if r := do(t, "POST", u+"/_bulk", body.String()); r.status != 200 || r.body["errors"] != false {
			t.Fatalf("bulk %s: %d", tc.index, r.status)
		}
	}
	if err := st.trickle(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		if got := count(tc.index); got != tc.want {
			t.Errorf("%s: %v searchable after a trickle, want %v", tc.index, got, tc.want)
		}
	}
}

// TestConcurrentUse runs writers, searchers and index churn together (run
// with -race); every acknowledged document must be found afterwards.
func TestConcurrentUse(t *testing.T) {
	st, nodes := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var acked atomic.Int64
	const writers, bulks, per = 3, 10, 100
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			u := nodes[w%2].URL()
			for b := 0; b < bulks && ctx.Err() == nil; b++ {
				body := strings.ReplaceAll(bulkBody("conc", 0, per, base), `"_id":"`, fmt.Sprintf(`"_id":"w%d-b%d-`, w, b))
				req, _ := http.NewRequestWithContext(ctx, "POST", u+"/_bulk", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := testHTTP.Do(req)
				if err != nil {
					t.Errorf("bulk: %v", err)
					return
				}
				var br bulkResponse
				_ = json.NewDecoder(resp.Body).Decode(&br)
				resp.Body.Close()
				if resp.StatusCode != 200 || br.Errors {
					t.Errorf("bulk status %d errors %v", resp.StatusCode, br.Errors)
					return
				}
				acked.Add(int64(len(br.Items)))
			}
		}(w)
	}
	done := make(chan struct{})
	var sg sync.WaitGroup
	for s := 0; s < 2; s++ {
		sg.Add(1)
		go func(s int) {
			defer sg.Done()
			u := nodes[s].URL()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				r, err := doErr("POST", u+"/conc,churn-*/_search?ignore_unavailable=true", `{"query":{"bool":{"filter":{"range":{"amount":{"gte":500}}}}},"sort":[{"@timestamp":"desc"}],"size":5}`)
				if err != nil || r.status != 200 {
					t.Errorf("search %v %d %s", err, r.status, r.raw)
					return
				}
				if s == 0 {
					name := fmt.Sprintf("churn-%d", i%3)
					if _, err := doErr("PUT", u+"/"+name+"/_doc/x", `{"a":1}`); err != nil {
						t.Errorf("churn put: %v", err)
						return
					}
					if _, err := doErr("DELETE", u+"/"+name, ""); err != nil {
						t.Errorf("churn delete: %v", err)
						return
					}
				}
			}
		}(s)
	}
	wg.Wait()
	close(done)
	sg.Wait()
	if err := st.Refresh("conc"); err != nil {
		t.Fatal(err)
	}
	if got := st.Count("conc"); int64(got) != acked.Load() || got != writers*bulks*per {
		t.Fatalf("Count = %d, acked %d", got, acked.Load())
	}
	if n, err := st.CountQuery("conc", []byte(`{"match_all":{}}`)); err != nil || n != writers*bulks*per {
		t.Fatalf("CountQuery = %d, %v", n, err)
	}
}
