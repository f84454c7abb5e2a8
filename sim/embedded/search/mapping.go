package search

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/single"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	bindex "github.com/blevesearch/bleve_index_api"
)

// fieldType is the kind of a mapped field, as ES mapping types collapse onto
// what bleve can index.
type fieldType uint8

const (
	ftText fieldType = iota + 1
	ftKeyword
	ftLong
	ftDouble
	ftDate
	ftBoolean
	ftObject
	// ftIgnored is a mapped field whose values are kept in _source only
	// (enabled: false, or a type this server does not index).
	ftIgnored
)

// fieldDef is one entry of an index's mapping.
type fieldDef struct {
	typ fieldType
	// esType is the ES type name reported by _mapping.
	esType string
	// kwSub is the name of the keyword subfield of a text field ("" = none).
	kwSub string
	// ignoreAbove skips keyword values longer than this many characters (0 = no limit).
	ignoreAbove int
}

const (
	// fieldNamesField holds the names of the fields a document has, for exists.
	fieldNamesField  = "_field_names"
	dynamicKeywordIA = 256
	maxFieldsLimit   = 1000
	maxDepthLimit    = 20
	// dateLayout is stored by bleve next to each date value.
	dateLayout = time.RFC3339Nano
)

// dynamic controls what happens to fields that are not in the mapping.
type dynamic uint8

const (
	dynamicTrue dynamic = iota
	dynamicFalse
	dynamicStrict
)

// analyzers are the two analysers every index uses: ES "standard" (unicode
// word boundaries + lowercase, no stop words) and "keyword" (one token).
type analyzers struct {
	standard analysis.Analyzer
	keyword  analysis.Analyzer
}

func newAnalyzers() analyzers {
	return analyzers{
		standard: &analysis.DefaultAnalyzer{
			Tokenizer:    unicode.NewUnicodeTokenizer(),
			TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()},
		},
		keyword: &analysis.DefaultAnalyzer{Tokenizer: single.NewSingleTokenTokenizer()},
	}
}

// analyze returns the terms of text under the standard analyser.
func (a analyzers) analyze(text string) []string {
	toks := a.standard.Analyze([]byte(text))
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		out = append(out, string(t.Term))
	}
	return out
}

const (
	optsText    = bindex.IndexField
	optsKeyword = bindex.IndexField | bindex.DocValues
	optsNames   = bindex.IndexField
)

// mapping is an index's field registry. It is guarded by the index lock.
type mapping struct {
	fields  map[string]fieldDef
	dynamic dynamic
}

func newMapping() *mapping { return &mapping{fields: map[string]fieldDef{}} }

// resolve maps a query field name to the bleve field and its definition.
// "x.keyword" resolves to the keyword subfield of text field x.
func (m *mapping) resolve(name string) (string, fieldDef, bool) {
	if d, ok := m.fields[name]; ok {
		return name, d, true
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if d, ok := m.fields[name[:i]]; ok && d.typ == ftText && d.kwSub != "" && d.kwSub == name[i+1:] {
			return name, fieldDef{typ: ftKeyword, esType: "keyword", ignoreAbove: d.ignoreAbove}, true
		}
	}
	return "", fieldDef{}, false
}

// leafNames returns the sorted names of every searchable leaf field,
// including keyword subfields.
func (m *mapping) leafNames() []string {
	out := make([]string, 0, len(m.fields))
	for name, d := range m.fields {
		switch d.typ {
		case ftObject, ftIgnored:
			continue
		}
		out = append(out, name)
		if d.typ == ftText && d.kwSub != "" {
			out = append(out, name+"."+d.kwSub)
		}
	}
	sort.Strings(out)
	return out
}

// properties renders the mapping as ES "properties".
func (m *mapping) properties() map[string]any {
	root := map[string]any{}
	names := make([]string, 0, len(m.fields))
	for n := range m.fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		d := m.fields[name]
		parts := strings.Split(name, ".")
		props := root
		for _, p := range parts[:len(parts)-1] {
			obj, _ := props[p].(map[string]any)
			if obj == nil {
				obj = map[string]any{}
				props[p] = obj
			}
			sub, _ := obj["properties"].(map[string]any)
			if sub == nil {
				sub = map[string]any{}
				obj["properties"] = sub
			}
			props = sub
		}
		leaf, _ := props[parts[len(parts)-1]].(map[string]any)
		if leaf == nil {
			leaf = map[string]any{}
			props[parts[len(parts)-1]] = leaf
		}
		switch d.typ {
		case ftObject:
			if _, ok := leaf["properties"]; !ok {
				leaf["properties"] = map[string]any{}
			}
		case ftText:
			leaf["type"] = d.esType
			if d.kwSub != "" {
				kw := map[string]any{"type": "keyword"}
				if d.ignoreAbove > 0 {
					kw["ignore_above"] = d.ignoreAbove
				}
				leaf["fields"] = map[string]any{d.kwSub: kw}
			}
		default:
			leaf["type"] = d.esType
			if d.typ == ftKeyword && d.ignoreAbove > 0 {
				leaf["ignore_above"] = d.ignoreAbove
			}
			if d.typ == ftIgnored && d.esType == "object" {
				leaf["enabled"] = false
			}
		}
	}
	return root
}

// applyMappings merges an ES "mappings" object into m. Explicit types win
// over what dynamic mapping would choose.
func (m *mapping) applyMappings(raw any) *esError {
	obj, ok := raw.(map[string]any)
	if !ok {
		return badRequest("mapper_parsing_exception", "mappings must be an object")
	}
	if d, ok := obj["dynamic"]; ok {
		switch fmt.Sprint(d) {
		case "true", "runtime":
			m.dynamic = dynamicTrue
		case "false":
			m.dynamic = dynamicFalse
		case "strict":
			m.dynamic = dynamicStrict
		default:
			return badRequest("mapper_parsing_exception", "unknown value [%v] for [dynamic]", d)
		}
	}
	props, ok := obj["properties"]
	if !ok {
		return nil
	}
	return m.applyProperties("", props, 1)
}

func (m *mapping) applyProperties(prefix string, raw any, depth int) *esError {
	if depth > maxDepthLimit {
		return badRequest("mapper_parsing_exception", "mapping depth limit [%d] exceeded", maxDepthLimit)
	}
	props, ok := raw.(map[string]any)
	if !ok {
		return badRequest("mapper_parsing_exception", "[properties] must be an object")
	}
	for name, v := range props {
		if !validFieldName(name) {
			return badRequest("mapper_parsing_exception", "invalid field name [%s]", name)
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		spec, ok := v.(map[string]any)
		if !ok {
			return badRequest("mapper_parsing_exception", "Expected map for property [fields] on field [%s] but got a class java.lang.String", name)
		}
		typ, _ := spec["type"].(string)
		if typ == "" {
			if _, hasProps := spec["properties"]; hasProps {
				typ = "object"
			} else {
				return badRequest("mapper_parsing_exception", "No type specified for field [%s]", path)
			}
		}
		if len(m.fields) >= maxFieldsLimit {
			return illegalArgument("Limit of total fields [%d] has been exceeded", maxFieldsLimit)
		}
		d := fieldDef{esType: typ}
		switch typ {
		case "object", "nested":
			d.typ = ftObject
			if en, ok := spec["enabled"].(bool); ok && !en {
				d.typ = ftIgnored
			}
		case "text", "match_only_text":
			d.typ = ftText
			if fields, ok := spec["fields"].(map[string]any); ok {
				for sub, sv := range fields {
					if sm, ok := sv.(map[string]any); ok && sm["type"] == "keyword" {
						d.kwSub = sub
						d.ignoreAbove = intParam(sm["ignore_above"])
					}
				}
			}
		case "keyword", "constant_keyword", "wildcard", "ip", "version":
			d.typ = ftKeyword
			d.ignoreAbove = intParam(spec["ignore_above"])
		case "long", "integer", "short", "byte", "unsigned_long":
			d.typ = ftLong
		case "double", "float", "half_float", "scaled_float":
			d.typ = ftDouble
		case "date", "date_nanos":
			d.typ = ftDate
		case "boolean":
			d.typ = ftBoolean
		default:
			d.typ = ftIgnored
		}
		m.fields[path] = d
		if sub, ok := spec["properties"]; ok && d.typ == ftObject {
			if err := m.applyProperties(path, sub, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func intParam(v any) int {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return int(n)
	case float64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func validFieldName(name string) bool {
	if strings.TrimSpace(name) == "" {
		return false
	}
	for _, part := range strings.Split(name, ".") {
		if part == "" {
			return false
		}
	}
	return true
}

// metadataFields may not appear inside a document source.
var metadataFields = map[string]bool{
	"_id": true, "_index": true, "_source": true, "_routing": true, "_version": true,
	"_seq_no": true, "_primary_term": true, "_field_names": true, "_ignored": true,
	"_doc_count": true, "_tier": true, "_nested_path": true, "_data_stream_timestamp": true,
}

// docBuilder turns one JSON source into a bleve document, collecting the
// mapping additions it needs (committed only if the whole document parses).
type docBuilder struct {
	m     *mapping
	an    analyzers
	id    string
	doc   *document.Document
	added map[string]fieldDef
	names map[string]struct{}
}

func docParseError(format string, args ...any) *esError {
	return badRequest("document_parsing_exception", format, args...)
}

// buildDocument maps a decoded source onto a bleve document. On success the
// returned additions must be committed to the mapping with commit.
func buildDocument(m *mapping, an analyzers, id string, src map[string]any) (*document.Document, map[string]fieldDef, *esError) {
	b := &docBuilder{m: m, an: an, id: id, doc: document.NewDocument(id), names: map[string]struct{}{}}
	for k := range src {
		if metadataFields[k] {
			return nil, nil, docParseError("[1:1] Field [%s] is a metadata field and cannot be added inside a document. Use the index API request parameters.", k)
		}
	}
	if err := b.object("", src, 1); err != nil {
		return nil, nil, err
	}
	b.addNames()
	return b.doc, b.added, nil
}

// addNames indexes the document's field names for exists queries: one
// _field_names field holding every name, which namesAnalyzer splits into
// one term each. A field per name cost bleve a field's analysis and
// frequency map per name, about as many again as the document's own
// fields (a log line has 13). A name holding the separator gets a field of
// its own.
func (b *docBuilder) addNames() {
	var joined []byte
	for n := range b.names {
		if strings.IndexByte(n, namesSep) >= 0 {
			b.doc.AddField(document.NewTextFieldCustom(fieldNamesField, nil, []byte(n), optsNames, b.an.keyword))
			continue
		}
		if len(joined) > 0 {
			joined = append(joined, namesSep)
		}
		joined = append(joined, n...)
	}
	if len(joined) > 0 {
		b.doc.AddField(document.NewTextFieldCustom(fieldNamesField, nil, joined, optsNames, namesAnalyzer{}))
	}
}

// namesSep separates the names in a document's _field_names value.
const namesSep = 0

// namesAnalyzer splits a _field_names value at namesSep: each name is one
// term, as the keyword analyser makes of a name on its own.
type namesAnalyzer struct{}

// Analyze returns one token per name.
func (namesAnalyzer) Analyze(in []byte) analysis.TokenStream {
	ts := make(analysis.TokenStream, 0, bytes.Count(in, []byte{namesSep})+1)
	start := 0
	for i := 0; i <= len(in); i++ {
		if i < len(in) && in[i] != namesSep {
			continue
		}
		if i > start {
			ts = append(ts, &analysis.Token{Term: in[start:i], Start: start, End: i, Position: len(ts) + 1, Type: analysis.AlphaNumeric})
		}
		start = i + 1
	}
	return ts
}

// commit records mapping additions made by a successfully indexed document.
func (m *mapping) commit(added map[string]fieldDef) {
	for k, v := range added {
		if _, ok := m.fields[k]; !ok {
			m.fields[k] = v
		}
	}
}

func (b *docBuilder) lookup(path string) (fieldDef, bool) {
	if d, ok := b.added[path]; ok {
		return d, true
	}
	d, ok := b.m.fields[path]
	return d, ok
}

func (b *docBuilder) add(path string, d fieldDef) *esError {
	if len(b.m.fields)+len(b.added) >= maxFieldsLimit {
		return illegalArgument("Limit of total fields [%d] has been exceeded while adding new fields [%d]", maxFieldsLimit, 1)
	}
	if b.added == nil {
		b.added = map[string]fieldDef{}
	}
	b.added[path] = d
	return nil
}

// markName records a leaf field name for exists queries.
func (b *docBuilder) markName(path string) {
	b.names[path] = struct{}{}
}

func (b *docBuilder) object(path string, obj map[string]any, depth int) *esError {
	if depth > maxDepthLimit {
		return docParseError("The depth of the field [%s] has exceeded the allowed limit of [%d].", path, maxDepthLimit)
	}
	if path != "" {
		d, ok := b.lookup(path)
		switch {
		case !ok:
			if dyn := b.dynamicMode(); dyn != dynamicTrue {
				if dyn == dynamicStrict {
					return strictError(path)
				}
				return nil
			}
			if err := b.add(path, fieldDef{typ: ftObject, esType: "object"}); err != nil {
				return err
			}
		case d.typ == ftIgnored:
			return nil
		case d.typ != ftObject:
			return docParseError("[1:1] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", path, d.esType, b.id, preview(obj))
		}
	}
	for k, v := range obj {
		if !validFieldName(k) {
			if strings.TrimSpace(k) == "" {
				return docParseError("[1:1] field name cannot be an empty string")
			}
			return docParseError("[1:1] field name [%s] cannot contain an empty path segment", k)
		}
		child := k
		if path != "" {
			child = path + "." + k
		}
		if err := b.value(child, v, depth); err != nil {
			return err
		}
	}
	return nil
}

func (b *docBuilder) dynamicMode() dynamic { return b.m.dynamic }

func strictError(path string) *esError {
	return badRequest("strict_dynamic_mapping_exception", "[1:1] mapping set to strict, dynamic introduction of [%s] within [_doc] is not allowed", path)
}

func (b *docBuilder) value(path string, v any, depth int) *esError {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return b.object(path, x, depth+1)
	case []any:
		for _, e := range x {
			if err := b.value(path, e, depth); err != nil {
				return err
			}
		}
		return nil
	}
	return b.leaf(path, v)
}

func (b *docBuilder) leaf(path string, v any) *esError {
	d, ok := b.lookup(path)
	if !ok {
		if dyn := b.dynamicMode(); dyn != dynamicTrue {
			if dyn == dynamicStrict {
				return strictError(path)
			}
			return nil
		}
		d = dynamicDef(v)
		if err := b.add(path, d); err != nil {
			return err
		}
	}
	fail := func() *esError {
		return docParseError("[1:1] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", path, d.esType, b.id, preview(v))
	}
	switch d.typ {
	case ftIgnored:
		return nil
	case ftObject:
		return docParseError("[1:1] object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", path, path)
	case ftText:
		s := stringify(v)
		b.doc.AddField(document.NewTextFieldCustom(path, nil, []byte(s), optsText, b.an.standard))
		b.markName(path)
		if d.kwSub != "" && (d.ignoreAbove <= 0 || utf8.RuneCountInString(s) <= d.ignoreAbove) {
			kw := path + "." + d.kwSub
			b.doc.AddField(document.NewTextFieldCustom(kw, nil, []byte(s), optsKeyword, b.an.keyword))
		}
	case ftKeyword:
		s := stringify(v)
		if d.ignoreAbove > 0 && utf8.RuneCountInString(s) > d.ignoreAbove {
			return nil
		}
		b.doc.AddField(document.NewTextFieldCustom(path, nil, []byte(s), optsKeyword, b.an.keyword))
		b.markName(path)
	case ftLong, ftDouble:
		f, ok := toFloat(v)
		if !ok {
			return fail()
		}
		if d.typ == ftLong {
			f = math.Trunc(f)
		}
		b.doc.AddField(newNumberPoint(path, f, optsKeyword))
		b.markName(path)
	case ftDate:
		t, ok := toTime(v)
		if !ok {
			return fail()
		}
		f, err := newDatePoint(path, t, dateLayout, optsKeyword)
		if err != nil {
			return fail()
		}
		b.doc.AddField(f)
		b.markName(path)
	case ftBoolean:
		bv, ok := toBool(v)
		if !ok {
			return fail()
		}
		b.doc.AddField(document.NewBooleanFieldWithIndexingOptions(path, nil, bv, optsKeyword))
		b.markName(path)
	}
	return nil
}

// dynamicDef picks the ES dynamic mapping for a first-seen scalar.
func dynamicDef(v any) fieldDef {
	switch x := v.(type) {
	case string:
		if _, ok := parseDate(x); ok {
			return fieldDef{typ: ftDate, esType: "date"}
		}
		return fieldDef{typ: ftText, esType: "text", kwSub: "keyword", ignoreAbove: dynamicKeywordIA}
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return fieldDef{typ: ftDouble, esType: "float"}
		}
		return fieldDef{typ: ftLong, esType: "long"}
	case float64:
		return fieldDef{typ: ftDouble, esType: "float"}
	case bool:
		return fieldDef{typ: ftBoolean, esType: "boolean"}
	}
	return fieldDef{typ: ftKeyword, esType: "keyword"}
}

func preview(v any) string {
	s := stringify(v)
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}

// stringify renders a scalar the way ES coerces it into a string field.
func stringify(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func toFloat(v any) (float64, bool) {
	var f float64
	var err error
	switch x := v.(type) {
	case json.Number:
		f, err = strconv.ParseFloat(string(x), 64)
	case float64:
		f = x
	case int:
		f = float64(x)
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		return 0, false
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch x {
		case "true":
			return true, true
		case "false", "":
			return false, true
		}
	}
	return false, false
}

// toTime converts a date field value: a date string or epoch milliseconds.
func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		if t, ok := parseDate(x); ok {
			return t, true
		}
		if ms, err := strconv.ParseInt(x, 10, 64); err == nil {
			return time.UnixMilli(ms).UTC(), true
		}
		return time.Time{}, false
	case json.Number, float64:
		f, ok := toFloat(x)
		if !ok || math.Abs(f) > 1e15 {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(f)).UTC(), true
	}
	return time.Time{}, false
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
	"2006/01/02 15:04:05",
	"2006/01/02",
}

// parseDate accepts the strict_date_optional_time shapes (RFC 3339 with or
// without zone, fraction, seconds; a bare date) and yyyy/MM/dd [HH:mm:ss].
func parseDate(s string) (time.Time, bool) {
	if len(s) < 10 || len(s) > 40 || !isDigits(s[:4]) || (s[4] != '-' && s[4] != '/') || !isDigits(s[5:7]) || !isDigits(s[8:10]) {
		return time.Time{}, false
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// internalError reports a non-ES error as a 500.
func internalError(step string, err error) *esError {
	return newESError(http.StatusInternalServerError, "exception", "%s: %v", step, err)
}
