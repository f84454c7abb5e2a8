package search

import (
	"strings"
	"testing"
)

// TestExistsFieldNames checks exists queries against documents with
// different field sets: every name a document has is found, names it lacks
// are not, including object paths, a keyword subfield, and a name holding
// the byte that separates names in the one _field_names field.
func TestExistsFieldNames(t *testing.T) {
	_, nodes := newCluster(t, 1)
	u := nodes[0].URL()
	docs := []string{
		`{"index":{"_index":"fn","_id":"a"}}`, `{"level":"info","msg":"x","http":{"status":200}}`,
		`{"index":{"_index":"fn","_id":"b"}}`, `{"level":"warn","amount":5}`,
		`{"index":{"_index":"fn","_id":"c"}}`, `{"odd\u0000name":"v","msg":"y"}`,
		`{"index":{"_index":"fn","_id":"d"}}`, `{"empty":null}`,
	}
	if r := do(t, "POST", u+"/_bulk?refresh=true", strings.Join(docs, "\n")+"\n"); r.status != 200 || strings.Contains(string(r.raw), `"errors":true`) {
		t.Fatalf("bulk: %d %s", r.status, r.raw)
	}
	tests := []struct {
		field string
		want  []string
	}{
		{"level", []string{"a", "b"}},
		{"msg", []string{"a", "c"}},
		{"msg.keyword", []string{"a", "c"}},
		{"http", []string{"a"}},
		{"http.status", []string{"a"}},
		{"amount", []string{"b"}},
		{"odd\\u0000name", []string{"c"}},
		{"odd", nil},
		{"name", nil},
		{"empty", nil},
		{"nope", nil},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			r := do(t, "POST", u+"/fn/_search", `{"query":{"exists":{"field":"`+tc.field+`"}},"sort":[{"_id":"asc"}]}`)
			if r.status != 200 {
				t.Fatalf("search: %d %s", r.status, r.raw)
			}
			got := hitIDs(r.body)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("exists %s = %v, want %v", tc.field, got, tc.want)
			}
		})
	}
}

// TestNamesAnalyzer checks the split of a _field_names value into terms.
func TestNamesAnalyzer(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\x00b.c\x00d e", []string{"a", "b.c", "d e"}},
		{"\x00a\x00\x00b\x00", []string{"a", "b"}},
	}
	for _, tc := range tests {
		var got []string
		for i, tok := range (namesAnalyzer{}).Analyze([]byte(tc.in)) {
			if tok.Position != i+1 || tc.in[tok.Start:tok.End] != string(tok.Term) {
				t.Fatalf("%q: token %d = %+v", tc.in, i, tok)
			}
			got = append(got, string(tok.Term))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Fatalf("%q: terms %q, want %q", tc.in, got, tc.want)
		}
	}
}
