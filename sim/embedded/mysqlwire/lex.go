package mysqlwire

import (
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind classifies a lexical token of MySQL SQL.
type tokKind uint8

const (
	tkWord    tokKind = iota + 1 // identifier or keyword, unquoted
	tkIdent                      // `quoted identifier`
	tkString                     // string literal; val holds the decoded value
	tkNumber                     // numeric literal
	tkHex                        // X'..', 0x.. (kept verbatim)
	tkParam                      // ? placeholder
	tkSysVar                     // @@[scope.]name; val holds the lower-case name
	tkUserVar                    // @name
	tkOp                         // operator or punctuation
	tkSemi                       // ; statement separator
	tkRaw                        // SQLite text produced by the rewriter, emitted verbatim
)

// token is one lexical token. Strings keep their decoded value so they can be
// re-emitted in SQLite syntax (MySQL backslash escapes do not exist there).
type token struct {
	kind tokKind
	text string // source text (for tkString: unused)
	up   string // upper-cased text of words
	val  string // decoded value of strings, name of system variables
	bin  bool   // string carried a _binary introducer
	sp   bool   // whitespace or a comment preceded the token
}

// errSyntax marks lexer and rewriter errors that map to MySQL error 1064.
type errSyntax struct{ msg string }

func (e *errSyntax) Error() string { return e.msg }

func syntaxErr(msg string) error { return &errSyntax{msg: msg} }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isIdentChar(c byte) bool {
	return c == '_' || c == '$' || isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

// wordish reports whether two adjacent tokens of these kinds need a space
// between them to stay two tokens.
func (t token) wordish() bool {
	switch t.kind {
	case tkWord, tkIdent, tkString, tkNumber, tkHex, tkParam, tkSysVar, tkUserVar, tkRaw:
		return true
	}
	return false
}

// is reports whether t is the word w (w upper-case).
func (t token) is(w string) bool { return t.kind == tkWord && t.up == w }

// isOp reports whether t is the operator or punctuation op.
func (t token) isOp(op string) bool { return t.kind == tkOp && t.text == op }

// lex splits a MySQL query into tokens. Comments are dropped (they only set
// the sp flag of the next token). It never panics; malformed input (an
// unterminated quote or comment, a control character) yields a syntax error.
func lex(q string) ([]token, error) {
	toks := make([]token, 0, len(q)/5+4)
	sp := false
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case isSpace(c):
			sp = true
			i++
			continue
		case c == '#' || (c == '-' && i+1 < len(q) && q[i+1] == '-' && (i+2 == len(q) || isSpace(q[i+2]) || q[i+2] < 0x20)):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				i = len(q)
			} else {
				i += j + 1
			}
			sp = true
			continue
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return nil, syntaxErr("unterminated comment")
			}
			i += 2 + j + 2
			sp = true
			continue
		case c < 0x20 || c == 0x7f:
			return nil, syntaxErr("unexpected control character 0x" + strconv.FormatUint(uint64(c), 16))
		}
		start := i
		t := token{sp: sp}
		sp = false
		switch {
		case c == '\'' || c == '"':
			val, n, err := lexString(q[i:], c)
			if err != nil {
				return nil, err
			}
			t.kind, t.val = tkString, val
			i += n
		case (c == 'n' || c == 'N') && i+1 < len(q) && q[i+1] == '\'':
			val, n, err := lexString(q[i+1:], '\'')
			if err != nil {
				return nil, err
			}
			t.kind, t.val = tkString, val
			i += 1 + n
		case c == '`':
			j := i + 1
			for {
				k := strings.IndexByte(q[j:], '`')
				if k < 0 {
					return nil, syntaxErr("unterminated quoted identifier")
				}
				j += k + 1
				if j < len(q) && q[j] == '`' {
					j++
					continue
				}
				break
			}
			if strings.IndexByte(q[i:j], 0) >= 0 {
				return nil, syntaxErr("NUL in identifier")
			}
			t.kind = tkIdent
			i = j
		case (c == 'x' || c == 'X') && i+1 < len(q) && q[i+1] == '\'':
			k := strings.IndexByte(q[i+2:], '\'')
			if k < 0 {
				return nil, syntaxErr("unterminated hex literal")
			}
			for _, c := range []byte(q[i+2 : i+2+k]) {
				if !isHexDigit(c) {
					return nil, syntaxErr("invalid hex literal")
				}
			}
			i += 2 + k + 1
			t.kind = tkHex
		case (c == 'b' || c == 'B') && i+1 < len(q) && q[i+1] == '\'':
			k := strings.IndexByte(q[i+2:], '\'')
			if k < 0 {
				return nil, syntaxErr("unterminated bit literal")
			}
			bits := q[i+2 : i+2+k]
			i += 2 + k + 1
			v, err := strconv.ParseUint(bits, 2, 64)
			if err != nil && bits != "" {
				return nil, syntaxErr("invalid bit literal")
			}
			t.kind = tkNumber
			t.text = strconv.FormatUint(v, 10)
			toks = append(toks, t)
			continue
		case c == '0' && i+2 < len(q) && (q[i+1] == 'x' || q[i+1] == 'X') && isHexDigit(q[i+2]):
			i += 2
			for i < len(q) && isHexDigit(q[i]) {
				i++
			}
			t.kind = tkHex
			if i < len(q) && isIdentChar(q[i]) {
				for i < len(q) && isIdentChar(q[i]) {
					i++
				}
				t.kind = tkWord
			}
		case isDigit(c) || (c == '.' && i+1 < len(q) && isDigit(q[i+1]) && !prevWordish(toks, t.sp)):
			for i < len(q) && isDigit(q[i]) {
				i++
			}
			if i < len(q) && q[i] == '.' {
				i++
				for i < len(q) && isDigit(q[i]) {
					i++
				}
			}
			if i < len(q) && (q[i] == 'e' || q[i] == 'E') {
				j := i + 1
				if j < len(q) && (q[j] == '+' || q[j] == '-') {
					j++
				}
				if j < len(q) && isDigit(q[j]) {
					for j < len(q) && isDigit(q[j]) {
						j++
					}
					i = j
				}
			}
			t.kind = tkNumber
			if i < len(q) && isIdentChar(q[i]) && !strings.Contains(q[start:i], ".") {
				// MySQL allows identifiers that start with digits (1abc).
				for i < len(q) && isIdentChar(q[i]) {
					i++
				}
				t.kind = tkWord
			}
		case isIdentChar(c):
			for i < len(q) && isIdentChar(q[i]) {
				i++
			}
			t.kind = tkWord
		case c == '?':
			i++
			t.kind = tkParam
		case c == '@' && i+1 < len(q) && q[i+1] == '@':
			i += 2
			for i < len(q) && (isIdentChar(q[i]) || q[i] == '.') {
				i++
			}
			name := strings.ToLower(q[start+2 : i])
			if k := strings.LastIndexByte(name, '.'); k >= 0 {
				name = name[k+1:]
			}
			if name == "" {
				return nil, syntaxErr("invalid system variable")
			}
			t.kind, t.val = tkSysVar, name
		case c == '@':
			i++
			switch {
			case i < len(q) && (q[i] == '\'' || q[i] == '"'):
				_, n, err := lexString(q[i:], q[i])
				if err != nil {
					return nil, err
				}
				i += n
			case i < len(q) && q[i] == '`':
				k := strings.IndexByte(q[i+1:], '`')
				if k < 0 {
					return nil, syntaxErr("unterminated quoted identifier")
				}
				i += k + 2
			default:
				for i < len(q) && (isIdentChar(q[i]) || q[i] == '.') {
					i++
				}
			}
			t.kind = tkUserVar
		case c == ';':
			i++
			t.kind = tkSemi
		default:
			t.kind = tkOp
			switch {
			case strings.HasPrefix(q[i:], "<=>") || strings.HasPrefix(q[i:], "->>"):
				i += 3
			case i+1 < len(q) && isTwoCharOp(q[i:i+2]):
				i += 2
			default:
				_, n := utf8.DecodeRuneInString(q[i:])
				i += n
			}
		}
		if t.text == "" {
			t.text = q[start:i]
		}
		if t.kind == tkWord {
			t.up = strings.ToUpper(t.text)
		}
		toks = append(toks, t)
	}
	return toks, nil
}

func isTwoCharOp(s string) bool {
	switch s {
	case "<=", ">=", "<>", "!=", "||", "&&", ":=", "<<", ">>", "->", "==":
		return true
	}
	return false
}

// prevWordish reports whether the previous token ends in a way that makes a
// following '.' a qualifier (t.5 is not a number).
func prevWordish(toks []token, sp bool) bool {
	if sp || len(toks) == 0 {
		return false
	}
	p := toks[len(toks)-1]
	return p.kind == tkWord || p.kind == tkIdent || p.isOp(")")
}

// lexString decodes a MySQL string literal starting at s[0] == quote. It
// returns the decoded value and the number of bytes consumed.
func lexString(s string, quote byte) (string, int, error) {
	// Fast path: no escapes.
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			break
		}
		if c == quote {
			if i+1 < len(s) && s[i+1] == quote {
				break
			}
			return s[1:i], i + 1, nil
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 >= len(s) {
				break
			}
			i++
			switch e := s[i]; e {
			case '0':
				b.WriteByte(0)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'Z':
				b.WriteByte(0x1a)
			case '%', '_':
				b.WriteByte('\\')
				b.WriteByte(e)
			default:
				b.WriteByte(e)
			}
			continue
		}
		if c == quote {
			if i+1 < len(s) && s[i+1] == quote {
				b.WriteByte(quote)
				i++
				continue
			}
			return b.String(), i + 1, nil
		}
		b.WriteByte(c)
	}
	return "", 0, syntaxErr("unterminated string literal")
}

// sqliteString renders a decoded string value as an SQLite literal.
func sqliteString(v string, bin bool) string {
	if bin && !utf8.ValidString(v) {
		return "X'" + hex.EncodeToString([]byte(v)) + "'"
	}
	if strings.IndexByte(v, 0) >= 0 {
		// SQLite stops reading SQL text at NUL: carry it as a cast blob.
		return "(CAST(X'" + hex.EncodeToString([]byte(v)) + "' AS TEXT))"
	}
	if strings.IndexByte(v, '\'') < 0 {
		return "'" + v + "'"
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// sqlText renders one token as SQLite text.
func (t token) sqlText() string {
	switch t.kind {
	case tkString:
		return sqliteString(t.val, t.bin)
	case tkWord:
		if t.text != "" && t.text[0] == '$' {
			// SQLite reads $name as a parameter; MySQL as an identifier.
			return "`" + t.text + "`"
		}
	}
	return t.text
}

// render joins tokens back into SQL text.
func render(toks []token) string {
	var b strings.Builder
	n := 0
	for _, t := range toks {
		n += len(t.text) + len(t.val) + 3
	}
	b.Grow(n)
	for i, t := range toks {
		if i > 0 && (t.sp || (t.wordish() && toks[i-1].wordish())) {
			b.WriteByte(' ')
		}
		b.WriteString(t.sqlText())
	}
	return b.String()
}

// compact joins tokens without spaces, as MySQL names an unaliased column.
func compact(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind == tkString {
			b.WriteString(t.val)
			continue
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// identName returns the unquoted name of a word or quoted identifier.
func identName(t token) (string, bool) {
	switch t.kind {
	case tkWord:
		return t.text, true
	case tkIdent:
		s := t.text
		if len(s) >= 2 {
			s = s[1 : len(s)-1]
		}
		return strings.ReplaceAll(s, "``", "`"), true
	case tkString:
		return t.val, true
	}
	return "", false
}

// quoteIdent quotes a name as a backtick identifier (valid in SQLite too).
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}
