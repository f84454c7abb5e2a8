package search

import (
	"strings"
	"unicode"

	"github.com/blevesearch/bleve/v2/search/query"
)

// query_string / ?q= use a subset of the Lucene syntax ES accepts:
//   term  field:term  "a phrase"  field:"a phrase"  (grouping)  field:(a b)
//   AND OR NOT && || !  +must -must_not  field:[a TO b]  field:{a TO b}
//   field:>=10  field:<now-1h  field:*  _exists_:field  wild*card  term^2
// AND binds tighter than OR; adjacent clauses use default_operator.
// Unqualified terms search default_field / fields (default: every field,
// leniently).

type queryStringQ struct {
	root qnode
}

func parseQueryString(typ string, body any) (qnode, *esError) {
	m, err := asObject(typ, body)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(typ, m, "query", "default_field", "fields", "default_operator", "analyzer",
		"analyze_wildcard", "lenient", "allow_leading_wildcard", "flags", "fuzziness",
		"minimum_should_match", "type", "time_zone", "auto_generate_synonyms_phrase_query",
		"quote_field_suffix", "enable_position_increments", "phrase_slop", "tie_breaker",
		"max_determinized_states", "escape", "rewrite", "quote_analyzer", "fuzzy_max_expansions",
		"fuzzy_prefix_length", "fuzzy_transpositions", "all_fields"); err != nil {
		return nil, err
	}
	qs, ok := m["query"].(string)
	if !ok {
		return nil, parsingError("[%s] must be provided with a [query]", typ)
	}
	var fields []string
	if df, ok := m["default_field"].(string); ok {
		fields = []string{df}
	}
	fl, err := stringList(typ, "fields", m["fields"])
	if err != nil {
		return nil, err
	}
	if len(fl) > 0 {
		fields = fl
	}
	op, err := stringParam(typ, "default_operator", m["default_operator"])
	if err != nil {
		return nil, err
	}
	lenient, err := boolParam(typ, "lenient", m["lenient"])
	if err != nil {
		return nil, err
	}
	root, err := parseLucene(qs, fields, op, lenient)
	if err != nil {
		return nil, err
	}
	b, err := floatParam(typ, "boost", m["boost"])
	if err != nil {
		return nil, err
	}
	if b != 0 && b != 1 {
		return boostQ{inner: root, boost: b}, nil
	}
	return queryStringQ{root: root}, nil
}

func (q queryStringQ) compile(c *compileCtx) (query.Query, *esError) { return q.root.compile(c) }

type boostQ struct {
	inner qnode
	boost float64
}

func (q boostQ) compile(c *compileCtx) (query.Query, *esError) {
	out, err := q.inner.compile(c)
	if err != nil || isNone(out) {
		return out, err
	}
	return withBoost(out, q.boost), nil
}

// parseLucene parses a query string. defaultFields nil means every field.
func parseLucene(s string, defaultFields []string, defaultOp string, lenient bool) (qnode, *esError) {
	andDefault := false
	switch strings.ToUpper(defaultOp) {
	case "", "OR":
	case "AND":
		andDefault = true
	default:
		return nil, parsingError("[query_string] unknown default_operator [%s]", defaultOp)
	}
	toks, err := lexLucene(s)
	if err != nil {
		return nil, err
	}
	p := &luceneParser{toks: toks, src: s, andDefault: andDefault, fields: defaultFields, lenient: lenient}
	n, err := p.parseSeq(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.errorf("unexpected '%s'", p.toks[p.pos].text)
	}
	return n, nil
}

type ltokKind uint8

const (
	ltTerm ltokKind = iota
	ltPhrase
	ltAnd
	ltOr
	ltNot
	ltPlus
	ltMinus
	ltLParen
	ltRParen
	ltColon
	ltCaret
	ltTilde
	ltLBracket // [ or {
	ltRBracket // ] or }
	ltCompare  // > >= < <=
)

type ltok struct {
	kind ltokKind
	text string
	// wild marks a term with an unescaped * or ?.
	wild bool
}

func isLuceneSpecial(r rune) bool {
	return strings.ContainsRune(`()":^~[]{}+-!\/`, r) || unicode.IsSpace(r)
}

func lexLucene(s string) ([]ltok, *esError) {
	var toks []ltok
	rs := []rune(s)
	bad := func(format string, args ...any) *esError {
		e := parsingError("Failed to parse query [%s]", s)
		e.typ = "query_shard_exception"
		e.cause = parsingError(format, args...)
		return e
	}
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(':
			toks = append(toks, ltok{kind: ltLParen, text: "("})
			i++
		case r == ')':
			toks = append(toks, ltok{kind: ltRParen, text: ")"})
			i++
		case r == ':':
			toks = append(toks, ltok{kind: ltColon, text: ":"})
			i++
		case r == '^':
			toks = append(toks, ltok{kind: ltCaret, text: "^"})
			i++
		case r == '~':
			toks = append(toks, ltok{kind: ltTilde, text: "~"})
			i++
		case r == '[' || r == '{':
			toks = append(toks, ltok{kind: ltLBracket, text: string(r)})
			i++
		case r == ']' || r == '}':
			toks = append(toks, ltok{kind: ltRBracket, text: string(r)})
			i++
		case r == '+':
			toks = append(toks, ltok{kind: ltPlus, text: "+"})
			i++
		case r == '-':
			toks = append(toks, ltok{kind: ltMinus, text: "-"})
			i++
		case r == '!':
			toks = append(toks, ltok{kind: ltNot, text: "!"})
			i++
		case r == '&' && i+1 < len(rs) && rs[i+1] == '&':
			toks = append(toks, ltok{kind: ltAnd, text: "&&"})
			i += 2
		case r == '|' && i+1 < len(rs) && rs[i+1] == '|':
			toks = append(toks, ltok{kind: ltOr, text: "||"})
			i += 2
		case r == '>' || r == '<':
			op := string(r)
			i++
			if i < len(rs) && rs[i] == '=' {
				op += "="
				i++
			}
			toks = append(toks, ltok{kind: ltCompare, text: op})
		case r == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '\\' && i+1 < len(rs) {
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				if rs[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, bad("Lexical error: unterminated quoted phrase")
			}
			toks = append(toks, ltok{kind: ltPhrase, text: b.String()})
		default:
			var b strings.Builder
			wild := false
			for i < len(rs) {
				c := rs[i]
				if c == '\\' {
					if i+1 >= len(rs) {
						return nil, bad("Lexical error: escape character at end of query")
					}
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				// '-' and '+' inside a term belong to the term (p-123).
				if (c == '-' || c == '+') && b.Len() > 0 {
					b.WriteRune(c)
					i++
					continue
				}
				if isLuceneSpecial(c) || c == '>' || c == '<' {
					break
				}
				if c == '*' || c == '?' {
					wild = true
				}
				b.WriteRune(c)
				i++
			}
			if b.Len() == 0 {
				return nil, bad("Lexical error: unexpected character '%c'", rs[i])
			}
			t := b.String()
			switch t {
			case "AND":
				toks = append(toks, ltok{kind: ltAnd, text: t})
			case "OR":
				toks = append(toks, ltok{kind: ltOr, text: t})
			case "NOT":
				toks = append(toks, ltok{kind: ltNot, text: t})
			default:
				toks = append(toks, ltok{kind: ltTerm, text: t, wild: wild})
			}
		}
	}
	return toks, nil
}

type luceneParser struct {
	toks       []ltok
	pos        int
	src        string
	andDefault bool
	fields     []string
	lenient    bool
}

func (p *luceneParser) errorf(format string, args ...any) *esError {
	e := newESError(400, "query_shard_exception", "Failed to parse query [%s]", p.src)
	e.cause = parsingError("Cannot parse '%s': "+format, append([]any{p.src}, args...)...)
	return e
}

func (p *luceneParser) peek() (ltok, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return ltok{}, false
}

// clause is one element of a sequence with its modifier and the operator
// that joined it to the previous one.
type clause struct {
	node qnode
	mod  ltokKind // ltPlus, ltMinus (incl. NOT/!), or ltTerm for none
	op   ltokKind // ltAnd, ltOr, or ltTerm for implicit
}

// parseSeq parses clauses until ')' or the end.
func (p *luceneParser) parseSeq(depth int) (qnode, *esError) {
	if depth > 20 {
		return nil, p.errorf("too many nested groups")
	}
	var cls []clause
	pendingOp := ltTerm
	for {
		t, ok := p.peek()
		if !ok || t.kind == ltRParen {
			break
		}
		switch t.kind {
		case ltAnd, ltOr:
			if len(cls) == 0 || pendingOp != ltTerm {
				return nil, p.errorf("unexpected operator '%s'", t.text)
			}
			pendingOp = t.kind
			p.pos++
			continue
		}
		mod := ltTerm
		switch t.kind {
		case ltPlus:
			mod = ltPlus
			p.pos++
		case ltMinus, ltNot:
			mod = ltMinus
			p.pos++
		}
		n, err := p.parseUnit(depth, "")
		if err != nil {
			return nil, err
		}
		cls = append(cls, clause{node: n, mod: mod, op: pendingOp})
		pendingOp = ltTerm
	}
	if pendingOp != ltTerm {
		return nil, p.errorf("missing clause after operator")
	}
	if len(cls) == 0 {
		if depth == 0 && len(p.toks) == 0 {
			return matchNoneQ{}, nil
		}
		return nil, p.errorf("empty expression")
	}
	return p.combine(cls), nil
}

// combine applies Lucene semantics: with only implicit joins the clauses
// form one bool (+ must, - must_not, bare per default operator); explicit
// AND binds tighter than OR.
func (p *luceneParser) combine(cls []clause) qnode {
	explicit := false
	for _, c := range cls[1:] {
		if c.op != ltTerm {
			explicit = true
		}
	}
	if !explicit {
		var b boolQ
		for _, c := range cls {
			switch {
			case c.mod == ltPlus:
				b.must = append(b.must, c.node)
			case c.mod == ltMinus:
				b.mustNot = append(b.mustNot, c.node)
			case p.andDefault:
				b.must = append(b.must, c.node)
			default:
				b.should = append(b.should, c.node)
			}
		}
		if len(b.must)+len(b.should) == 0 {
			b.must = []qnode{matchAllQ{}}
		}
		if len(b.should) == 1 && len(b.must)+len(b.mustNot) == 0 {
			return b.should[0]
		}
		if len(b.must) == 1 && len(b.should)+len(b.mustNot) == 0 {
			return b.must[0]
		}
		return b
	}
	unit := func(c clause) qnode {
		if c.mod == ltMinus {
			return boolQ{must: []qnode{matchAllQ{}}, mustNot: []qnode{c.node}}
		}
		return c.node
	}
	var ors []qnode
	cur := []qnode{unit(cls[0])}
	for _, c := range cls[1:] {
		join := c.op
		if join == ltTerm {
			join = ltOr
			if p.andDefault {
				join = ltAnd
			}
		}
		if join == ltAnd {
			cur = append(cur, unit(c))
			continue
		}
		ors = append(ors, andOf(cur))
		cur = []qnode{unit(c)}
	}
	ors = append(ors, andOf(cur))
	if len(ors) == 1 {
		return ors[0]
	}
	return boolQ{should: ors}
}

func andOf(qs []qnode) qnode {
	if len(qs) == 1 {
		return qs[0]
	}
	return boolQ{must: qs}
}

// parseUnit parses one clause: a group, field:value or a bare value.
func (p *luceneParser) parseUnit(depth int, field string) (qnode, *esError) {
	t, ok := p.peek()
	if !ok {
		return nil, p.errorf("unexpected end of query")
	}
	var n qnode
	var err *esError
	switch t.kind {
	case ltLParen:
		p.pos++
		saved := p.fields
		if field != "" {
			p.fields = []string{field}
		}
		n, err = p.parseSeq(depth + 1)
		p.fields = saved
		if err != nil {
			return nil, err
		}
		if t2, ok := p.peek(); !ok || t2.kind != ltRParen {
			return nil, p.errorf("missing ')'")
		}
		p.pos++
	case ltTerm:
		// field:...
		if field == "" && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == ltColon {
			p.pos += 2
			return p.parseUnit(depth, t.text)
		}
		p.pos++
		n = p.termNode(field, t)
	case ltPhrase:
		p.pos++
		text := t.text
		n = p.forFields(field, func(f string) qnode { return matchQ{field: f, text: text, phrase: true} })
		if t2, ok := p.peek(); ok && t2.kind == ltTilde {
			p.pos++
			if t3, ok := p.peek(); ok && t3.kind == ltTerm && isDigits(t3.text) {
				p.pos++
			}
		}
	case ltLBracket:
		n, err = p.parseRangeUnit(field)
		if err != nil {
			return nil, err
		}
	case ltCompare:
		p.pos++
		v, ok := p.peek()
		if !ok || (v.kind != ltTerm && v.kind != ltPhrase) {
			return nil, p.errorf("expected a value after '%s'", t.text)
		}
		p.pos++
		r := rangeQ{}
		switch t.text {
		case ">":
			r.gt = v.text
		case ">=":
			r.gte = v.text
		case "<":
			r.lt = v.text
		case "<=":
			r.lte = v.text
		}
		n = p.forFields(field, func(f string) qnode { rr := r; rr.field = f; return rr })
	default:
		return nil, p.errorf("unexpected '%s'", t.text)
	}
	// boost / fuzzy suffixes
	for {
		t2, ok := p.peek()
		if !ok {
			break
		}
		if t2.kind == ltCaret {
			p.pos++
			b, ok := p.peek()
			if !ok || b.kind != ltTerm {
				return nil, p.errorf("expected a boost value after '^'")
			}
			p.pos++
			f, fok := toFloat(b.text)
			if !fok {
				return nil, p.errorf("invalid boost '%s'", b.text)
			}
			n = boostQ{inner: n, boost: f}
			continue
		}
		if t2.kind == ltTilde {
			p.pos++
			if b, ok := p.peek(); ok && b.kind == ltTerm && isDigits(b.text) {
				p.pos++
			}
			continue
		}
		break
	}
	return n, nil
}

func (p *luceneParser) termNode(field string, t ltok) qnode {
	text := t.text
	if field == "_exists_" {
		return existsQ{field: text}
	}
	if text == "*" && field != "" {
		return existsQ{field: field}
	}
	if text == "*" {
		return matchAllQ{}
	}
	// fuzzy: term~ or term~1 is handled by the suffix loop (ignored).
	if t.wild {
		return p.forFields(field, func(f string) qnode {
			return luceneWildcardQ{field: f, pattern: text}
		})
	}
	return p.forFields(field, func(f string) qnode { return luceneTermQ{field: f, text: text} })
}

// forFields builds the node for an explicit field, or for every default field.
func (p *luceneParser) forFields(field string, mk func(string) qnode) qnode {
	if field != "" {
		return mk(field)
	}
	if len(p.fields) == 1 && !strings.Contains(p.fields[0], "*") {
		return mk(p.fields[0])
	}
	return anyFieldQ{patterns: p.fields, mk: mk, lenient: p.lenient || len(p.fields) == 0}
}

func (p *luceneParser) parseRangeUnit(field string) (qnode, *esError) {
	open := p.toks[p.pos]
	p.pos++
	var vals []string
	for len(vals) < 3 {
		t, ok := p.peek()
		if !ok {
			return nil, p.errorf("unterminated range")
		}
		if t.kind != ltTerm && t.kind != ltPhrase {
			return nil, p.errorf("unexpected '%s' in range", t.text)
		}
		vals = append(vals, t.text)
		p.pos++
	}
	cl, ok := p.peek()
	if !ok || cl.kind != ltRBracket || vals[1] != "TO" {
		return nil, p.errorf("malformed range, expected [a TO b]")
	}
	p.pos++
	r := rangeQ{}
	lo, hi := vals[0], vals[2]
	if lo != "*" {
		if open.text == "[" {
			r.gte = lo
		} else {
			r.gt = lo
		}
	}
	if hi != "*" {
		if cl.text == "]" {
			r.lte = hi
		} else {
			r.lt = hi
		}
	}
	return p.forFields(field, func(f string) qnode { rr := r; rr.field = f; return rr }), nil
}

// anyFieldQ ORs a query over the fields matched by patterns (nil = all).
type anyFieldQ struct {
	patterns []string
	mk       func(string) qnode
	lenient  bool
}

func (q anyFieldQ) compile(c *compileCtx) (query.Query, *esError) {
	return compileAnyField(c, expandFields(c.m, q.patterns), q.lenient, q.mk)
}

// luceneTermQ is a bare query-string term: analysed per the field's type;
// a term that analyses to several tokens on a text field is a phrase.
type luceneTermQ struct {
	field, text string
}

func (q luceneTermQ) compile(c *compileCtx) (query.Query, *esError) {
	_, d, ok := c.m.resolve(q.field)
	if ok && d.typ == ftText {
		return matchQ{field: q.field, text: q.text, phrase: true}.compile(c)
	}
	if !ok && q.field != "_id" && q.field != "_index" {
		return matchNone(), nil
	}
	return c.exact(q.field, q.text)
}

// luceneWildcardQ is a query-string wildcard term; on text fields the
// pattern is lowercased like the indexed tokens.
type luceneWildcardQ struct {
	field, pattern string
}

func (q luceneWildcardQ) compile(c *compileCtx) (query.Query, *esError) {
	name, d, ok := c.m.resolve(q.field)
	if !ok || (d.typ != ftText && d.typ != ftKeyword) {
		return matchNone(), nil
	}
	pat := q.pattern
	if d.typ == ftText {
		pat = strings.ToLower(pat)
	}
	w := query.NewWildcardQuery(pat)
	w.SetField(name)
	return w, nil
}
