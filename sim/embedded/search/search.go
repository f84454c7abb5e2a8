package search

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/numeric"
	bsearch "github.com/blevesearch/bleve/v2/search"
)

// maxResultWindow is ES's index.max_result_window: from+size limit.
const maxResultWindow = 10000

// searchReq is a parsed _search request.
type searchReq struct {
	query       qnode
	from, size  int
	sort        []sortSpec
	searchAfter []any
	trackTotal  bool
	trackScores bool
	version     bool
	seqNo       bool
	totalAsInt  bool
	source      sourceFilter
	minScore    float64
}

// sortSpec is one sort key.
type sortSpec struct {
	field string // "_score", "_doc", "_id" or a field name
	desc  bool
	// missingFirst puts documents without the field first.
	missingFirst bool
}

// ignoredSearchKeys are body keys accepted and ignored.
var ignoredSearchKeys = map[string]bool{
	"timeout": true, "stored_fields": true, "docvalue_fields": true, "explain": true,
	"profile": true, "highlight": true, "terminate_after": true, "stats": true,
	"indices_boost": true, "fields": true, "_source_includes": true,
}

// unsupportedSearchKeys are ES features this server does not implement.
var unsupportedSearchKeys = map[string]bool{
	"aggs": true, "aggregations": true, "collapse": true, "post_filter": true,
	"rescore": true, "suggest": true, "pit": true, "runtime_mappings": true,
	"knn": true, "script_fields": true, "slice": true, "rank": true, "retriever": true,
}

func newSearchReq() *searchReq {
	return &searchReq{query: matchAllQ{}, size: 10, trackTotal: true}
}

// parseSearchRequest parses a search body and URI parameters.
func parseSearchRequest(body []byte, params url.Values) (*searchReq, *esError) {
	r := newSearchReq()
	if len(bytes.TrimSpace(body)) > 0 {
		m, err := decodeObject(body, "request body")
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(m) {
			v := m[k]
			switch k {
			case "query":
				q, err := parseQuery(v)
				if err != nil {
					return nil, err
				}
				r.query = q
			case "from", "size":
				n, ok := intValue(v)
				if !ok {
					return nil, parsingError("[%s] failed to parse field [%s]", "search", k)
				}
				if k == "from" {
					r.from = n
				} else {
					r.size = n
				}
			case "sort":
				specs, err := parseSort(v)
				if err != nil {
					return nil, err
				}
				r.sort = specs
			case "search_after":
				arr, ok := v.([]any)
				if !ok {
					return nil, parsingError("[search_after] must be an array")
				}
				r.searchAfter = arr
			case "track_total_hits":
				switch x := v.(type) {
				case bool:
					r.trackTotal = x
				case json.Number:
					n, _ := x.Int64()
					r.trackTotal = n != 0
				default:
					return nil, parsingError("[track_total_hits] must be a boolean or a number")
				}
			case "track_scores", "version", "seq_no_primary_term":
				b, ok := v.(bool)
				if !ok {
					return nil, parsingError("[%s] must be a boolean", k)
				}
				switch k {
				case "track_scores":
					r.trackScores = b
				case "version":
					r.version = b
				default:
					r.seqNo = b
				}
			case "_source":
				sf, err := parseSourceFilter(v)
				if err != nil {
					return nil, err
				}
				r.source = sf
			case "min_score":
				f, ok := toFloat(v)
				if !ok {
					return nil, parsingError("[min_score] must be a number")
				}
				r.minScore = f
			default:
				if ignoredSearchKeys[k] {
					continue
				}
				if unsupportedSearchKeys[k] {
					return nil, parsingError("[%s] is not supported by this server", k)
				}
				return nil, parsingError("Unknown key for a %s in [%s].", jsonKind(v), k)
			}
		}
	}
	if err := r.applyParams(params); err != nil {
		return nil, err
	}
	if r.size < 0 {
		return nil, illegalArgument("[size] parameter cannot be negative, found [%d]", r.size)
	}
	if r.from < 0 {
		return nil, illegalArgument("[from] parameter cannot be negative, found [%d]", r.from)
	}
	if r.from+r.size > maxResultWindow {
		return nil, illegalArgument("Result window is too large, from + size must be less than or equal to: [%d] but was [%d]. See the scroll api for a more efficient way to request large data sets.", maxResultWindow, r.from+r.size)
	}
	if r.searchAfter != nil {
		if r.from > 0 {
			return nil, illegalArgument("[from] parameter must be set to 0 when [search_after] is used")
		}
		n := len(r.sort)
		if n == 0 {
			n = 1
		}
		if len(r.searchAfter) != n {
			return nil, illegalArgument("search_after has %d value(s) but sort has %d.", len(r.searchAfter), n)
		}
		for _, v := range r.searchAfter {
			if !isScalar(v) {
				return nil, illegalArgument("search_after values must be scalars, found [%s]", jsonKind(v))
			}
		}
	}
	return r, nil
}

func intValue(v any) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			return 0, false
		}
		return int(n), true
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func (r *searchReq) applyParams(p url.Values) *esError {
	if q := p.Get("q"); p.Has("q") {
		var fields []string
		if df := p.Get("df"); df != "" {
			fields = []string{df}
		}
		lenient := p.Get("lenient") == "true"
		n, err := parseLucene(q, fields, p.Get("default_operator"), lenient)
		if err != nil {
			return err
		}
		r.query = n
	}
	for _, k := range []string{"from", "size"} {
		if !p.Has(k) {
			continue
		}
		n, err := strconv.Atoi(p.Get(k))
		if err != nil {
			return illegalArgument("Failed to parse int parameter [%s] with value [%s]", k, p.Get(k))
		}
		if k == "from" {
			r.from = n
		} else {
			r.size = n
		}
	}
	if p.Has("sort") {
		var specs []sortSpec
		for _, s := range splitExpr(p.Get("sort")) {
			f, order, _ := strings.Cut(s, ":")
			spec, err := newSortSpec(f, order)
			if err != nil {
				return err
			}
			specs = append(specs, spec)
		}
		r.sort = specs
	}
	if p.Has("track_total_hits") {
		v := p.Get("track_total_hits")
		r.trackTotal = v != "false" && v != "0"
	}
	if p.Has("track_scores") {
		r.trackScores = p.Get("track_scores") != "false"
	}
	if p.Has("version") {
		r.version = p.Get("version") != "false"
	}
	if p.Has("seq_no_primary_term") {
		r.seqNo = p.Get("seq_no_primary_term") != "false"
	}
	if p.Get("rest_total_hits_as_int") == "true" {
		r.totalAsInt = true
	}
	if p.Has("_source") {
		switch v := p.Get("_source"); v {
		case "true", "":
			r.source = sourceFilter{}
		case "false":
			r.source = sourceFilter{disabled: true}
		default:
			r.source = sourceFilter{includes: splitExpr(v)}
		}
	}
	if v := p.Get("_source_includes"); v != "" {
		r.source.includes = splitExpr(v)
		r.source.disabled = false
	}
	if v := p.Get("_source_excludes"); v != "" {
		r.source.excludes = splitExpr(v)
	}
	if p.Has("scroll") {
		return illegalArgument("scroll is not supported by this server; use search_after")
	}
	return nil
}

func newSortSpec(field, order string) (sortSpec, *esError) {
	s := sortSpec{field: field, desc: field == "_score"}
	switch strings.ToLower(order) {
	case "":
	case "asc":
		s.desc = false
	case "desc":
		s.desc = true
	default:
		return s, illegalArgument("Unknown SortOrder [%s]", order)
	}
	if field == "" {
		return s, parsingError("sort field must not be empty")
	}
	return s, nil
}

func parseSort(v any) ([]sortSpec, *esError) {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var out []sortSpec
	for _, it := range items {
		switch x := it.(type) {
		case string:
			s, err := newSortSpec(x, "")
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		case map[string]any:
			if len(x) != 1 {
				return nil, parsingError("[sort] malformed, expected a single field per sort object")
			}
			for field, ov := range x {
				switch o := ov.(type) {
				case string:
					s, err := newSortSpec(field, o)
					if err != nil {
						return nil, err
					}
					out = append(out, s)
				case map[string]any:
					for k := range o {
						switch k {
						case "order", "missing", "mode", "unmapped_type", "format", "numeric_type":
						default:
							return nil, parsingError("[field_sort] unknown field [%s]", k)
						}
					}
					order, _ := o["order"].(string)
					s, err := newSortSpec(field, order)
					if err != nil {
						return nil, err
					}
					switch m := o["missing"]; m {
					case nil, "_last":
					case "_first":
						s.missingFirst = true
					default:
						return nil, parsingError("[field_sort] missing value [%v] is not supported (use _first or _last)", m)
					}
					out = append(out, s)
				default:
					return nil, parsingError("[sort] malformed, unexpected [%s]", jsonKind(ov))
				}
			}
		default:
			return nil, parsingError("[sort] malformed, unexpected [%s]", jsonKind(it))
		}
	}
	return out, nil
}

// ---- _source filtering ----

type sourceFilter struct {
	disabled           bool
	includes, excludes []string
}

func parseSourceFilter(v any) (sourceFilter, *esError) {
	switch x := v.(type) {
	case bool:
		return sourceFilter{disabled: !x}, nil
	case string:
		return sourceFilter{includes: []string{x}}, nil
	case []any:
		l, err := stringList("_source", "_source", x)
		return sourceFilter{includes: l}, err
	case map[string]any:
		var sf sourceFilter
		for k, vv := range x {
			l, err := stringList("_source", k, vv)
			if err != nil {
				return sf, err
			}
			switch k {
			case "includes", "include":
				sf.includes = l
			case "excludes", "exclude":
				sf.excludes = l
			default:
				return sf, parsingError("[_source] unknown key [%s]", k)
			}
		}
		return sf, nil
	}
	return sourceFilter{}, parsingError("[_source] malformed, found [%s]", jsonKind(v))
}

func (sf sourceFilter) active() bool { return len(sf.includes) > 0 || len(sf.excludes) > 0 }

// apply filters a raw source.
func (sf sourceFilter) apply(src []byte) json.RawMessage {
	if !sf.active() {
		return json.RawMessage(src)
	}
	v, err := decodeJSON(src)
	if err != nil {
		return json.RawMessage(src)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return json.RawMessage(src)
	}
	out, _ := json.Marshal(sf.filter("", m))
	return out
}

func (sf sourceFilter) filter(prefix string, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if matchesAny(sf.excludes, p) {
			continue
		}
		included := len(sf.includes) == 0 || matchesAny(sf.includes, p)
		if sub, ok := v.(map[string]any); ok {
			if included {
				out[k] = sourceFilter{excludes: sf.excludes}.filter(p, sub)
				continue
			}
			if sf.mayIncludeBelow(p) {
				if f := sf.filter(p, sub); len(f) > 0 {
					out[k] = f
				}
			}
			continue
		}
		if included {
			out[k] = v
		}
	}
	return out
}

func (sf sourceFilter) mayIncludeBelow(p string) bool {
	for _, inc := range sf.includes {
		if strings.HasPrefix(inc, p+".") || strings.Contains(inc, "*") {
			return true
		}
	}
	return false
}

func matchesAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if wildcardMatch(pat, p) {
			return true
		}
	}
	return false
}

// ---- execution ----

// hit is one search hit before rendering.
type hit struct {
	ixPos   int
	rank    int
	index   string
	id      string
	score   float64
	keys    []string
	decoded []any
	source  []byte
	version int64
	seqNo   int64
}

// shardResult is one index's contribution to a search.
type shardResult struct {
	total    uint64
	maxScore float64
	hits     []hit
}

// buildSort makes the bleve sort order for one index.
func (c *compileCtx) buildSort(specs []sortSpec) (bsearch.SortOrder, []fieldType, *esError) {
	if len(specs) == 0 {
		return bsearch.SortOrder{&bsearch.SortScore{Desc: true}}, []fieldType{0}, nil
	}
	order := make(bsearch.SortOrder, 0, len(specs))
	types := make([]fieldType, 0, len(specs))
	for _, s := range specs {
		switch s.field {
		case "_score":
			order = append(order, &bsearch.SortScore{Desc: s.desc})
			types = append(types, 0)
			continue
		case "_doc", "_id":
			order = append(order, &bsearch.SortDocID{Desc: s.desc})
			types = append(types, ftKeyword)
			continue
		}
		sf := &bsearch.SortField{Field: s.field, Desc: s.desc, Type: bsearch.SortFieldAsString, Mode: bsearch.SortFieldMin}
		if s.desc {
			sf.Mode = bsearch.SortFieldMax
		}
		if s.missingFirst {
			sf.Missing = bsearch.SortFieldMissingFirst
		}
		name, d, ok := c.m.resolve(s.field)
		ft := ftKeyword
		if ok {
			sf.Field = name
			ft = d.typ
			switch d.typ {
			case ftText:
				e := illegalArgument("Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [%s] in order to load field data by uninverting the inverted index. Note that this can use significant memory.", s.field)
				outer := badRequest("search_phase_execution_exception", "all shards failed")
				outer.cause = e
				return nil, nil, outer
			case ftLong, ftDouble:
				sf.Type = bsearch.SortFieldAsNumber
			case ftDate:
				sf.Type = bsearch.SortFieldAsDate
			}
		}
		order = append(order, sf)
		types = append(types, ft)
	}
	return order, types, nil
}

// searchAfterStrings converts search_after values to bleve's decoded form.
func searchAfterStrings(vals []any, types []fieldType) ([]string, *esError) {
	out := make([]string, len(vals))
	for i, v := range vals {
		switch types[i] {
		case ftLong, ftDouble, 0:
			f, ok := toFloat(v)
			if !ok {
				return nil, illegalArgument("Failed to parse search_after value [%s] as a number", stringify(v))
			}
			out[i] = strconv.FormatFloat(f, 'f', -1, 64)
		case ftDate:
			t, ok := toTime(v)
			if !ok {
				return nil, illegalArgument("Failed to parse search_after value [%s] as a date", stringify(v))
			}
			out[i] = t.Format(time.RFC3339Nano)
		case ftBoolean:
			if b, _ := toBool(v); b {
				out[i] = "T"
			} else {
				out[i] = "F"
			}
		default:
			out[i] = stringify(v)
		}
	}
	return out, nil
}

// decodeSortValue renders a bleve sort key as ES does (numbers, epoch
// millis for dates, strings; null for a missing value).
func decodeSortValue(key string, ft fieldType, score float64) any {
	if ft == 0 {
		return safeFloat(score)
	}
	if key == bsearch.HighTerm || key == bsearch.LowTerm {
		return nil
	}
	switch ft {
	case ftLong, ftDouble, ftDate:
		i64, err := numeric.PrefixCoded(key).Int64()
		if err != nil {
			return nil
		}
		switch ft {
		case ftLong:
			return int64(numeric.Int64ToFloat64(i64))
		case ftDouble:
			return safeFloat(numeric.Int64ToFloat64(i64))
		}
		return time.Unix(0, i64).UnixMilli()
	case ftBoolean:
		return key == "T"
	}
	return key
}

func safeFloat(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// run executes the search on one index.
func (ix *index) run(ctx context.Context, an analyzers, r *searchReq, pos int, now time.Time) (shardResult, *esError) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var res shardResult
	if ix.deleted {
		return res, nil
	}
	c := &compileCtx{ctx: ctx, ix: ix, m: ix.m, an: an, index: ix.name, now: now}
	q, err := r.query.compile(c)
	if err != nil {
		return res, err
	}
	order, types, err := c.buildSort(r.sort)
	if err != nil {
		return res, err
	}
	if isNone(q) {
		return res, nil
	}
	breq := bleve.NewSearchRequestOptions(q, r.from+r.size, 0, false)
	breq.Sort = order
	needScore := len(r.sort) == 0 || r.trackScores || r.minScore > 0
	for _, s := range r.sort {
		if s.field == "_score" {
			needScore = true
		}
	}
	if !needScore {
		breq.Score = "none"
	}
	if r.searchAfter != nil {
		sa, err := searchAfterStrings(r.searchAfter, types)
		if err != nil {
			return res, err
		}
		breq.SearchAfter = sa
	}
	out, serr := ix.bidx.SearchInContext(ctx, breq)
	if serr != nil {
		if ctx.Err() != nil {
			return res, newESError(499, "task_cancelled_exception", "search cancelled: %v", ctx.Err())
		}
		e := badRequest("search_phase_execution_exception", "all shards failed")
		e.cause = badRequest("query_shard_exception", "failed to create query: %v", serr)
		return res, e
	}
	res.total = out.Total
	res.maxScore = safeFloat(out.MaxScore)
	res.hits = make([]hit, 0, len(out.Hits))
	for rank, h := range out.Hits {
		if r.minScore > 0 && h.Score < r.minScore {
			continue
		}
		e := ix.doc(h.ID)
		if e == nil {
			continue
		}
		var src []byte
		if !r.source.disabled { // "_source": false reads no source
			var err error
			if src, err = ix.sourceOf(e); err != nil {
				return res, internalError("read source", err)
			}
		}
		hh := hit{ixPos: pos, rank: rank, index: ix.name, id: h.ID, score: safeFloat(h.Score),
			keys: h.Sort, source: src, version: e.version, seqNo: e.seqNo}
		if len(r.sort) > 0 {
			hh.decoded = make([]any, len(h.Sort))
			for i, k := range h.Sort {
				hh.decoded[i] = decodeSortValue(k, types[i], h.Score)
			}
		}
		res.hits = append(res.hits, hh)
	}
	return res, nil
}

// mergeHits orders hits from several indices by the sort specs.
func mergeHits(all []hit, specs []sortSpec) {
	if len(specs) == 0 {
		specs = []sortSpec{{field: "_score", desc: true}}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := &all[i], &all[j]
		for k, s := range specs {
			var c int
			if s.field == "_score" {
				switch {
				case a.score < b.score:
					c = -1
				case a.score > b.score:
					c = 1
				}
			} else if k < len(a.keys) && k < len(b.keys) {
				c = strings.Compare(a.keys[k], b.keys[k])
			}
			if s.desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		if a.ixPos != b.ixPos {
			return a.ixPos < b.ixPos
		}
		return a.rank < b.rank
	})
}

// ---- response ----

type shardsInfo struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Skipped    int `json:"skipped"`
	Failed     int `json:"failed"`
}

func allShards(n int) shardsInfo { return shardsInfo{Total: n, Successful: n} }

type totalHits struct {
	Value    uint64 `json:"value"`
	Relation string `json:"relation"`
}

type hitJSON struct {
	Index       string          `json:"_index"`
	ID          string          `json:"_id"`
	Version     *int64          `json:"_version,omitempty"`
	SeqNo       *int64          `json:"_seq_no,omitempty"`
	PrimaryTerm *int64          `json:"_primary_term,omitempty"`
	Score       *float64        `json:"_score"`
	Source      json.RawMessage `json:"_source,omitempty"`
	Sort        []any           `json:"sort,omitempty"`
}

type hitsJSON struct {
	Total    any       `json:"total,omitempty"`
	MaxScore *float64  `json:"max_score"`
	Hits     []hitJSON `json:"hits"`
}

type searchResponse struct {
	Took     int64      `json:"took"`
	TimedOut bool       `json:"timed_out"`
	Shards   shardsInfo `json:"_shards"`
	Hits     hitsJSON   `json:"hits"`
}

// execSearch runs a parsed search over the resolved indices.
func (s *Store) execSearch(ctx context.Context, ixs []*index, r *searchReq) (*searchResponse, *esError) {
	start := time.Now()
	var total uint64
	maxScore := math.Inf(-1)
	var all []hit
	for pos, ix := range ixs {
		res, err := ix.run(ctx, s.an, r, pos, start)
		if err != nil {
			return nil, err
		}
		total += res.total
		if len(res.hits) > 0 && res.maxScore > maxScore {
			maxScore = res.maxScore
		}
		all = append(all, res.hits...)
	}
	mergeHits(all, r.sort)
	if r.from >= len(all) {
		all = nil
	} else {
		all = all[r.from:]
	}
	if len(all) > r.size {
		all = all[:r.size]
	}
	resp := &searchResponse{Shards: allShards(len(ixs))}
	scored := len(r.sort) == 0 || r.trackScores
	for _, sp := range r.sort {
		if sp.field == "_score" {
			scored = true
		}
	}
	if scored && !math.IsInf(maxScore, -1) {
		ms := maxScore
		resp.Hits.MaxScore = &ms
	}
	if r.trackTotal {
		if r.totalAsInt {
			resp.Hits.Total = total
		} else {
			resp.Hits.Total = totalHits{Value: total, Relation: "eq"}
		}
	}
	resp.Hits.Hits = make([]hitJSON, 0, len(all))
	one := int64(1)
	for i := range all {
		h := &all[i]
		hj := hitJSON{Index: h.index, ID: h.id, Sort: h.decoded}
		if scored {
			sc := h.score
			hj.Score = &sc
		}
		if !r.source.disabled {
			hj.Source = r.source.apply(h.source)
		}
		if r.version {
			v := h.version
			hj.Version = &v
		}
		if r.seqNo {
			sq := h.seqNo
			hj.SeqNo, hj.PrimaryTerm = &sq, &one
		}
		resp.Hits.Hits = append(resp.Hits.Hits, hj)
	}
	resp.Took = time.Since(start).Milliseconds()
	return resp, nil
}

// parseCountRequest parses a _count body ({"query":...}) and ?q=.
func parseCountRequest(body []byte, params url.Values) (*searchReq, *esError) {
	r := newSearchReq()
	r.size = 0
	if len(bytes.TrimSpace(body)) > 0 {
		m, err := decodeObject(body, "request body")
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(m) {
			switch k {
			case "query":
				q, err := parseQuery(m[k])
				if err != nil {
					return nil, err
				}
				r.query = q
			default:
				return nil, parsingError("request does not support [%s]", k)
			}
		}
	}
	if p := params; p.Has("q") {
		var fields []string
		if df := p.Get("df"); df != "" {
			fields = []string{df}
		}
		n, err := parseLucene(p.Get("q"), fields, p.Get("default_operator"), p.Get("lenient") == "true")
		if err != nil {
			return nil, err
		}
		r.query = n
	}
	return r, nil
}

func (s *Store) execCount(ctx context.Context, ixs []*index, r *searchReq) (uint64, *esError) {
	var total uint64
	now := time.Now()
	for pos, ix := range ixs {
		res, err := ix.run(ctx, s.an, r, pos, now)
		if err != nil {
			return 0, err
		}
		total += res.total
	}
	return total, nil
}
