package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
)

// The query DSL is parsed once into qnodes (so syntax errors are reported
// even when no index matches) and compiled per index, because field types
// come from each index's mapping.

// qnode is a parsed ES query.
type qnode interface {
	compile(c *compileCtx) (query.Query, *esError)
}

// compileCtx is what compiling needs from one index.
type compileCtx struct {
	ctx context.Context
	// ix is the index being searched (its read lock is held); phrase
	// queries use it to verify candidates against their sources.
	ix      *index
	m       *mapping
	an      analyzers
	index   string
	now     time.Time
	lenient bool
}

func matchNone() query.Query { return query.NewMatchNoneQuery() }

func isNone(q query.Query) bool {
	_, ok := q.(*query.MatchNoneQuery)
	return ok
}

func withBoost(q query.Query, boost float64) query.Query {
	if boost != 0 && boost != 1 {
		if b, ok := q.(query.BoostableQuery); ok {
			b.SetBoost(boost)
		}
	}
	return q
}

// ---- parsing ----

// parseQuery parses one query object such as {"match":{"msg":"hello"}}.
func parseQuery(v any) (qnode, *esError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, parsingError("query malformed, must start with start_object, found [%s]", jsonKind(v))
	}
	if len(obj) == 0 {
		return matchAllQ{}, nil
	}
	if len(obj) > 1 {
		keys := sortedKeys(obj)
		return nil, parsingError("[%s] malformed query, expected [END_OBJECT] but found [FIELD_NAME]", keys[0])
	}
	for typ, body := range obj {
		p, ok := queryParsers[typ]
		if !ok {
			if unsupportedQueries[typ] {
				return nil, parsingError("[%s] query is not supported by this server", typ)
			}
			return nil, parsingError("unknown query [%s]", typ)
		}
		return p(typ, body)
	}
	return nil, nil
}

type queryParser func(typ string, body any) (qnode, *esError)

var queryParsers map[string]queryParser

func init() {
	queryParsers = map[string]queryParser{
		"match_all":           parseMatchAll,
		"match_none":          parseMatchNone,
		"match":               parseMatch,
		"match_phrase":        parseMatchPhrase,
		"term":                parseTerm,
		"terms":               parseTerms,
		"range":               parseRange,
		"bool":                parseBool,
		"query_string":        parseQueryString,
		"simple_query_string": parseQueryString,
		"exists":              parseExists,
		"ids":                 parseIDs,
		"prefix":              parsePatternQuery,
		"wildcard":            parsePatternQuery,
		"regexp":              parsePatternQuery,
		"fuzzy":               parsePatternQuery,
		"multi_match":         parseMultiMatch,
		"constant_score":      parseConstantScore,
		"dis_max":             parseDisMax,
	}
}

var unsupportedQueries = map[string]bool{
	"nested": true, "has_child": true, "has_parent": true, "geo_distance": true,
	"geo_bounding_box": true, "geo_shape": true, "script": true, "script_score": true,
	"function_score": true, "more_like_this": true, "percolate": true, "knn": true,
	"match_phrase_prefix": true, "match_bool_prefix": true, "intervals": true,
	"span_term": true, "span_near": true, "distance_feature": true, "boosting": true,
	"terms_set": true, "combined_fields": true, "pinned": true, "rank_feature": true,
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func asObject(typ string, v any) (map[string]any, *esError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, parsingError("[%s] query malformed, no start_object after query name", typ)
	}
	return m, nil
}

// checkKeys rejects parameters a query does not support.
func checkKeys(typ string, m map[string]any, allowed ...string) *esError {
	for _, k := range sortedKeys(m) {
		ok := k == "_name" || k == "boost"
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return parsingError("[%s] query does not support [%s]", typ, k)
		}
	}
	return nil
}

func floatParam(typ, name string, v any) (float64, *esError) {
	if v == nil {
		return 0, nil
	}
	f, ok := toFloat(v)
	if !ok {
		return 0, parsingError("[%s] query failed to parse [%s] value [%v]", typ, name, v)
	}
	return f, nil
}

func boolParam(typ, name string, v any) (bool, *esError) {
	if v == nil {
		return false, nil
	}
	b, ok := toBool(v)
	if !ok {
		return false, parsingError("[%s] query failed to parse [%s] value [%v]", typ, name, v)
	}
	return b, nil
}

func stringParam(typ, name string, v any) (string, *esError) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return string(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", parsingError("[%s] query failed to parse [%s]: expected a value, found [%s]", typ, name, jsonKind(v))
}

// singleField returns the one field of a {"field": value} query body.
// fieldQuery reads the {"<field>": <value>} object most leaf queries take.
func fieldQuery(typ string, body any) (string, any, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return "", nil, err
	}
	return singleField(typ, m)
}

func singleField(typ string, m map[string]any) (string, any, *esError) {
	var field string
	var val any
	for _, k := range sortedKeys(m) {
		if k == "_name" || k == "boost" {
			continue
		}
		if field != "" {
			return "", nil, parsingError("[%s] query doesn't support multiple fields, found [%s] and [%s]", typ, field, k)
		}
		field, val = k, m[k]
	}
	if field == "" {
		return "", nil, parsingError("[%s] query malformed, no field specified", typ)
	}
	return field, val, nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, json.Number, bool, float64:
		return true
	}
	return false
}

// ---- match_all / match_none ----

type matchAllQ struct{ boost float64 }

func parseMatchAll(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(typ, m); err != nil {
		return nil, err
	}
	b, err := floatParam(typ, "boost", m["boost"])
	return matchAllQ{boost: b}, err
}

func (q matchAllQ) compile(*compileCtx) (query.Query, *esError) {
	return withBoost(query.NewMatchAllQuery(), q.boost), nil
}

type matchNoneQ struct{}

func parseMatchNone(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	return matchNoneQ{}, checkKeys(typ, m)
}

func (matchNoneQ) compile(*compileCtx) (query.Query, *esError) { return matchNone(), nil }

// ---- term / terms ----

type termQ struct {
	field string
	value any
	boost float64
}

func parseTerm(typ string, body any) (qnode, *esError) {
	field, v, err := fieldQuery(typ, body)
	if err != nil {
		return nil, err
	}
	q := termQ{field: field}
	if obj, ok := v.(map[string]any); ok {
		if err := checkKeys(typ, obj, "value", "case_insensitive"); err != nil {
			return nil, err
		}
		v = obj["value"]
		if q.boost, err = floatParam(typ, "boost", obj["boost"]); err != nil {
			return nil, err
		}
	}
	if !isScalar(v) {
		return nil, parsingError("[%s] query does not support array of values", typ)
	}
	q.value = v
	return q, nil
}

func (q termQ) compile(c *compileCtx) (query.Query, *esError) {
	out, err := c.exact(q.field, q.value)
	if err != nil {
		return nil, err
	}
	return withBoost(out, q.boost), nil
}

// exact builds an exact-value query on a field according to its type.
func (c *compileCtx) exact(field string, v any) (query.Query, *esError) {
	switch field {
	case "_id":
		return query.NewDocIDQuery([]string{stringify(v)}), nil
	case "_index":
		if wildcardMatch(stringify(v), c.index) {
			return query.NewMatchAllQuery(), nil
		}
		return matchNone(), nil
	}
	name, d, ok := c.m.resolve(field)
	if !ok {
		return matchNone(), nil
	}
	switch d.typ {
	case ftText, ftKeyword:
		t := query.NewTermQuery(stringify(v))
		t.SetField(name)
		return t, nil
	case ftLong, ftDouble:
		f, ok := toFloat(v)
		if !ok {
			return c.fail(field, "failed to create query: For input string: \"%s\"", stringify(v))
		}
		return numberRange(name, &f, &f, true, true), nil
	case ftDate:
		t, err := parseDateMath(v, false, c.now)
		if err != nil {
			return c.fail(field, "failed to parse date field [%s]: %v", stringify(v), err)
		}
		end, _ := parseDateMath(v, true, c.now)
		r, err := dateRange(name, t, end, true, true)
		if err != nil {
			return c.fail(field, "failed to parse date field [%s]: %v", stringify(v), err)
		}
		return r, nil
	case ftBoolean:
		b, ok := toBool(v)
		if !ok {
			return c.fail(field, "Can't parse boolean value [%s], expected [true] or [false]", stringify(v))
		}
		s := "F"
		if b {
			s = "T"
		}
		t := query.NewTermQuery(s)
		t.SetField(name)
		return t, nil
	}
	return matchNone(), nil
}

// fail reports a value that does not fit the field, unless lenient.
func (c *compileCtx) fail(field, format string, args ...any) (query.Query, *esError) {
	if c.lenient {
		return matchNone(), nil
	}
	e := badRequest("query_shard_exception", format, args...)
	e.extra = map[string]any{"index": c.index, "field": field}
	return nil, e
}

type termsQ struct {
	field  string
	values []any
	boost  float64
}

func parseTerms(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	field, v, err := singleField(typ, m)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, parsingError("[%s] query does not support [%s] (terms lookup is not supported)", typ, field)
	}
	for _, e := range arr {
		if !isScalar(e) {
			return nil, parsingError("[%s] query values must be scalars, found [%s]", typ, jsonKind(e))
		}
	}
	b, err := floatParam(typ, "boost", m["boost"])
	return termsQ{field: field, values: arr, boost: b}, err
}

func (q termsQ) compile(c *compileCtx) (query.Query, *esError) {
	if q.field == "_id" {
		ids := make([]string, len(q.values))
		for i, v := range q.values {
			ids[i] = stringify(v)
		}
		return withBoost(query.NewDocIDQuery(ids), q.boost), nil
	}
	var qs []query.Query
	for _, v := range q.values {
		t, err := c.exact(q.field, v)
		if err != nil {
			return nil, err
		}
		if !isNone(t) {
			qs = append(qs, t)
		}
	}
	if len(qs) == 0 {
		return matchNone(), nil
	}
	return withBoost(query.NewDisjunctionQuery(qs), q.boost), nil
}

// ---- match / match_phrase / multi_match ----

type matchQ struct {
	field     string
	text      any
	and       bool
	msm       string
	fuzziness string
	zeroAll   bool
	phrase    bool
	boost     float64
}

func parseMatch(typ string, body any) (qnode, *esError) {
	field, v, err := fieldQuery(typ, body)
	if err != nil {
		return nil, err
	}
	q := matchQ{field: field, text: v}
	if obj, ok := v.(map[string]any); ok {
		if err := checkKeys(typ, obj, "query", "operator", "minimum_should_match", "fuzziness",
			"zero_terms_query", "analyzer", "lenient", "prefix_length", "max_expansions",
			"fuzzy_transpositions", "auto_generate_synonyms_phrase_query", "cutoff_frequency"); err != nil {
			return nil, err
		}
		if q.and, q.zeroAll, err = parseOperator(typ, obj); err != nil {
			return nil, err
		}
		if q.msm, err = stringParam(typ, "minimum_should_match", obj["minimum_should_match"]); err != nil {
			return nil, err
		}
		if q.fuzziness, err = stringParam(typ, "fuzziness", obj["fuzziness"]); err != nil {
			return nil, err
		}
		if q.boost, err = floatParam(typ, "boost", obj["boost"]); err != nil {
			return nil, err
		}
		q.text = obj["query"]
	}
	if !isScalar(q.text) {
		return nil, parsingError("[%s] unknown token [%s] after [%s]", typ, jsonKind(q.text), field)
	}
	if q.msm != "" {
		if _, err := minShould(q.msm, 1); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func parseOperator(typ string, obj map[string]any) (and, zeroAll bool, err *esError) {
	op, err := stringParam(typ, "operator", obj["operator"])
	if err != nil {
		return false, false, err
	}
	switch strings.ToLower(op) {
	case "", "or":
	case "and":
		and = true
	default:
		return false, false, parsingError("[%s] query: unknown operator [%s]", typ, op)
	}
	z, err := stringParam(typ, "zero_terms_query", obj["zero_terms_query"])
	if err != nil {
		return false, false, err
	}
	switch strings.ToLower(z) {
	case "", "none":
	case "all":
		zeroAll = true
	default:
		return false, false, parsingError("[%s] query: unsupported zero_terms_query value [%s]", typ, z)
	}
	return and, zeroAll, nil
}

func parseMatchPhrase(typ string, body any) (qnode, *esError) {
	field, v, err := fieldQuery(typ, body)
	if err != nil {
		return nil, err
	}
	q := matchQ{field: field, text: v, phrase: true}
	if obj, ok := v.(map[string]any); ok {
		if err := checkKeys(typ, obj, "query", "slop", "analyzer", "zero_terms_query"); err != nil {
			return nil, err
		}
		if _, q.zeroAll, err = parseOperator(typ, obj); err != nil {
			return nil, err
		}
		if q.boost, err = floatParam(typ, "boost", obj["boost"]); err != nil {
			return nil, err
		}
		q.text = obj["query"]
	}
	if !isScalar(q.text) {
		return nil, parsingError("[%s] unknown token [%s] after [%s]", typ, jsonKind(q.text), field)
	}
	return q, nil
}

func (q matchQ) compile(c *compileCtx) (query.Query, *esError) {
	name, d, ok := c.m.resolve(q.field)
	if !ok || d.typ != ftText {
		if !ok && q.field != "_id" && q.field != "_index" {
			return matchNone(), nil
		}
		out, err := c.exact(q.field, q.text)
		if err != nil {
			return nil, err
		}
		return withBoost(out, q.boost), nil
	}
	terms := c.an.analyze(stringify(q.text))
	if len(terms) == 0 {
		if q.zeroAll {
			return query.NewMatchAllQuery(), nil
		}
		return matchNone(), nil
	}
	if q.phrase && len(terms) > 1 {
		out, err := c.phrase(name, terms)
		if err != nil || isNone(out) {
			return out, err
		}
		return withBoost(out, q.boost), nil
	}
	fuzz, err := fuzziness(q.fuzziness)
	if err != nil {
		return nil, err
	}
	qs := make([]query.Query, 0, len(terms))
	for _, t := range terms {
		if fuzz != 0 {
			f := query.NewFuzzyQuery(t)
			f.SetField(name)
			f.SetFuzziness(autoFuzz(fuzz, t))
			qs = append(qs, f)
			continue
		}
		tq := query.NewTermQuery(t)
		tq.SetField(name)
		qs = append(qs, tq)
	}
	if len(qs) == 1 {
		return withBoost(qs[0], q.boost), nil
	}
	if q.and {
		return withBoost(query.NewConjunctionQuery(qs), q.boost), nil
	}
	min := 1
	if q.msm != "" {
		min, err = minShould(q.msm, len(qs))
		if err != nil {
			return nil, err
		}
		if min < 1 {
			min = 1
		}
		if min > len(qs) {
			return matchNone(), nil
		}
	}
	dq := query.NewDisjunctionQuery(qs)
	dq.SetMin(float64(min))
	return withBoost(dq, q.boost), nil
}

// fuzziness returns 0 (none), -1 (AUTO) or an edit distance.
func fuzziness(s string) (int, *esError) {
	switch strings.ToUpper(s) {
	case "", "0":
		return 0, nil
	case "AUTO":
		return -1, nil
	case "1":
		return 1, nil
	case "2":
		return 2, nil
	}
	if strings.HasPrefix(strings.ToUpper(s), "AUTO:") {
		return -1, nil
	}
	return 0, parsingError("failed to parse fuzziness [%s]", s)
}

func autoFuzz(f int, term string) int {
	if f >= 0 {
		return f
	}
	n := len([]rune(term))
	switch {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	}
	return 2
}

// minShould computes minimum_should_match for n optional clauses.
func minShould(spec string, n int) (int, *esError) {
	s := strings.TrimSpace(spec)
	bad := parsingError("invalid minimum_should_match [%s]", spec)
	if strings.HasSuffix(s, "%") {
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil {
			return 0, bad
		}
		if p < 0 {
			return n - int(math.Floor(float64(n)*-p/100)), nil
		}
		return int(math.Floor(float64(n) * p / 100)), nil
	}
	k, err := strconv.Atoi(s)
	if err != nil {
		return 0, bad
	}
	if k < 0 {
		k = n + k
	}
	if k < 0 {
		k = 0
	}
	return k, nil
}

type multiMatchQ struct {
	fields []string
	inner  matchQ
}

func parseMultiMatch(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(typ, m, "query", "fields", "type", "operator", "minimum_should_match",
		"fuzziness", "zero_terms_query", "analyzer", "lenient", "tie_breaker", "slop"); err != nil {
		return nil, err
	}
	q := multiMatchQ{inner: matchQ{text: m["query"]}}
	if !isScalar(q.inner.text) {
		return nil, parsingError("[%s] requires query value", typ)
	}
	fields, err := stringList(typ, "fields", m["fields"])
	if err != nil {
		return nil, err
	}
	q.fields = fields
	if q.inner.and, q.inner.zeroAll, err = parseOperator(typ, m); err != nil {
		return nil, err
	}
	if q.inner.msm, err = stringParam(typ, "minimum_should_match", m["minimum_should_match"]); err != nil {
		return nil, err
	}
	if q.inner.fuzziness, err = stringParam(typ, "fuzziness", m["fuzziness"]); err != nil {
		return nil, err
	}
	t, err := stringParam(typ, "type", m["type"])
	if err != nil {
		return nil, err
	}
	switch t {
	case "", "best_fields", "most_fields", "cross_fields", "bool_prefix":
	case "phrase", "phrase_prefix":
		q.inner.phrase = true
	default:
		return nil, parsingError("[%s] query: unknown type [%s]", typ, t)
	}
	if q.inner.boost, err = floatParam(typ, "boost", m["boost"]); err != nil {
		return nil, err
	}
	return q, nil
}

func stringList(typ, name string, v any) ([]string, *esError) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, parsingError("[%s] query: [%s] must be strings", typ, name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, parsingError("[%s] query: [%s] must be a string or an array of strings", typ, name)
}

func (q multiMatchQ) compile(c *compileCtx) (query.Query, *esError) {
	fields := expandFields(c.m, q.fields)
	return compileAnyField(c, fields, c.lenient || len(q.fields) == 0, func(f string) qnode {
		in := q.inner
		in.field = f
		return in
	})
}

// expandFields expands field patterns ("msg*", "*", "name^2") against the
// mapping; no patterns means every field.
func expandFields(m *mapping, patterns []string) []string {
	if len(patterns) == 0 {
		patterns = []string{"*"}
	}
	seen := map[string]bool{}
	var out []string
	leaves := m.leafNames()
	for _, p := range patterns {
		if i := strings.IndexByte(p, '^'); i >= 0 {
			p = p[:i]
		}
		if !strings.Contains(p, "*") {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			continue
		}
		for _, l := range leaves {
			if p == "*" && isSubfield(m, l) {
				continue
			}
			if wildcardMatch(p, l) && !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out
}

func isSubfield(m *mapping, name string) bool {
	_, direct := m.fields[name]
	return !direct
}

// compileAnyField ORs the query built for each field.
func compileAnyField(c *compileCtx, fields []string, lenient bool, mk func(string) qnode) (query.Query, *esError) {
	cc := *c
	cc.lenient = lenient
	var qs []query.Query
	for _, f := range fields {
		q, err := mk(f).compile(&cc)
		if err != nil {
			return nil, err
		}
		if !isNone(q) {
			qs = append(qs, q)
		}
	}
	return anyOf(qs), nil
}

// ---- range ----

type rangeQ struct {
	field            string
	gt, gte, lt, lte any
	boost            float64
}

func parseRange(typ string, body any) (qnode, *esError) {
	field, v, err := fieldQuery(typ, body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, parsingError("[%s] query malformed, no start_object after field name", typ)
	}
	if err := checkKeys(typ, obj, "gt", "gte", "lt", "lte", "from", "to", "include_lower",
		"include_upper", "format", "time_zone", "relation"); err != nil {
		return nil, err
	}
	q := rangeQ{field: field, gt: obj["gt"], gte: obj["gte"], lt: obj["lt"], lte: obj["lte"]}
	if from, ok := obj["from"]; ok {
		incl := true
		if il, ok := obj["include_lower"]; ok {
			if incl, err = boolParam(typ, "include_lower", il); err != nil {
				return nil, err
			}
		}
		if incl {
			q.gte = from
		} else {
			q.gt = from
		}
	}
	if to, ok := obj["to"]; ok {
		incl := true
		if iu, ok := obj["include_upper"]; ok {
			if incl, err = boolParam(typ, "include_upper", iu); err != nil {
				return nil, err
			}
		}
		if incl {
			q.lte = to
		} else {
			q.lt = to
		}
	}
	for _, b := range []any{q.gt, q.gte, q.lt, q.lte} {
		if b != nil && !isScalar(b) {
			return nil, parsingError("[%s] query: bounds must be values, found [%s]", typ, jsonKind(b))
		}
	}
	if q.boost, err = floatParam(typ, "boost", obj["boost"]); err != nil {
		return nil, err
	}
	return q, nil
}

func (q rangeQ) compile(c *compileCtx) (query.Query, *esError) {
	name, d, ok := c.m.resolve(q.field)
	if !ok {
		return matchNone(), nil
	}
	lower, lowerIncl := q.gte, true
	if q.gt != nil {
		lower, lowerIncl = q.gt, false
	}
	upper, upperIncl := q.lte, true
	if q.lt != nil {
		upper, upperIncl = q.lt, false
	}
	if lower == nil && upper == nil {
		return existsQ{field: q.field}.compile(c)
	}
	var out query.Query
	switch d.typ {
	case ftLong, ftDouble:
		var lo, hi *float64
		for _, b := range []struct {
			v   any
			dst **float64
		}{{lower, &lo}, {upper, &hi}} {
			if b.v == nil {
				continue
			}
			f, ok := toFloat(b.v)
			if !ok {
				return c.fail(q.field, "failed to create query: For input string: \"%s\"", stringify(b.v))
			}
			*b.dst = &f
		}
		out = numberRange(name, lo, hi, lowerIncl, upperIncl)
	case ftDate:
		var lo, hi time.Time
		if lower != nil {
			t, err := parseDateMath(lower, !lowerIncl, c.now)
			if err != nil {
				return c.fail(q.field, "failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]: %v", stringify(lower), err)
			}
			lo = t
		}
		if upper != nil {
			t, err := parseDateMath(upper, upperIncl, c.now)
			if err != nil {
				return c.fail(q.field, "failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]: %v", stringify(upper), err)
			}
			hi = t
		}
		r, err := dateRange(name, lo, hi, lowerIncl, upperIncl)
		if err != nil {
			return c.fail(q.field, "failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]: %v", q.field, err)
		}
		out = r
	case ftText, ftKeyword, ftBoolean:
		if d.typ == ftText && d.kwSub != "" {
			name = name + "." + d.kwSub
		}
		lo, hi := "", ""
		if lower != nil {
			lo = stringify(lower)
		}
		if upper != nil {
			hi = stringify(upper)
		}
		if lo == "" && hi == "" {
			return existsQ{field: q.field}.compile(c)
		}
		r := query.NewTermRangeInclusiveQuery(lo, hi, &lowerIncl, &upperIncl)
		r.SetField(name)
		out = r
	default:
		return matchNone(), nil
	}
	return withBoost(out, q.boost), nil
}

// parseDateMath parses a date bound: epoch millis, a date string, "now" or
// "<date>||" followed by date math (+1d, -15m, /d). roundUp selects the end
// of a rounded unit (used for gt and lte, as ES does).
func parseDateMath(v any, roundUp bool, now time.Time) (time.Time, error) {
	if _, ok := v.(string); !ok {
		t, ok := toTime(v)
		if !ok {
			return time.Time{}, fmt.Errorf("not a date")
		}
		return t, nil
	}
	s := strings.TrimSpace(v.(string))
	var anchor time.Time
	var rest string
	switch {
	case strings.HasPrefix(s, "now"):
		anchor, rest = now.UTC(), s[3:]
	case strings.Contains(s, "||"):
		i := strings.Index(s, "||")
		t, ok := toTime(s[:i])
		if !ok {
			return time.Time{}, fmt.Errorf("unparseable date [%s]", s[:i])
		}
		anchor, rest = t, s[i+2:]
	default:
		t, ok := toTime(s)
		if !ok {
			return time.Time{}, fmt.Errorf("unparseable date [%s]", s)
		}
		return t, nil
	}
	t := anchor
	for rest != "" {
		op := rest[0]
		rest = rest[1:]
		switch op {
		case '+', '-':
			i := 0
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			n := 1
			if i > 0 {
				var err error
				if n, err = strconv.Atoi(rest[:i]); err != nil || n > 1_000_000 {
					return time.Time{}, fmt.Errorf("bad date math amount")
				}
			}
			if i >= len(rest) {
				return time.Time{}, fmt.Errorf("missing date math unit")
			}
			if op == '-' {
				n = -n
			}
			var err error
			if t, err = addUnit(t, rest[i], n); err != nil {
				return time.Time{}, err
			}
			rest = rest[i+1:]
		case '/':
			if rest == "" {
				return time.Time{}, fmt.Errorf("missing rounding unit")
			}
			var err error
			if t, err = roundUnit(t, rest[0], roundUp); err != nil {
				return time.Time{}, err
			}
			rest = rest[1:]
		default:
			return time.Time{}, fmt.Errorf("operator not supported for date math [%s]", s)
		}
	}
	return t, nil
}

func addUnit(t time.Time, unit byte, n int) (time.Time, error) {
	switch unit {
	case 'y':
		return t.AddDate(n, 0, 0), nil
	case 'M':
		return t.AddDate(0, n, 0), nil
	case 'w':
		return t.AddDate(0, 0, 7*n), nil
	case 'd':
		return t.AddDate(0, 0, n), nil
	case 'h', 'H':
		return t.Add(time.Duration(n) * time.Hour), nil
	case 'm':
		return t.Add(time.Duration(n) * time.Minute), nil
	case 's':
		return t.Add(time.Duration(n) * time.Second), nil
	}
	return time.Time{}, fmt.Errorf("unknown date math unit [%c]", unit)
}

func roundUnit(t time.Time, unit byte, up bool) (time.Time, error) {
	t = t.UTC()
	var start time.Time
	var next func(time.Time) time.Time
	switch unit {
	case 'y':
		start = time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		next = func(x time.Time) time.Time { return x.AddDate(1, 0, 0) }
	case 'M':
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		next = func(x time.Time) time.Time { return x.AddDate(0, 1, 0) }
	case 'w':
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		wd := (int(d.Weekday()) + 6) % 7 // Monday = 0
		start = d.AddDate(0, 0, -wd)
		next = func(x time.Time) time.Time { return x.AddDate(0, 0, 7) }
	case 'd':
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		next = func(x time.Time) time.Time { return x.AddDate(0, 0, 1) }
	case 'h', 'H':
		start = t.Truncate(time.Hour)
		next = func(x time.Time) time.Time { return x.Add(time.Hour) }
	case 'm':
		start = t.Truncate(time.Minute)
		next = func(x time.Time) time.Time { return x.Add(time.Minute) }
	case 's':
		start = t.Truncate(time.Second)
		next = func(x time.Time) time.Time { return x.Add(time.Second) }
	default:
		return time.Time{}, fmt.Errorf("unknown rounding unit [%c]", unit)
	}
	if up {
		return next(start).Add(-time.Millisecond), nil
	}
	return start, nil
}

// ---- bool ----

type boolQ struct {
	must, filter, should, mustNot []qnode
	msm                           string
	boost                         float64
}

func parseBool(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(typ, m, "must", "filter", "should", "must_not", "minimum_should_match", "adjust_pure_negative"); err != nil {
		return nil, err
	}
	var q boolQ
	for _, c := range []struct {
		key string
		dst *[]qnode
	}{{"must", &q.must}, {"filter", &q.filter}, {"should", &q.should}, {"must_not", &q.mustNot}} {
		v, ok := m[c.key]
		if !ok {
			continue
		}
		items, isArr := v.([]any)
		if !isArr {
			items = []any{v}
		}
		for _, it := range items {
			sub, err := parseQuery(it)
			if err != nil {
				return nil, err
			}
			*c.dst = append(*c.dst, sub)
		}
	}
	if q.msm, err = stringParam(typ, "minimum_should_match", m["minimum_should_match"]); err != nil {
		return nil, err
	}
	if q.msm != "" {
		if _, err := minShould(q.msm, len(q.should)); err != nil {
			return nil, err
		}
	}
	if q.boost, err = floatParam(typ, "boost", m["boost"]); err != nil {
		return nil, err
	}
	return q, nil
}

func compileAll(c *compileCtx, qs []qnode) ([]query.Query, bool, *esError) {
	out := make([]query.Query, 0, len(qs))
	anyNone := false
	for _, q := range qs {
		b, err := q.compile(c)
		if err != nil {
			return nil, false, err
		}
		if isNone(b) {
			anyNone = true
			continue
		}
		out = append(out, b)
	}
	return out, anyNone, nil
}

func (q boolQ) compile(c *compileCtx) (query.Query, *esError) {
	must, mustNone, err := compileAll(c, q.must)
	if err != nil {
		return nil, err
	}
	filter, filterNone, err := compileAll(c, q.filter)
	if err != nil {
		return nil, err
	}
	if mustNone || filterNone {
		return matchNone(), nil
	}
	should, _, err := compileAll(c, q.should)
	if err != nil {
		return nil, err
	}
	mustNot, _, err := compileAll(c, q.mustNot)
	if err != nil {
		return nil, err
	}
	// ES: with no must/filter, at least one should clause must match.
	min := 0
	if len(q.must)+len(q.filter) == 0 && len(q.should) > 0 {
		min = 1
	}
	if q.msm != "" && len(q.should) > 0 {
		if min, err = minShould(q.msm, len(q.should)); err != nil {
			return nil, err
		}
	}
	if min > len(should) {
		return matchNone(), nil
	}
	conj := must
	var optional []query.Query
	if min > 0 {
		dq := query.NewDisjunctionQuery(should)
		dq.SetMin(float64(min))
		conj = append(conj, dq)
	} else {
		optional = should
	}
	if len(conj) == 0 {
		conj = []query.Query{query.NewMatchAllQuery()}
	}
	// The must side is always a conjunction: bleve treats a bare
	// match-none must clause as absent.
	bq := &query.BooleanQuery{Must: query.NewConjunctionQuery(conj)}
	if len(optional) > 0 {
		bq.Should = query.NewDisjunctionQuery(optional)
	}
	if len(mustNot) > 0 {
		bq.MustNot = query.NewDisjunctionQuery(mustNot)
	}
	if len(filter) > 0 {
		bq.Filter = query.NewConjunctionQuery(filter)
	}
	return withBoost(bq, q.boost), nil
}

// ---- exists / ids ----

type existsQ struct{ field string }

func parseExists(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(typ, m, "field"); err != nil {
		return nil, err
	}
	f, ok := m["field"].(string)
	if !ok || f == "" {
		return nil, parsingError("[%s] must be provided with a [field]", typ)
	}
	return existsQ{field: f}, nil
}

// compile uses _field_names, which records the leaf fields of each
// document: an object field exists if any of its leaves does, and a keyword
// subfield exists if its text field does.
func (q existsQ) compile(c *compileCtx) (query.Query, *esError) {
	var names []string
	d, direct := c.m.fields[q.field]
	_, _, resolved := c.m.resolve(q.field)
	switch {
	case strings.Contains(q.field, "*"):
		names = expandFields(c.m, []string{q.field})
	case direct && d.typ != ftObject:
		names = []string{q.field}
	case !direct && resolved:
		names = []string{q.field[:strings.LastIndexByte(q.field, '.')]}
	default:
		for n, fd := range c.m.fields {
			if strings.HasPrefix(n, q.field+".") && fd.typ != ftObject {
				names = append(names, n)
			}
		}
		sort.Strings(names)
	}
	var qs []query.Query
	for _, f := range names {
		if _, ok := c.m.fields[f]; !ok {
			if i := strings.LastIndexByte(f, '.'); i > 0 {
				f = f[:i] // keyword subfield: its text field
			}
		}
		t := query.NewTermQuery(f)
		t.SetField(fieldNamesField)
		qs = append(qs, t)
	}
	return anyOf(qs), nil
}

type idsQ struct {
	ids   []string
	boost float64
}

func parseIDs(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(typ, m, "values"); err != nil {
		return nil, err
	}
	arr, ok := m["values"].([]any)
	if !ok {
		return nil, parsingError("[%s] query: [values] must be an array", typ)
	}
	q := idsQ{}
	for _, v := range arr {
		if !isScalar(v) {
			return nil, parsingError("[%s] query: ids must be values", typ)
		}
		q.ids = append(q.ids, stringify(v))
	}
	q.boost, err = floatParam(typ, "boost", m["boost"])
	return q, err
}

func (q idsQ) compile(*compileCtx) (query.Query, *esError) {
	if len(q.ids) == 0 {
		return matchNone(), nil
	}
	return withBoost(query.NewDocIDQuery(q.ids), q.boost), nil
}

// ---- prefix / wildcard / regexp / fuzzy ----

type patternQ struct {
	kind  string
	field string
	value string
	fuzz  string
	boost float64
}

func parsePatternQuery(typ string, body any) (qnode, *esError) {
	field, v, err := fieldQuery(typ, body)
	if err != nil {
		return nil, err
	}
	q := patternQ{kind: typ, field: field}
	if obj, ok := v.(map[string]any); ok {
		if err := checkKeys(typ, obj, "value", "wildcard", "case_insensitive", "rewrite", "flags",
			"max_determinized_states", "fuzziness", "prefix_length", "max_expansions", "transpositions"); err != nil {
			return nil, err
		}
		v = obj["value"]
		if w, ok := obj["wildcard"]; ok && typ == "wildcard" {
			v = w
		}
		if q.fuzz, err = stringParam(typ, "fuzziness", obj["fuzziness"]); err != nil {
			return nil, err
		}
		if q.boost, err = floatParam(typ, "boost", obj["boost"]); err != nil {
			return nil, err
		}
	}
	if !isScalar(v) {
		return nil, parsingError("[%s] query requires a value", typ)
	}
	q.value = stringify(v)
	if typ == "fuzzy" {
		if _, err := fuzziness(q.fuzz); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (q patternQ) compile(c *compileCtx) (query.Query, *esError) {
	if q.field == "_id" && q.kind == "prefix" {
		// _id has no term index here beyond doc ids; fall back to none.
		return matchNone(), nil
	}
	name, d, ok := c.m.resolve(q.field)
	if !ok || (d.typ != ftText && d.typ != ftKeyword) {
		return matchNone(), nil
	}
	var out query.Query
	switch q.kind {
	case "prefix":
		p := query.NewPrefixQuery(q.value)
		p.SetField(name)
		out = p
	case "wildcard":
		w := query.NewWildcardQuery(q.value)
		w.SetField(name)
		out = w
	case "regexp":
		r := query.NewRegexpQuery(q.value)
		r.SetField(name)
		out = r
	case "fuzzy":
		f := query.NewFuzzyQuery(q.value)
		f.SetField(name)
		n, _ := fuzziness(q.fuzz)
		if q.fuzz == "" {
			n = -1
		}
		f.SetFuzziness(autoFuzz(n, q.value))
		out = f
	}
	return withBoost(out, q.boost), nil
}

// ---- constant_score / dis_max ----

type constantScoreQ struct {
	filter qnode
	boost  float64
}

func parseConstantScore(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(typ, m, "filter"); err != nil {
		return nil, err
	}
	f, ok := m["filter"]
	if !ok {
		return nil, parsingError("[%s] requires a 'filter' element", typ)
	}
	inner, err := parseQuery(f)
	if err != nil {
		return nil, err
	}
	b, err := floatParam(typ, "boost", m["boost"])
	return constantScoreQ{filter: inner, boost: b}, err
}

func (q constantScoreQ) compile(c *compileCtx) (query.Query, *esError) {
	out, err := q.filter.compile(c)
	if err != nil || isNone(out) {
		return out, err
	}
	return withBoost(out, q.boost), nil
}

type disMaxQ struct {
	queries []qnode
	boost   float64
}

func parseDisMax(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(typ, m, "queries", "tie_breaker"); err != nil {
		return nil, err
	}
	arr, ok := m["queries"].([]any)
	if !ok {
		return nil, parsingError("[%s] requires 'queries' field with at least one clause", typ)
	}
	q := disMaxQ{}
	for _, it := range arr {
		sub, err := parseQuery(it)
		if err != nil {
			return nil, err
		}
		q.queries = append(q.queries, sub)
	}
	q.boost, err = floatParam(typ, "boost", m["boost"])
	return q, err
}

func (q disMaxQ) compile(c *compileCtx) (query.Query, *esError) {
	qs, _, err := compileAll(c, q.queries)
	if err != nil {
		return nil, err
	}
	if len(qs) == 0 {
		return matchNone(), nil
	}
	return withBoost(query.NewDisjunctionQuery(qs), q.boost), nil
}

// anyOf matches what any of qs matches: nothing for none, the query itself
// for one.
func anyOf(qs []query.Query) query.Query {
	switch len(qs) {
	case 0:
		return matchNone()
	case 1:
		return qs[0]
	}
	return query.NewDisjunctionQuery(qs)
}
