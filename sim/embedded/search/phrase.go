package search

import (
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Text fields are indexed without term vectors (they cost a third of the
// indexing throughput), so a phrase is found in two steps: the documents
// holding every term, then a check of term adjacency in each candidate's
// source. The result is an ids query, so totals, sorting and paging stay
// exact.

// phrase compiles a phrase of analysed terms on a text field.
func (c *compileCtx) phrase(field string, terms []string) (query.Query, *esError) {
	if c.ix == nil {
		return matchNone(), nil
	}
	conj := make([]query.Query, len(terms))
	for i, t := range terms {
		tq := query.NewTermQuery(t)
		tq.SetField(field)
		conj[i] = tq
	}
	n, err := c.ix.bidx.DocCount()
	if err != nil || n == 0 {
		return matchNone(), nil
	}
	req := bleve.NewSearchRequestOptions(query.NewConjunctionQuery(conj), int(n), 0, false)
	req.Score = "none"
	res, err := c.ix.bidx.SearchInContext(c.ctx, req)
	if err != nil {
		return nil, badRequest("query_shard_exception", "phrase candidates: %v", err)
	}
	var ids []string
	for _, h := range res.Hits {
		e := c.ix.doc(h.ID)
		if e == nil {
			continue
		}
		src, err := c.ix.sourceOf(e)
		if err != nil {
			return nil, internalError("read source", err)
		}
		v, perr := decodeJSON(src)
		if perr != nil {
			continue
		}
		found := false
		fieldValues(v, field, func(s string) bool {
			if containsRun(c.an.analyze(s), terms) {
				found = true
			}
			return !found
		})
		if found {
			ids = append(ids, h.ID)
		}
	}
	if len(ids) == 0 {
		return matchNone(), nil
	}
	return query.NewDocIDQuery(ids), nil
}

// fieldValues calls fn with every scalar value at a dotted path (arrays
// flattened; keys containing dots handled) until fn returns false.
func fieldValues(v any, path string, fn func(string) bool) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if !fieldValues(e, path, fn) {
				return false
			}
		}
		return true
	case map[string]any:
		if path == "" {
			return true
		}
		for k, sub := range x {
			switch {
			case k == path:
				if !fieldValues(sub, "", fn) {
					return false
				}
			case strings.HasPrefix(path, k+"."):
				if !fieldValues(sub, path[len(k)+1:], fn) {
					return false
				}
			}
		}
		return true
	case nil:
		return true
	}
	if path != "" {
		return true
	}
	return fn(stringify(v))
}

// containsRun reports whether want occurs as a contiguous run in toks.
func containsRun(toks, want []string) bool {
	for i := 0; i+len(want) <= len(toks); i++ {
		ok := true
		for j, w := range want {
			if toks[i+j] != w {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
