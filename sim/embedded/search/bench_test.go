package search

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// BenchmarkBulkIndex measures _bulk indexing throughput over HTTP with the
// go-elasticsearch client: 500 small log documents per request, spread over
// daily indices. The time includes the final refresh, so docs/s counts
// searchable documents.
func BenchmarkBulkIndex(b *testing.B) {
	_, nodes := newCluster(b, 1)
	es := newESClient(b, nodes[0])
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	const perBulk = 500
	bodies := make([]string, 8)
	for i := range bodies {
		bodies[i] = bulkBody(fmt.Sprintf("paysim-logs-2024.05.%02d", i%3+1), 0, perBulk, base)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// distinct ids per iteration so every doc is a create
		body := strings.ReplaceAll(bodies[i%len(bodies)], `"_id":"`, fmt.Sprintf(`"_id":"%d-`, i))
		res, err := es.Bulk(strings.NewReader(body), es.Bulk.WithContext(context.Background()))
		if err != nil {
			b.Fatalf("bulk: %v", err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.IsError() || strings.Contains(string(raw[:min(len(raw), 64)]), `"errors":true`) {
			b.Fatalf("bulk failed: %s", raw[:min(len(raw), 500)])
		}
	}
	// include the time to make everything searchable
	res, err := es.Indices.Refresh()
	if err != nil || res.IsError() {
		b.Fatalf("refresh: %v %v", err, res)
	}
	res.Body.Close()
	el := time.Since(start)
	b.ReportMetric(float64(b.N*perBulk)/el.Seconds(), "docs/s")
}

// BenchmarkSearch measures a typical checker query (bool filter + match +
// sort, size 20) over 20,000 log documents in two daily indices.
func BenchmarkSearch(b *testing.B) {
	_, nodes := newCluster(b, 1)
	u := nodes[0].URL()
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 40; i++ {
		idx := fmt.Sprintf("paysim-logs-2024.05.%02d", i%2+1)
		if r := do(b, "POST", u+"/_bulk", bulkBody(idx, i*500, (i+1)*500, base)); r.status != 200 {
			b.Fatalf("seed: %s", r.raw)
		}
	}
	do(b, "POST", u+"/_refresh", "")
	body := `{"query":{"bool":{"must":{"match":{"message":"processed"}},"filter":[{"term":{"level.keyword":"error"}},{"range":{"amount":{"gte":500}}}]}},"sort":[{"@timestamp":"desc"}],"size":20}`
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := do(b, "POST", u+"/paysim-logs-*/_search", body)
		if r.status != 200 || hitsTotal(r.body) != 4000 {
			b.Fatalf("search: %d %d", r.status, hitsTotal(r.body))
		}
	}
}
