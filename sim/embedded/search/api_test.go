package search

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRootAndHealth(t *testing.T) {
	_, nodes := newCluster(t, 3)
	u := nodes[1].URL()

	root := do(t, "GET", u+"/", "")
	if root.status != 200 || path(root.body, "version", "number") != "8.15.0" ||
		root.body["tagline"] != "You Know, for Search" || root.body["name"] != "az-b" || root.body["cluster_name"] != ClusterName {
		t.Fatalf("GET / = %d %s", root.status, root.raw)
	}
	if h := do(t, "HEAD", u+"/", ""); h.status != 200 || len(h.raw) != 0 {
		t.Fatalf("HEAD / = %d %q", h.status, h.raw)
	}
	h := do(t, "GET", u+"/_cluster/health", "")
	if h.status != 200 || h.body["status"] != "green" || h.body["number_of_nodes"] != 3.0 {
		t.Fatalf("health = %d %s", h.status, h.raw)
	}
	for _, tc := range []struct {
		name, method, url string
		status            int
		errType           string
	}{
		{"unknown index route", "GET", "/idx/_nope", 400, "illegal_argument_exception"},
		{"unknown system route", "GET", "/_nope", 400, "invalid_index_name_exception"},
		{"bad method on bulk", "GET", "/_bulk", 405, "illegal_argument_exception"},
		{"bad method on root", "DELETE", "/", 405, "illegal_argument_exception"},
		{"health of missing index", "GET", "/_cluster/health/missing", 404, "index_not_found_exception"},
		{"bad wait_for_status", "GET", "/_cluster/health?wait_for_status=blue", 400, "illegal_argument_exception"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkESError(t, do(t, tc.method, u+tc.url, ""), tc.status, tc.errType)
		})
	}
	t.Run("wait_for_status times out with 408", func(t *testing.T) {
		nodes[2].Kill()
		defer func() {
			if err := nodes[2].Start(); err != nil {
				t.Fatal(err)
			}
		}()
		r := do(t, "GET", u+"/_cluster/health?wait_for_status=green&timeout=50ms", "")
		if r.status != http.StatusRequestTimeout || r.body["timed_out"] != true || r.body["status"] != "yellow" {
			t.Fatalf("health = %d %s", r.status, r.raw)
		}
	})
}

// TestDocumentAPI runs the document API over both source stores: a file
// (as the stack runs it) and memory.
func TestDocumentAPI(t *testing.T) {
	steps := []struct {
		name, method, url, body string
		status                  int
		errType                 string
		check                   func(t *testing.T, r httpResult)
	}{
		{name: "index new doc auto-creates index", method: "PUT", url: "/logs/_doc/1", body: `{"msg":"hello world","n":1}`, status: 201,
			check: func(t *testing.T, r httpResult) {
				if r.body["result"] != "created" || r.body["_version"] != 1.0 || r.body["_index"] != "logs" || path(r.body, "_shards", "successful") != 1.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "reindex same id updates", method: "PUT", url: "/logs/_doc/1", body: `{"msg":"hello again","n":2}`, status: 200,
			check: func(t *testing.T, r httpResult) {
				if r.body["result"] != "updated" || r.body["_version"] != 2.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "get doc", method: "GET", url: "/logs/_doc/1", status: 200,
			check: func(t *testing.T, r httpResult) {
				if r.body["found"] != true || path(r.body, "_source", "msg") != "hello again" || r.body["_version"] != 2.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "get _source", method: "GET", url: "/logs/_source/1", status: 200,
			check: func(t *testing.T, r httpResult) {
				if r.body["n"] != 2.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "get with _source filter", method: "GET", url: "/logs/_doc/1?_source_includes=n", status: 200,
			check: func(t *testing.T, r httpResult) {
				if src := r.body["_source"].(map[string]any); len(src) != 1 || src["n"] != 2.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "head existing doc", method: "HEAD", url: "/logs/_doc/1", status: 200},
		{name: "get missing doc", method: "GET", url: "/logs/_doc/404", status: 404,
			check: func(t *testing.T, r httpResult) {
				if r.body["found"] != false || r.body["_id"] != "404" {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "get from missing index", method: "GET", url: "/nope/_doc/1", status: 404, errType: "index_not_found_exception"},
		{name: "create existing conflicts", method: "PUT", url: "/logs/_create/1", body: `{"msg":"x"}`, status: 409, errType: "version_conflict_engine_exception"},
		{name: "op_type=create conflicts", method: "PUT", url: "/logs/_doc/1?op_type=create", body: `{"msg":"x"}`, status: 409, errType: "version_conflict_engine_exception"},
		{name: "create new", method: "PUT", url: "/logs/_create/2", body: `{"msg":"second"}`, status: 201},
		{name: "auto id", method: "POST", url: "/logs/_doc", body: `{"msg":"auto"}`, status: 201,
			check: func(t *testing.T, r httpResult) {
				if id, _ := r.body["_id"].(string); len(id) != 20 {
					t.Fatalf("auto id %q", id)
				}
			}},
		{name: "partial update", method: "POST", url: "/logs/_update/2", body: `{"doc":{"extra":{"k":"v"}}}`, status: 200,
			check: func(t *testing.T, r httpResult) {
				if r.body["result"] != "updated" || r.body["_version"] != 2.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "updated doc merged", method: "GET", url: "/logs/_doc/2", status: 200,
			check: func(t *testing.T, r httpResult) {
				if path(r.body, "_source", "msg") != "second" || path(r.body, "_source", "extra", "k") != "v" {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "noop update", method: "POST", url: "/logs/_update/2", body: `{"doc":{"msg":"second"}}`, status: 200,
			check: func(t *testing.T, r httpResult) {
				if r.body["result"] != "noop" {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "update missing doc", method: "POST", url: "/logs/_update/99", body: `{"doc":{"a":1}}`, status: 404, errType: "document_missing_exception"},
		{name: "upsert missing doc", method: "POST", url: "/logs/_update/99", body: `{"doc":{"a":1},"doc_as_upsert":true}`, status: 201},
		{name: "optimistic concurrency mismatch", method: "PUT", url: "/logs/_doc/1?if_seq_no=999&if_primary_term=1", body: `{"msg":"x"}`, status: 409, errType: "version_conflict_engine_exception"},
		{name: "malformed source", method: "PUT", url: "/logs/_doc/3", body: `{"msg":`, status: 400, errType: "document_parsing_exception"},
		{name: "non-object source", method: "PUT", url: "/logs/_doc/3", body: `[1,2]`, status: 400, errType: "document_parsing_exception"},
		{name: "empty source", method: "PUT", url: "/logs/_doc/3", body: ``, status: 400, errType: "action_request_validation_exception"},
		{name: "type conflict on long field", method: "PUT", url: "/logs/_doc/3", body: `{"n":"not a number"}`, status: 400, errType: "document_parsing_exception"},
		{name: "numeric string coerced into long", method: "PUT", url: "/logs/_doc/4", body: `{"n":"42"}`, status: 201},
		{name: "metadata field in source", method: "PUT", url: "/logs/_doc/3", body: `{"_id":"x"}`, status: 400, errType: "document_parsing_exception"},
		{name: "invalid index name", method: "PUT", url: "/Logs/_doc/1", body: `{"a":1}`, status: 400, errType: "invalid_index_name_exception"},
		{name: "bad refresh value", method: "PUT", url: "/logs/_doc/5?refresh=maybe", body: `{"a":1}`, status: 400, errType: "illegal_argument_exception"},
		{name: "refresh=true accepted", method: "PUT", url: "/logs/_doc/5?refresh=true", body: `{"a":1}`, status: 201},
		{name: "delete doc", method: "DELETE", url: "/logs/_doc/1", status: 200,
			check: func(t *testing.T, r httpResult) {
				if r.body["result"] != "deleted" || r.body["_version"] != 3.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "delete again not found", method: "DELETE", url: "/logs/_doc/1", status: 404,
			check: func(t *testing.T, r httpResult) {
				if r.body["result"] != "not_found" {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "delete in missing index", method: "DELETE", url: "/nope/_doc/1", status: 404, errType: "index_not_found_exception"},
		{name: "get deleted", method: "GET", url: "/logs/_doc/1", status: 404},
	}
	stores := []struct {
		name string
		new  func() *Store
	}{
		{"sources on disk", func() *Store { return NewStoreIn(t.TempDir()) }},
		{"sources in memory", NewStore},
	}
	for _, store := range stores {
		t.Run(store.name, func(t *testing.T) {
			_, nodes := newClusterOn(t, store.new(), 1)
			u := nodes[0].URL()
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					r := do(t, s.method, u+s.url, s.body)
					if !wantReply(t, r, s.status, s.errType) {
						return
					}
					if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
						t.Fatal("missing product header")
					}
					if s.check != nil {
						s.check(t, r)
					}
				})
			}
		})
	}
}

// wantReply checks a step's status, and its error type when errType is set;
// it reports whether the reply is a success the step may check further.
func wantReply(t *testing.T, r httpResult, status int, errType string) bool {
	t.Helper()
	if errType != "" {
		checkESError(t, r, status, errType)
		return false
	}
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	return true
}

func TestIndexAdmin(t *testing.T) {
	st, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	steps := []struct {
		name, method, url, body string
		status                  int
		errType                 string
	}{
		{"create", "PUT", "/orders", `{"settings":{"number_of_shards":1},"mappings":{"properties":{"code":{"type":"keyword"},"total":{"type":"long"}}}}`, 200, ""},
		{"create again", "PUT", "/orders", "", 400, "resource_already_exists_exception"},
		{"create bad body", "PUT", "/other", `{"settings":`, 400, "x_content_parse_exception"},
		{"create unknown key", "PUT", "/other", `{"foo":{}}`, 400, "parsing_exception"},
		{"create uppercase", "PUT", "/Other", "", 400, "invalid_index_name_exception"},
		{"head exists", "HEAD", "/orders", "", 200, ""},
		{"get index", "GET", "/orders", "", 200, ""},
		{"explicit keyword mapping honoured", "PUT", "/orders/_doc/1?refresh", `{"code":"AbC-1","total":5}`, 201, ""},
		{"explicit long mapping rejects text", "PUT", "/orders/_doc/2", `{"total":"many"}`, 400, "document_parsing_exception"},
		{"put mapping", "PUT", "/orders/_mapping", `{"properties":{"note":{"type":"text"}}}`, 200, ""},
		{"put mapping type change", "PUT", "/orders/_mapping", `{"properties":{"total":{"type":"keyword"}}}`, 400, "illegal_argument_exception"},
		{"delete", "DELETE", "/orders", "", 200, ""},
		{"head missing", "HEAD", "/orders", "", 404, ""},
		{"delete missing", "DELETE", "/orders", "", 404, "index_not_found_exception"},
		{"delete wildcard refused", "DELETE", "/ord*", "", 400, "illegal_argument_exception"},
		{"template", "PUT", "/_index_template/logs", `{"index_patterns":["tpl-*"],"template":{"mappings":{"properties":{"trace":{"type":"keyword"}}}}}`, 200, ""},
		{"template applies on auto-create", "PUT", "/tpl-1/_doc/1", `{"trace":"Ab Cd"}`, 201, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := do(t, s.method, u+s.url, s.body)
			wantReply(t, r, s.status, s.errType)
		})
	}
	// keyword from explicit mapping / template: exact, case-sensitive match.
	if n, err := st.CountQuery("tpl-1", []byte(`{"term":{"trace":"Ab Cd"}}`)); err != nil || n != 1 {
		t.Fatalf("template keyword term = %d, %v", n, err)
	}
	m := do(t, "GET", u+"/tpl-1/_mapping", "")
	if path(m.body, "tpl-1", "mappings", "properties", "trace", "type") != "keyword" {
		t.Fatalf("mapping %s", m.raw)
	}
}

// seedLogs bulk-loads n log documents split over two daily indices.
func seedLogs(t *testing.T, u string, n int) time.Time {
	t.Helper()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	half := n / 2
	body := bulkBody("paysim-logs-2024.05.01", 0, half, base) + bulkBody("paysim-logs-2024.05.02", half, n, base)
	r := do(t, "POST", u+"/_bulk?refresh=wait_for", body)
	if r.status != 200 || r.body["errors"] != false {
		t.Fatalf("bulk = %d %s", r.status, r.raw)
	}
	if items := r.body["items"].([]any); len(items) != n {
		t.Fatalf("bulk items = %d", len(items))
	}
	return base
}

func TestSearch(t *testing.T) {
	st, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	const n = 100
	seedLogs(t, u, n)
	if got := st.Count("paysim-logs-*"); got != n {
		t.Fatalf("Count = %d", got)
	}
	cases := []struct {
		name  string
		url   string
		body  string
		total int
		ids   []string // exact hit order, when set
		check func(t *testing.T, r httpResult)
	}{
		{name: "match_all default size 10", url: "/paysim-logs-*/_search", body: `{"query":{"match_all":{}}}`, total: n,
			check: func(t *testing.T, r httpResult) {
				if len(hitIDs(r.body)) != 10 || path(r.body, "hits", "total", "relation") != "eq" || path(r.body, "_shards", "total") != 2.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "empty body", url: "/paysim-logs-*/_search", total: n},
		{name: "match analysed text", url: "/paysim-logs-*/_search", body: `{"query":{"match":{"message":{"query":"P-42","operator":"and"}}}}`, total: 1, ids: []string{"42"}},
		{name: "match operator and", url: "/paysim-logs-*/_search", body: `{"query":{"match":{"message":{"query":"user u-3 p-10","operator":"and"}}}}`, total: 1, ids: []string{"10"}},
		{name: "match_phrase", url: "/paysim-logs-*/_search", body: `{"query":{"match_phrase":{"message":"payment p-7 processed"}}}`, total: 1, ids: []string{"7"}},
		{name: "match_phrase wrong order", url: "/paysim-logs-*/_search", body: `{"query":{"match_phrase":{"message":"processed payment"}}}`, total: 0},
		{name: "term on keyword exact", url: "/paysim-logs-*/_search", body: `{"query":{"term":{"payment_id.keyword":"p-5"}}}`, total: 1, ids: []string{"5"}},
		{name: "term on keyword is case sensitive", url: "/paysim-logs-*/_search", body: `{"query":{"term":{"payment_id.keyword":"P-5"}}}`, total: 0},
		{name: "term on text token", url: "/paysim-logs-*/_search", body: `{"query":{"term":{"level":"error"}}}`, total: 20},
		{name: "term on number", url: "/paysim-logs-*/_search", body: `{"query":{"term":{"amount":300}}}`, total: 10},
		{name: "term on bool", url: "/paysim-logs-*/_search", body: `{"query":{"term":{"ok":false}}}`, total: 20},
		{name: "term on nested object field", url: "/paysim-logs-*/_search", body: `{"query":{"term":{"http.status":500}}}`, total: 20},
		{name: "term on unknown field", url: "/paysim-logs-*/_search", body: `{"query":{"term":{"nope":"x"}}}`, total: 0},
		{name: "terms", url: "/paysim-logs-*/_search", body: `{"query":{"terms":{"level.keyword":["warn","error"]}}}`, total: 40},
		{name: "terms _id", url: "/paysim-logs-*/_search", body: `{"query":{"terms":{"_id":["1","77","x"]}}}`, total: 2},
		{name: "ids", url: "/paysim-logs-*/_search", body: `{"query":{"ids":{"values":["3","4"]}}}`, total: 2},
		{name: "range numeric", url: "/paysim-logs-*/_search", body: `{"query":{"range":{"amount":{"gte":900,"lt":1000}}}}`, total: 10},
		{name: "range numeric exclusive", url: "/paysim-logs-*/_search", body: `{"query":{"range":{"amount":{"gt":900}}}}`, total: 10},
		{name: "range date RFC3339", url: "/paysim-logs-*/_search", body: `{"query":{"range":{"@timestamp":{"gte":"2024-05-01T12:00:10Z","lt":"2024-05-01T12:00:20Z"}}}}`, total: 10},
		{name: "range date epoch millis", url: "/paysim-logs-*/_search", body: fmt.Sprintf(`{"query":{"range":{"@timestamp":{"lte":%d}}}}`, time.Date(2024, 5, 1, 12, 0, 4, 0, time.UTC).UnixMilli()), total: 5},
		{name: "range date math rounding", url: "/paysim-logs-*/_search", body: `{"query":{"range":{"@timestamp":{"gte":"2024-05-01||/d","lte":"2024-05-01||/d"}}}}`, total: n},
		{name: "range date now", url: "/paysim-logs-*/_search", body: `{"query":{"range":{"@timestamp":{"gte":"now-1h"}}}}`, total: 0},
		{name: "range keyword", url: "/paysim-logs-*/_search", body: `{"query":{"range":{"service.keyword":{"gte":"m","lte":"z"}}}}`, total: 34},
		{name: "bool must filter must_not", url: "/paysim-logs-*/_search",
			body: `{"query":{"bool":{"must":[{"match":{"service":"payments"}}],"filter":[{"range":{"amount":{"gte":500}}}],"must_not":[{"term":{"level.keyword":"error"}}]}}}`,
			check: func(t *testing.T, r httpResult) {
				// service payments: i%3==0; amount>=500: i%10>=4; not error: i%5!=4
				want := 0
				for i := 0; i < n; i++ {
					if i%3 == 0 && i%10 >= 4 && i%5 != 4 {
						want++
					}
				}
				if hitsTotal(r.body) != want {
					t.Fatalf("total = %d, want %d", hitsTotal(r.body), want)
				}
			}},
		{name: "bool should only needs one", url: "/paysim-logs-*/_search", body: `{"query":{"bool":{"should":[{"term":{"_id":"1"}},{"term":{"_id":"2"}}]}}}`, total: 2},
		{name: "bool should optional with must", url: "/paysim-logs-*/_search", body: `{"query":{"bool":{"must":[{"term":{"level":"warn"}}],"should":[{"term":{"_id":"3"}}]}}}`, total: 20,
			check: func(t *testing.T, r httpResult) {
				if hitIDs(r.body)[0] != "3" {
					t.Fatalf("should clause did not boost: %v", hitIDs(r.body))
				}
			}},
		{name: "bool minimum_should_match 2", url: "/paysim-logs-*/_search", body: `{"query":{"bool":{"should":[{"term":{"level":"error"}},{"term":{"service":"payments"}},{"term":{"az.keyword":"az-a"}}],"minimum_should_match":2}}}`,
			check: func(t *testing.T, r httpResult) {
				want := 0
				for i := 0; i < n; i++ {
					c := 0
					if i%5 == 4 {
						c++
					}
					if i%3 == 0 {
						c++
					}
					if i%3 == 0 {
						c++
					}
					if c >= 2 {
						want++
					}
				}
				if hitsTotal(r.body) != want {
					t.Fatalf("total = %d, want %d", hitsTotal(r.body), want)
				}
			}},
		{name: "bool must_not only", url: "/paysim-logs-*/_search", body: `{"query":{"bool":{"must_not":{"term":{"level":"info"}}}}}`, total: 40},
		{name: "bool must on unknown field with must_not", url: "/paysim-logs-*/_search", body: `{"query":{"bool":{"must":{"term":{"nope":"x"}},"must_not":{"term":{"level":"info"}}}}}`, total: 0},
		{name: "bool filter unknown field inside should", url: "/paysim-logs-*/_search", body: `{"query":{"bool":{"filter":{"bool":{"should":[{"term":{"nope":"x"}}]}}}}}`, total: 0},
		{name: "empty bool", url: "/paysim-logs-*/_search", body: `{"query":{"bool":{}}}`, total: n},
		{name: "exists", url: "/paysim-logs-*/_search", body: `{"query":{"exists":{"field":"http"}}}`, total: n},
		{name: "exists missing", url: "/paysim-logs-*/_search", body: `{"query":{"exists":{"field":"trace_id"}}}`, total: 0},
		{name: "prefix keyword", url: "/paysim-logs-*/_search", body: `{"query":{"prefix":{"payment_id.keyword":"p-9"}}}`, total: 11},
		{name: "wildcard keyword", url: "/paysim-logs-*/_search", body: `{"query":{"wildcard":{"payment_id.keyword":{"value":"p-?7"}}}}`, total: 9},
		{name: "query_string fields and ops", url: "/paysim-logs-*/_search", body: `{"query":{"query_string":{"query":"level:error AND service:payments"}}}`, total: 7},
		{name: "query_string range and not", url: "/paysim-logs-*/_search", body: `{"query":{"query_string":{"query":"amount:[900 TO *] NOT level:error"}}}`, total: 10},
		{name: "query_string default all fields", url: "/paysim-logs-*/_search", body: `{"query":{"query_string":{"query":"p-42"}}}`, total: 1},
		{name: "query_string grouping", url: "/paysim-logs-*/_search", body: `{"query":{"query_string":{"query":"(level:warn OR level:error) AND az:az-b","default_operator":"AND"}}}`,
			check: func(t *testing.T, r httpResult) {
				want := 0
				for i := 0; i < n; i++ {
					if i%5 >= 3 && i%3 == 1 {
						want++
					}
				}
				if hitsTotal(r.body) != want {
					t.Fatalf("total = %d, want %d", hitsTotal(r.body), want)
				}
			}},
		{name: "uri q", url: "/paysim-logs-*/_search?q=payment_id.keyword:p-5", total: 1, ids: []string{"5"}},
		{name: "uri q exists", url: "/paysim-logs-*/_search?q=_exists_:level&size=0", total: n},
		{name: "multi_match", url: "/paysim-logs-*/_search", body: `{"query":{"multi_match":{"query":"ledger","fields":["service","message"]}}}`, total: 33},
		{name: "constant_score", url: "/paysim-logs-*/_search", body: `{"query":{"constant_score":{"filter":{"term":{"level":"warn"}}}}}`, total: 20},
		{name: "sort numeric desc with from/size", url: "/paysim-logs-*/_search", body: `{"sort":[{"amount":"desc"},{"payment_id.keyword":"asc"}],"size":3,"from":1}`, total: n,
			ids: []string{"29", "39", "49"},
			check: func(t *testing.T, r httpResult) {
				if path(r.body, "hits", "hits", 0, "_score") != nil || path(r.body, "hits", "max_score") != nil {
					t.Fatalf("sorted hits must have null _score: %s", r.raw)
				}
				if s := path(r.body, "hits", "hits", 0, "sort"); fmt.Sprint(s) != "[1000 p-29]" {
					t.Fatalf("sort values %v", s)
				}
			}},
		{name: "sort date asc across indices", url: "/paysim-logs-*/_search", body: `{"sort":[{"@timestamp":{"order":"asc"}}],"size":2,"_source":false}`, total: n, ids: []string{"0", "1"},
			check: func(t *testing.T, r httpResult) {
				if path(r.body, "hits", "hits", 0, "_source") != nil {
					t.Fatalf("_source false ignored: %s", r.raw)
				}
				want := float64(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
				if path(r.body, "hits", "hits", 0, "sort", 0) != want {
					t.Fatalf("date sort value %v", path(r.body, "hits", "hits", 0, "sort"))
				}
			}},
		{name: "sort date desc merges indices", url: "/paysim-logs-*/_search", body: `{"sort":[{"@timestamp":"desc"}],"size":3}`, total: n, ids: []string{"99", "98", "97"}},
		{name: "uri sort", url: "/paysim-logs-*/_search?sort=amount:asc,_id:asc&size=2", total: n, ids: []string{"0", "10"}},
		{name: "search_after pages", url: "/paysim-logs-*/_search", body: `{"sort":[{"amount":"asc"},{"payment_id.keyword":"asc"}],"size":2,"search_after":[100,"p-10"]}`, total: n, ids: []string{"20", "30"}},
		{name: "_source includes", url: "/paysim-logs-*/_search", body: `{"query":{"ids":{"values":["1"]}},"_source":["http.*","level"]}`, total: 1,
			check: func(t *testing.T, r httpResult) {
				src := path(r.body, "hits", "hits", 0, "_source").(map[string]any)
				if len(src) != 2 || path(src, "http", "status") != 200.0 || src["level"] != "info" {
					t.Fatalf("source %v", src)
				}
			}},
		{name: "track_total_hits false omits total", url: "/paysim-logs-*/_search", body: `{"track_total_hits":false,"size":1}`,
			check: func(t *testing.T, r httpResult) {
				if path(r.body, "hits", "total") != nil {
					t.Fatalf("total present: %s", r.raw)
				}
			}},
		{name: "comma list", url: "/paysim-logs-2024.05.01,paysim-logs-2024.05.02/_search?size=0", total: n},
		{name: "_all", url: "/_all/_search?size=0", total: n},
		{name: "root _search", url: "/_search?size=0", total: n},
		{name: "wildcard matching nothing", url: "/nothing-*/_search", total: 0,
			check: func(t *testing.T, r httpResult) {
				if path(r.body, "_shards", "total") != 0.0 {
					t.Fatalf("body %s", r.raw)
				}
			}},
		{name: "exclusion", url: "/paysim-logs-*,-*05.02/_search?size=0", total: n / 2},
		{name: "ignore_unavailable", url: "/paysim-logs-2024.05.01,missing/_search?size=0&ignore_unavailable=true", total: n / 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.body == "" {
				method = "GET"
			}
			r := do(t, method, u+tc.url, tc.body)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			skipTotal := tc.check != nil && tc.total == 0 && tc.ids == nil
			if got := hitsTotal(r.body); !skipTotal && got != tc.total {
				t.Fatalf("total = %d, want %d; ids %v", got, tc.total, hitIDs(r.body))
			}
			if tc.ids != nil && strings.Join(hitIDs(r.body), ",") != strings.Join(tc.ids, ",") {
				t.Fatalf("ids = %v, want %v", hitIDs(r.body), tc.ids)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestCount(t *testing.T) {
	st, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	seedLogs(t, u, 50)
	for _, tc := range []struct {
		name, method, url, body string
		want                    int
	}{
		{"all", "GET", "/paysim-logs-*/_count", "", 50},
		{"query", "POST", "/paysim-logs-*/_count", `{"query":{"term":{"level":"error"}}}`, 10},
		{"q param", "GET", "/paysim-logs-*/_count?q=level:warn", "", 10},
		{"root", "GET", "/_count", "", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, u+tc.url, tc.body)
			if r.status != 200 || r.body["count"] != float64(tc.want) || path(r.body, "_shards", "failed") != 0.0 {
				t.Fatalf("count = %d %s", r.status, r.raw)
			}
		})
	}
	for _, tc := range []struct {
		name, url, body string
		status          int
		errType         string
	}{
		{"missing index", "/nope/_count", "", 404, "index_not_found_exception"},
		{"bad json", "/paysim-logs-*/_count", `{"query":`, 400, "x_content_parse_exception"},
		{"size not allowed", "/paysim-logs-*/_count", `{"size":1}`, 400, "parsing_exception"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkESError(t, do(t, "POST", u+tc.url, tc.body), tc.status, tc.errType)
		})
	}
	n, err := st.CountQuery("paysim-logs-*", []byte(`{"bool":{"filter":{"term":{"service.keyword":"bonus"}}}}`))
	if err != nil || n != 16 {
		t.Fatalf("CountQuery = %d, %v", n, err)
	}
	if _, err := st.CountQuery("paysim-logs-*", []byte(`{"nope":{}}`)); err == nil {
		t.Fatal("CountQuery accepted unknown query")
	}
	src, ok := st.Get("paysim-logs-2024.05.01", "3")
	if !ok || !strings.Contains(string(src), `"p-3"`) {
		t.Fatalf("Get = %s %v", src, ok)
	}
	seen := 0
	st.Scan("paysim-logs-*", func(index, id string, source json.RawMessage) bool {
		seen++
		return true
	})
	if seen != 50 {
		t.Fatalf("Scan saw %d", seen)
	}
}

func TestSearchErrors(t *testing.T) {
	_, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	seedLogs(t, u, 10)
	for _, tc := range []struct {
		name, url, body string
		status          int
		errType         string
	}{
		{"malformed json", "/paysim-logs-*/_search", `{"query":{"match_all":{}}`, 400, "x_content_parse_exception"},
		{"trailing garbage", "/paysim-logs-*/_search", `{} {}`, 400, "x_content_parse_exception"},
		{"body not an object", "/paysim-logs-*/_search", `[1]`, 400, "parsing_exception"},
		{"unknown query", "/paysim-logs-*/_search", `{"query":{"magic":{}}}`, 400, "parsing_exception"},
		{"unknown query param", "/paysim-logs-*/_search", `{"query":{"match":{"level":{"query":"x","nope":1}}}}`, 400, "parsing_exception"},
		{"two fields in term", "/paysim-logs-*/_search", `{"query":{"term":{"a":1,"b":2}}}`, 400, "parsing_exception"},
		{"two queries in one object", "/paysim-logs-*/_search", `{"query":{"match_all":{},"term":{"a":1}}}`, 400, "parsing_exception"},
		{"unknown top-level key", "/paysim-logs-*/_search", `{"querry":{}}`, 400, "parsing_exception"},
		{"aggregations unsupported", "/paysim-logs-*/_search", `{"aggs":{"x":{"terms":{"field":"level.keyword"}}}}`, 400, "parsing_exception"},
		{"negative size", "/paysim-logs-*/_search", `{"size":-1}`, 400, "illegal_argument_exception"},
		{"window too large", "/paysim-logs-*/_search", `{"from":9995,"size":10}`, 400, "illegal_argument_exception"},
		{"sort on text field", "/paysim-logs-*/_search", `{"sort":["message"]}`, 400, "search_phase_execution_exception"},
		{"bad sort order", "/paysim-logs-*/_search", `{"sort":[{"amount":"sideways"}]}`, 400, "illegal_argument_exception"},
		{"number for date range", "/paysim-logs-*/_search", `{"query":{"range":{"@timestamp":{"gte":"yesterday-ish"}}}}`, 400, "query_shard_exception"},
		{"bad term on long", "/paysim-logs-*/_search", `{"query":{"term":{"amount":"lots"}}}`, 400, "query_shard_exception"},
		{"bad query_string", "/paysim-logs-*/_search", `{"query":{"query_string":{"query":"level:(error"}}}`, 400, "query_shard_exception"},
		{"bad q param", "/paysim-logs-*/_search?q=%22unterminated", "", 400, "query_shard_exception"},
		{"missing index", "/nope/_search", `{}`, 404, "index_not_found_exception"},
		{"one of list missing", "/paysim-logs-2024.05.01,nope/_search", `{}`, 404, "index_not_found_exception"},
		{"search_after length mismatch", "/paysim-logs-*/_search", `{"sort":["amount"],"search_after":[1,2]}`, 400, "illegal_argument_exception"},
		{"scroll unsupported", "/paysim-logs-*/_search?scroll=1m", `{}`, 400, "illegal_argument_exception"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkESError(t, do(t, "POST", u+tc.url, tc.body), tc.status, tc.errType)
		})
	}
	// Still serving after all of that.
	if r := do(t, "GET", u+"/paysim-logs-*/_count", ""); r.status != 200 || r.body["count"] != 10.0 {
		t.Fatalf("node unhealthy after errors: %d %s", r.status, r.raw)
	}
}

func TestBulk(t *testing.T) {
	_, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	t.Run("mixed actions with per-item results", func(t *testing.T) {
		body := `{"index":{"_index":"b","_id":"1"}}
{"v":1}
{"create":{"_index":"b","_id":"2"}}
{"v":2}
{"create":{"_index":"b","_id":"1"}}
{"v":3}
{"update":{"_index":"b","_id":"2"}}
{"doc":{"w":true}}
{"delete":{"_index":"b","_id":"1"}}
{"delete":{"_index":"b","_id":"404"}}
{"index":{"_index":"b","_id":"bad"}}
{"v":
{"index":{"_index":"b","_id":"conflict"}}
{"v":"text into long"}
{"update":{"_index":"b","_id":"missing"}}
{"doc":{"a":1}}
{"index":{"_index":"Bad-Name","_id":"1"}}
{"v":1}
{"index":{}}
{"v":9}
`
		r := do(t, "POST", u+"/b/_bulk?refresh=true", body)
		if r.status != 200 || r.body["errors"] != true {
			t.Fatalf("bulk = %d %s", r.status, r.raw)
		}
		type want struct {
			action  string
			status  float64
			result  string
			errType string
		}
		wants := []want{
			{"index", 201, "created", ""},
			{"create", 201, "created", ""},
			{"create", 409, "", "version_conflict_engine_exception"},
			{"update", 200, "updated", ""},
			{"delete", 200, "deleted", ""},
			{"delete", 404, "not_found", ""},
			{"index", 400, "", "document_parsing_exception"},
			{"index", 400, "", "document_parsing_exception"},
			{"update", 404, "", "document_missing_exception"},
			{"index", 400, "", "invalid_index_name_exception"},
			{"index", 201, "created", ""},
		}
		items := r.body["items"].([]any)
		if len(items) != len(wants) {
			t.Fatalf("items = %d, want %d: %s", len(items), len(wants), r.raw)
		}
		for i, w := range wants {
			it := path(items[i], w.action)
			if it == nil {
				t.Fatalf("item %d: no %q key: %v", i, w.action, items[i])
			}
			if path(it, "status") != w.status || (w.result != "" && path(it, "result") != w.result) ||
				(w.errType != "" && path(it, "error", "type") != w.errType) {
				t.Fatalf("item %d = %v, want %+v", i, it, w)
			}
		}
		if id, _ := path(items[10], "index", "_id").(string); len(id) != 20 || path(items[10], "index", "_index") != "b" {
			t.Fatalf("auto id item %v", items[10])
		}
		if c := do(t, "GET", u+"/b/_count", ""); c.body["count"] != 2.0 {
			t.Fatalf("count after bulk %s", c.raw)
		}
	})
	for _, tc := range []struct {
		name, url, body string
		errType         string
	}{
		{"bad action json", "/_bulk", "{\"index\":{\"_index\":\"b\"}\n{\"v\":1}\n", "x_content_parse_exception"},
		{"unknown action", "/_bulk", "{\"upsert\":{\"_index\":\"b\"}}\n{\"v\":1}\n", "illegal_argument_exception"},
		{"action not object", "/_bulk", "[1]\n", "illegal_argument_exception"},
		{"two actions on a line", "/_bulk", "{\"index\":{},\"delete\":{}}\n{}\n", "illegal_argument_exception"},
		{"unknown metadata", "/_bulk", "{\"index\":{\"_index\":\"b\",\"_foo\":1}}\n{\"v\":1}\n", "illegal_argument_exception"},
		{"missing source line", "/_bulk", "{\"index\":{\"_index\":\"b\"}}\n", "action_request_validation_exception"},
		{"missing index", "/_bulk", "{\"index\":{}}\n{\"v\":1}\n", "action_request_validation_exception"},
		{"empty body", "/_bulk", "", "action_request_validation_exception"},
		{"delete without id", "/_bulk", "{\"delete\":{\"_index\":\"b\"}}\n", "action_request_validation_exception"},
		{"malformed update body", "/_bulk", "{\"update\":{\"_index\":\"b\",\"_id\":\"1\"}}\n{\"doc\":\n", "x_content_parse_exception"},
		{"bad refresh", "/_bulk?refresh=sometimes", "{\"index\":{\"_index\":\"b\"}}\n{}\n", "illegal_argument_exception"},
		{"wildcard default index", "/b*/_bulk", "{\"index\":{}}\n{}\n", "illegal_argument_exception"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkESError(t, do(t, "POST", u+tc.url, tc.body), 400, tc.errType)
			if r := do(t, "GET", u+"/", ""); r.status != 200 {
				t.Fatalf("node not serving after malformed bulk: %d", r.status)
			}
		})
	}
	t.Run("no trailing newline accepted", func(t *testing.T) {
		r := do(t, "POST", u+"/_bulk", "{\"index\":{\"_index\":\"nl\",\"_id\":\"1\"}}\n{\"v\":1}")
		if r.status != 200 || r.body["errors"] != false {
			t.Fatalf("bulk = %d %s", r.status, r.raw)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		nodes[0].SetMaxBodyBytes(1024)
		defer nodes[0].SetMaxBodyBytes(DefaultMaxBodyBytes)
		checkESError(t, do(t, "POST", u+"/_bulk", strings.Repeat(" ", 4096)), 413, "content_too_long_exception")
	})
}

func TestCatIndices(t *testing.T) {
	_, nodes := newCluster(t, 2)
	u := nodes[0].URL()
	seedLogs(t, u, 10)
	r := do(t, "GET", u+"/_cat/indices?v", "")
	lines := strings.Split(strings.TrimRight(string(r.raw), "\n"), "\n")
	if r.status != 200 || len(lines) != 3 {
		t.Fatalf("cat = %d %q", r.status, r.raw)
	}
	hdr := strings.Fields(lines[0])
	if strings.Join(hdr[:7], " ") != "health status index uuid pri rep docs.count" {
		t.Fatalf("header %q", lines[0])
	}
	row := strings.Fields(lines[1])
	if row[0] != "green" || row[1] != "open" || row[2] != "paysim-logs-2024.05.01" || row[4] != "1" || row[5] != "1" || row[6] != "5" {
		t.Fatalf("row %q", lines[1])
	}
	noHdr := do(t, "GET", u+"/_cat/indices/paysim-logs-2024.05.02", "")
	if f := strings.Fields(string(noHdr.raw)); len(f) < 7 || f[2] != "paysim-logs-2024.05.02" {
		t.Fatalf("cat without v %q", noHdr.raw)
	}
	j := do(t, "GET", u+"/_cat/indices?format=json&h=index,docs.count&s=index:desc", "")
	if len(j.list) != 2 || path(j.list, 0, "index") != "paysim-logs-2024.05.02" || path(j.list, 0, "docs.count") != "5" || len(j.list[0].(map[string]any)) != 2 {
		t.Fatalf("cat json %s", j.raw)
	}
	nodes[1].Kill()
	y := do(t, "GET", u+"/_cat/indices?format=json", "")
	if path(y.list, 0, "health") != "yellow" {
		t.Fatalf("cat with a node down %s", y.raw)
	}
	checkESError(t, do(t, "GET", u+"/_cat/indices/nope", ""), 404, "index_not_found_exception")
	for _, p := range []string{"/_cat/health?v", "/_cat/nodes?v", "/_cat/count?v", "/_cat"} {
		if r := do(t, "GET", u+p, ""); r.status != 200 || len(r.raw) == 0 {
			t.Fatalf("%s = %d %q", p, r.status, r.raw)
		}
	}
}

// TestIndexFilesFollowTheIndex: an index keeps its segments under the
// store's directory, searchable after refresh, and deleting it removes them.
func TestIndexFilesFollowTheIndex(t *testing.T) {
	st, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	if r := do(t, "PUT", u+"/logs/_doc/1?refresh=true", `{"msg":"payment committed"}`); r.status != 201 {
		t.Fatalf("index: %d %s", r.status, r.raw)
	}
	if r := do(t, "GET", u+"/logs/_count?q=msg:committed", ""); r.body["count"] != 1.0 {
		t.Fatalf("count: %s", r.raw)
	}
	entries, err := os.ReadDir(st.dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("index directory: %v %v", entries, err)
	}
	if r := do(t, "DELETE", u+"/logs", ""); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if entries, _ := os.ReadDir(st.dir); len(entries) != 0 {
		t.Fatalf("deleted index left %v", entries)
	}
}
