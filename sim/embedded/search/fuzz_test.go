package search

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// checkWellFormed asserts a response is JSON with either a result or an
// ES-shaped error, never a 5xx, and carries the product header.
func checkWellFormed(t *testing.T, r httpResult, okKey string) {
	t.Helper()
	if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("missing product header")
	}
	if r.status >= 500 {
		t.Fatalf("server error %d: %s", r.status, r.raw)
	}
	if !json.Valid(r.raw) {
		t.Fatalf("invalid JSON: %q", r.raw)
	}
	if r.status == 200 {
		if _, ok := r.body[okKey]; !ok {
			t.Fatalf("200 without %q: %s", okKey, r.raw)
		}
		return
	}
	if r.errType() == "" || r.body["status"] != float64(r.status) {
		t.Fatalf("error response not ES-shaped: %d %s", r.status, r.raw)
	}
}

// FuzzSearchBody feeds arbitrary _search bodies to a live node.
func FuzzSearchBody(f *testing.F) {
	for _, s := range []string{
		`{"query":{"match_all":{}}}`,
		`{"query":{"bool":{"must":[{"match":{"message":"payment"}}],"filter":{"range":{"amount":{"gte":"5"}}},"must_not":{"exists":{"field":"x"}},"should":[{"term":{"level.keyword":"error"}}],"minimum_should_match":"50%"}}}`,
		`{"query":{"query_string":{"query":"level:(error OR warn) AND amount:[100 TO 500} -az:az-a"}},"sort":["_score",{"@timestamp":"desc"}],"from":2,"size":3}`,
		`{"query":{"range":{"@timestamp":{"gte":"now-1d/d","lt":"2024-05-01||+1M"}}},"_source":{"includes":["http.*"]}}`,
		`{"query":{"match_phrase":{"message":"payment p-1 processed"}},"search_after":[1],"sort":[{"amount":"asc"}]}`,
		`{"query":{"terms":{"_id":["1",2,true]}},"track_total_hits":false}`,
		`{"query":{"multi_match":{"query":"ledger","fields":["*"],"fuzziness":"AUTO"}}}`,
		`{"query":{"wildcard":{"payment_id.keyword":"p-*"}},"size":0}`,
		`{"query":{"regexp":{"message":"[a-"}}}`,
		`{"query":{}}`, `[]`, `null`, `{"size":"x"}`, `{"query":{"bool":{"should":[]}}}`, "\x00", `{"query":{"term":{"":""}}}`,
	} {
		f.Add(s)
	}
	_, nodes := newCluster(f, 1)
	u := nodes[0].URL()
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	r := do(f, "POST", u+"/_bulk?refresh=true", bulkBody("fz", 0, 30, base))
	if r.status != 200 {
		f.Fatalf("seed: %s", r.raw)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if body == "" {
			return
		}
		checkWellFormed(t, do(t, "POST", u+"/fz,missing-*/_search", body), "hits")
	})
}

// FuzzBulk feeds arbitrary bulk bodies; afterwards the node still serves.
func FuzzBulk(f *testing.F) {
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{
		bulkBody("fb", 0, 3, base),
		"{\"index\":{}}\n{\"a\":1}\n{\"delete\":{\"_id\":\"1\"}}\n",
		"{\"update\":{\"_id\":\"1\"}}\n{\"doc\":{\"a\":{\"b\":[1,2]}},\"doc_as_upsert\":true}\n",
		"{\"create\":{\"_index\":\"fb2\",\"_id\":\"x\"}}\n{\"a\":\"2024-01-01\",\"b\":null,\"c\":[{\"d\":1.5}]}\n",
		"{\"index\":{\"_id\":\"x\"}}\n{\"a\":\"text\"}\n{\"index\":{\"_id\":\"y\"}}\n{\"a\":{\"b\":1}}\n",
		"{\"index\":{}}\n", "{\"index\"\n", "\n\n", "{\"index\":{\"_index\":\"BAD\"}}\n{}\n",
	} {
		f.Add(s)
	}
	_, nodes := newCluster(f, 1)
	u := nodes[0].URL()
	f.Fuzz(func(t *testing.T, body string) {
		if body == "" {
			return
		}
		r := do(t, "POST", u+"/fb/_bulk", body)
		checkWellFormed(t, r, "items")
		if r.status == 200 {
			items, _ := r.body["items"].([]any)
			if len(items) == 0 || len(items) > strings.Count(body, "\n")+1 {
				t.Fatalf("items %d for body %q", len(items), body)
			}
		}
		if g := do(t, "GET", u+"/", ""); g.status != 200 {
			t.Fatalf("node stopped serving: %d", g.status)
		}
	})
}
