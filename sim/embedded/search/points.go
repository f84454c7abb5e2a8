package search

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	bmapping "github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// Numbers and dates are indexed as Elasticsearch indexes points: one term
// per value, its full-precision prefix code. bleve's own numeric and date
// fields add 15 coarser terms each for its range searcher, which made the two
// numeric fields of a log line (@timestamp, amount) most of its terms: the
// indexing and merging of the log tier cost 6% more of a payment's CPU
// (issue 19). Range queries on them are pointRange queries, which read the
// full-precision terms only.

// point is a numeric or date field indexed as one term, the value's
// full-precision prefix code.
type point struct {
	document.Field // *document.NumericField or *document.DateTimeField
	term           []byte
	freq           bindex.TokenFrequencies
}

func newNumberPoint(name string, f float64, opts bindex.FieldIndexingOptions) *point {
	nf := document.NewNumericFieldWithIndexingOptions(name, nil, f, opts)
	return &point{Field: nf, term: nf.Value()}
}

func newDatePoint(name string, t time.Time, layout string, opts bindex.FieldIndexingOptions) (*point, error) {
	f, err := document.NewDateTimeFieldWithIndexingOptions(name, nil, t, layout, opts)
	if err != nil {
		return nil, err
	}
	return &point{Field: f, term: numeric.MustNewPrefixCodedInt64(t.UnixNano(), 0)}, nil
}

// Analyze indexes the value's full-precision term only.
func (p *point) Analyze() {
	p.freq = analysis.TokenFrequency(analysis.TokenStream{{
		End: len(p.term), Term: p.term, Position: 1, Type: analysis.Numeric,
	}}, nil, p.Options())
}

// AnalyzedLength is the one term.
func (p *point) AnalyzedLength() int { return 1 }

// AnalyzedTokenFrequencies is the one term.
func (p *point) AnalyzedTokenFrequencies() bindex.TokenFrequencies { return p.freq }

// pointRange matches documents with a value of a point field in [lo, hi]
// (sortable int64s: numeric.Float64ToInt64 of a number, UnixNano of a date).
type pointRange struct {
	field  string
	lo, hi int64
	boost  float64
}

// pointRangeTerms is the most distinct values a range searches term by term;
// past it, each document with a value is tested by its doc value (as
// Elasticsearch does for a field it keeps doc values of but does not index).
const pointRangeTerms = 1024

// numberRange is the range query of a numeric field: nil bounds are open.
func numberRange(field string, lo, hi *float64, loIncl, hiIncl bool) *pointRange {
	q := &pointRange{field: field, lo: math.MinInt64, hi: math.MaxInt64, boost: 1}
	if lo != nil {
		q.lo = numeric.Float64ToInt64(*lo)
		if !loIncl {
			q.lo = inc(q.lo)
		}
	}
	if hi != nil {
		q.hi = numeric.Float64ToInt64(*hi)
		if !hiIncl {
			q.hi = dec(q.hi)
		}
	}
	if (lo != nil && math.IsNaN(*lo)) || (hi != nil && math.IsNaN(*hi)) {
		q.lo, q.hi = 1, 0 // matches nothing
	}
	return q
}

// dateRange is the range query of a date field: zero times are open bounds.
func dateRange(field string, lo, hi time.Time, loIncl, hiIncl bool) (*pointRange, error) {
	q := &pointRange{field: field, lo: math.MinInt64, hi: math.MaxInt64, boost: 1}
	for _, b := range []struct {
		t    time.Time
		dst  *int64
		incl bool
		step func(int64) int64
		name string
	}{{lo, &q.lo, loIncl, inc, "start"}, {hi, &q.hi, hiIncl, dec, "end"}} {
		if b.t.IsZero() {
			continue
		}
		if b.t.Before(query.MinRFC3339CompatibleTime) || b.t.After(query.MaxRFC3339CompatibleTime) {
			return nil, fmt.Errorf("invalid/unsupported date range, %s: %v", b.name, b.t)
		}
		*b.dst = b.t.UnixNano()
		if !b.incl {
			*b.dst = b.step(*b.dst)
		}
	}
	return q, nil
}

func inc(v int64) int64 {
	if v == math.MaxInt64 {
		return v
	}
	return v + 1
}

func dec(v int64) int64 {
	if v == math.MinInt64 {
		return v
	}
	return v - 1
}

// SetBoost sets the query's boost.
func (q *pointRange) SetBoost(b float64) { q.boost = b }

// Boost is the query's boost.
func (q *pointRange) Boost() float64 { return q.boost }

// Searcher finds the range's documents: through the terms of the values in
// it, or, when there are more than pointRangeTerms, by testing the doc value
// of every document.
func (q *pointRange) Searcher(ctx context.Context, i bindex.IndexReader, _ bmapping.IndexMapping, opts bsearch.SearcherOptions) (bsearch.Searcher, error) {
	if q.lo > q.hi {
		return searcher.NewMatchNoneSearcher(i)
	}
	dict, err := i.FieldDictRange(q.field, numeric.MustNewPrefixCodedInt64(q.lo, 0), numeric.MustNewPrefixCodedInt64(q.hi, 0))
	if err != nil {
		return nil, fmt.Errorf("range %s: %w", q.field, err)
	}
	var terms [][]byte
	for {
		e, err := dict.Next()
		if err != nil {
			_ = dict.Close()
			return nil, fmt.Errorf("range %s: %w", q.field, err)
		}
		if e == nil || len(terms) > pointRangeTerms {
			break
		}
		terms = append(terms, []byte(e.Term))
	}
	if err := dict.Close(); err != nil {
		return nil, fmt.Errorf("range %s: %w", q.field, err)
	}
	switch {
	case len(terms) == 0:
		return searcher.NewMatchNoneSearcher(i)
	case len(terms) <= pointRangeTerms:
		return searcher.NewMultiTermSearcherBytes(ctx, i, terms, q.field, q.boost, opts, false)
	}
	dv, err := i.DocValueReader([]string{q.field})
	if err != nil {
		return nil, fmt.Errorf("range %s: %w", q.field, err)
	}
	all, err := searcher.NewMatchAllSearcher(ctx, i, q.boost, opts)
	if err != nil {
		return nil, err
	}
	return searcher.NewFilteringSearcher(ctx, all, func(_ *bsearch.SearchContext, d *bsearch.DocumentMatch) bool {
		in := false
		_ = dv.VisitDocValues(d.IndexInternalID, func(_ string, term []byte) {
			pc := numeric.PrefixCoded(term)
			if shift, err := pc.Shift(); err != nil || shift != 0 {
				return
			}
			if v, err := pc.Int64(); err == nil && v >= q.lo && v <= q.hi {
				in = true
			}
		})
		return in
	}), nil
}
