package search

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// newCluster starts a store (segments on disk, as the stack runs it) with n
// nodes named az-a, az-b, ... on 127.0.0.1 free ports.
func newCluster(t testing.TB, n int) (*Store, []*Node) {
	t.Helper()
	return newClusterOn(t, NewStoreIn(t.TempDir()), n)
}

// newClusterOn starts n nodes serving st and closes them and st at cleanup.
func newClusterOn(t testing.TB, st *Store, n int) (*Store, []*Node) {
	t.Helper()
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = NewNode(st, fmt.Sprintf("az-%c", 'a'+i), "127.0.0.1:0")
		if err := nodes[i].Start(); err != nil {
			t.Fatalf("start node: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			_ = nd.Close()
		}
		_ = st.Close()
	})
	return st, nodes
}

// newESClient returns a go-elasticsearch client for the given nodes.
func newESClient(t testing.TB, nodes ...*Node) *elasticsearch.Client {
	t.Helper()
	addrs := make([]string, len(nodes))
	for i, nd := range nodes {
		addrs[i] = nd.URL()
	}
	c, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: addrs, MaxRetries: 5})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

// httpResult is a raw HTTP response with its decoded JSON body.
type httpResult struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
	list   []any
}

var testHTTP = &http.Client{Timeout: 30 * time.Second}

// do sends a raw request and decodes the JSON answer (if any).
func do(t testing.TB, method, url string, body string) httpResult {
	t.Helper()
	r, err := doErr(method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// doErr is do for goroutines: it reports failures instead of stopping.
func doErr(method, url string, body string) (httpResult, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return httpResult{}, fmt.Errorf("new request: %w", err)
	}
	if body != "" {
		ct := "application/json"
		if strings.Contains(url, "_bulk") {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpResult{}, fmt.Errorf("read body: %w", err)
	}
	res := httpResult{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return res, fmt.Errorf("invalid JSON %q: %w", raw, err)
		}
		switch x := v.(type) {
		case map[string]any:
			res.body = x
		case []any:
			res.list = x
		}
	}
	return res, nil
}

// errType returns error.type of an ES error body ("" if none).
func (r httpResult) errType() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

// checkESError asserts the full ES error shape.
func checkESError(t testing.TB, r httpResult, status int, typ string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("missing X-Elastic-Product header on error")
	}
	e, ok := r.body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.raw)
	}
	if typ != "" && e["type"] != typ {
		t.Fatalf("error.type = %v, want %s; body %s", e["type"], typ, r.raw)
	}
	if _, ok := e["reason"].(string); !ok {
		t.Fatalf("error.reason missing in %s", r.raw)
	}
	rc, ok := e["root_cause"].([]any)
	if !ok || len(rc) == 0 {
		t.Fatalf("error.root_cause missing in %s", r.raw)
	}
	if int(r.body["status"].(float64)) != status {
		t.Fatalf("body status = %v, want %d", r.body["status"], status)
	}
}

// path walks a decoded JSON value: path(m, "hits", "total", "value").
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch kk := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[kk]
		case int:
			a, ok := v.([]any)
			if !ok || kk >= len(a) {
				return nil
			}
			v = a[kk]
		}
	}
	return v
}

func hitIDs(body map[string]any) []string {
	var ids []string
	hits, _ := path(body, "hits", "hits").([]any)
	for _, h := range hits {
		ids = append(ids, path(h, "_id").(string))
	}
	return ids
}

func hitsTotal(body map[string]any) int {
	f, _ := path(body, "hits", "total", "value").(float64)
	return int(f)
}

// logDoc is a small payment log document like the app ships.
func logDoc(i int, base time.Time) string {
	levels := []string{"info", "info", "info", "warn", "error"}
	services := []string{"payments", "ledger", "bonus"}
	return fmt.Sprintf(`{"@timestamp":%q,"level":%q,"service":%q,"message":"payment p-%d processed for user u-%d","payment_id":"p-%d","amount":%d,"latency_ms":%.1f,"az":"az-%c","ok":%t,"http":{"status":%d,"method":"POST"}}`,
		base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), levels[i%5], services[i%3], i, i%7, i, 100*(i%10+1), float64(i%50)/2, 'a'+i%3, i%5 != 4, 200+100*(i%5/4)*3)
}

// bulkBody builds an index bulk body for docs [from, to) into index.
func bulkBody(index string, from, to int, base time.Time) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"index":{"_index":%q,"_id":"%d"}}`+"\n%s\n", index, i, logDoc(i, base))
	}
	return b.String()
}
