package search

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPointRanges checks range and term queries on numbers and dates against
// a count by hand, on both of pointRange's paths: a range over fewer distinct
// values than pointRangeTerms (searched term by term) and one over more
// (each document's doc value tested).
func TestPointRanges(t *testing.T) {
	st, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	const n = 3 * pointRangeTerms
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	// Doc i: n_long = i - n/2 (negatives too), n_double = (i - n/2) / 8,
	// ts = base + i ms, and every tenth document has no values at all.
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"index":{"_index":"points","_id":"%d"}}`+"\n", i)
		if i%10 == 9 {
			b.WriteString(`{"other":"x"}` + "\n")
			continue
		}
		fmt.Fprintf(&b, `{"n_long":%d,"n_double":%g,"ts":%q}`+"\n", i-n/2, float64(i-n/2)/8, base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
	}
	// Mappings first, so that n_double is a double whatever its first value.
	if r := do(t, "PUT", u+"/points", `{"mappings":{"properties":{"n_long":{"type":"long"},"n_double":{"type":"double"},"ts":{"type":"date"}}}}`); r.status != 200 {
		t.Fatalf("create index = %d %s", r.status, r.raw)
	}
	if r := do(t, "POST", u+"/_bulk?refresh=true", b.String()); r.status != 200 || r.body["errors"] != false {
		t.Fatalf("bulk = %d %.300s", r.status, r.raw)
	}
	has := func(i int) bool { return i%10 != 9 }
	count := func(in func(i int) bool) int {
		c := 0
		for i := 0; i < n; i++ {
			if has(i) && in(i) {
				c++
			}
		}
		return c
	}
	ms := func(i int) string { return base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano) }
	half := n / 2
	cases := []struct {
		name  string
		query string
		in    func(i int) bool
	}{
		{"long few values", `{"range":{"n_long":{"gte":-5,"lt":20}}}`, func(i int) bool { return i-half >= -5 && i-half < 20 }},
		{"long exclusive both", `{"range":{"n_long":{"gt":-5,"lt":-4}}}`, func(int) bool { return false }},
		{"long many values", `{"range":{"n_long":{"gt":-1400,"lte":1300}}}`, func(i int) bool { return i-half > -1400 && i-half <= 1300 }},
		{"long open below, many", `{"range":{"n_long":{"lt":100}}}`, func(i int) bool { return i-half < 100 }},
		{"long open above, few", `{"range":{"n_long":{"gte":1500}}}`, func(i int) bool { return i-half >= 1500 }},
		{"long fractional bound", `{"range":{"n_long":{"gte":9.5,"lte":12}}}`, func(i int) bool { return i-half >= 10 && i-half <= 12 }},
		{"long term", `{"term":{"n_long":-7}}`, func(i int) bool { return i-half == -7 }},
		{"long term absent", `{"term":{"n_long":99999}}`, func(int) bool { return false }},
		{"long empty range", `{"range":{"n_long":{"gt":10,"lt":5}}}`, func(int) bool { return false }},
		{"double few values", `{"range":{"n_double":{"gte":-0.25,"lt":0.5}}}`, func(i int) bool { v := float64(i-half) / 8; return v >= -0.25 && v < 0.5 }},
		{"double many values", `{"range":{"n_double":{"gt":-150.125,"lte":100}}}`, func(i int) bool { v := float64(i-half) / 8; return v > -150.125 && v <= 100 }},
		{"double term", `{"term":{"n_double":-0.375}}`, func(i int) bool { return i-half == -3 }},
		{"date few values", fmt.Sprintf(`{"range":{"ts":{"gte":%q,"lt":%q}}}`, ms(100), ms(150)), func(i int) bool { return i >= 100 && i < 150 }},
		{"date many values exclusive", fmt.Sprintf(`{"range":{"ts":{"gt":%q,"lt":%q}}}`, ms(10), ms(3000)), func(i int) bool { return i > 10 && i < 3000 }},
		{"date open above, many", fmt.Sprintf(`{"range":{"ts":{"gte":%q}}}`, ms(1)), func(i int) bool { return i >= 1 }},
		{"date term", fmt.Sprintf(`{"term":{"ts":%q}}`, ms(42)), func(i int) bool { return i == 42 }},
		{"date whole day", `{"range":{"ts":{"gte":"2024-05-01||/d","lte":"2024-05-01||/d"}}}`, func(int) bool { return true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", u+"/points/_count", `{"query":`+tc.query+`}`)
			if r.status != 200 {
				t.Fatalf("count = %d %s", r.status, r.raw)
			}
			if got, want := int(r.body["count"].(float64)), count(tc.in); got != want {
				t.Fatalf("count = %d, want %d", got, want)
			}
		})
	}
	// A filtered range in a sorted search: hits in order, exact total.
	r := do(t, "POST", u+"/points/_search", `{"query":{"bool":{"filter":[{"range":{"n_long":{"gte":-1500,"lt":1500}}}]}},"sort":[{"n_long":"desc"}],"size":3}`)
	if got, want := hitsTotal(r.body), count(func(i int) bool { return i-half >= -1500 && i-half < 1500 }); got != want {
		t.Fatalf("sorted total = %d, want %d (%.300s)", got, want, r.raw)
	}
	if ids := hitIDs(r.body); strings.Join(ids, ",") != fmt.Sprintf("%d,%d,%d", half+1499, half+1498, half+1497) {
		t.Fatalf("sorted hits %v", ids)
	}
	// Each value is one term: the field's dictionary holds one per distinct value.
	ix, ok := st.lookup("points")
	if !ok {
		t.Fatal("index points not found")
	}
	for _, f := range []string{"n_long", "ts"} {
		d, err := ix.bidx.FieldDict(f)
		if err != nil {
			t.Fatal(err)
		}
		terms := 0
		for e, err := d.Next(); e != nil && err == nil; e, err = d.Next() {
			terms++
		}
		_ = d.Close()
		if want := count(func(int) bool { return true }); terms != want {
			t.Errorf("%s: %d terms for %d values, want one each", f, terms, want)
		}
	}
}
