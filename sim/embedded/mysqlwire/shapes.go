package mysqlwire

import (
	"strconv"
	"strings"
	"sync"
)

// A shape is a query with its literals taken out. Applications send the same
// few shapes with new values (go-sql-driver's interpolateParams writes the
// values into the text), and rewriting each query took a twentieth of the
// stack's CPU and a quarter of its allocations at 1,250 payments/s. The
// shape cache keeps the rewritten statements of a shape and fills in the
// values of each new query.
//
// Only shapes whose rewrite provably passes every literal through unchanged
// are kept: DML statements and SELECTs (literals after FROM only) whose
// prepared form takes exactly the query's literals, in order, and
// BEGIN/COMMIT/ROLLBACK without literals.

// maxShapes bounds the cache; when full it starts again empty.
const maxShapes = 512

// shapeCache maps shape keys to the statements they rewrite to. A nil
// entry marks a shape that cannot be cached.
type shapeCache struct {
	mu sync.RWMutex
	m  map[string]*shape
}

// shape is the rewrite of one query shape.
type shape struct {
	stmts []statement // pargs empty; sql "" for DML (run psql with pargs)
	nargs []int       // literals each statement takes, in order
}

func (c *shapeCache) get(key string) (*shape, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sh, ok := c.m[key]
	return sh, ok
}

func (c *shapeCache) put(key string, sh *shape) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxShapes {
		c.m = make(map[string]*shape, 64)
	}
	c.m[key] = sh
}

// fill returns the shape's statements with args as their literals.
func (sh *shape) fill(args []any) []statement {
	out := make([]statement, len(sh.stmts))
	off := 0
	for i, st := range sh.stmts {
		n := sh.nargs[i]
		if n > 0 {
			st.pargs = args[off : off+n : off+n]
		}
		off += n
		out[i] = st
	}
	return out
}

// skeleton returns q's shape key (prefixed with the database, which
// rewriting depends on) and its literals: strings, and integers that fit in
// an int64. ok is false for a query the cache does not handle: comments,
// placeholders, variables, literals glued to a word (X'..', _binary'..'),
// decimals, and the clauses whose rewrite depends on a literal's value.
func skeleton(q, database string) (key string, args []any, ok bool) {
	var b strings.Builder
	b.Grow(len(database) + 1 + len(q))
	b.WriteString(database)
	b.WriteByte(0)
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			if i > 0 && (isIdentChar(q[i-1]) || q[i-1] == '@') {
				return "", nil, false
			}
			val, n, err := lexString(q[i:], c)
			if err != nil {
				return "", nil, false
			}
			args = append(args, val)
			b.WriteString("\x00s")
			i += n
		case isDigit(c):
			if i > 0 && (isIdentChar(q[i-1]) || q[i-1] == '.' || q[i-1] == '@') {
				return "", nil, false
			}
			j := i
			for j < len(q) && isDigit(q[j]) {
				j++
			}
			if j < len(q) && (isIdentChar(q[j]) || q[j] == '.') {
				return "", nil, false
			}
			v, err := strconv.ParseInt(q[i:j], 10, 64)
			if err != nil {
				return "", nil, false
			}
			args = append(args, v)
			b.WriteString("\x00n")
			i = j
		case isIdentChar(c):
			j := i
			for j < len(q) && isIdentChar(q[j]) {
				j++
			}
			if valueSensitive(q[i:j]) {
				return "", nil, false
			}
			b.WriteString(q[i:j])
			i = j
		case c == '`':
			j := i + 1
			for {
				k := strings.IndexByte(q[j:], '`')
				if k < 0 {
					return "", nil, false
				}
				j += k + 1
				if j < len(q) && q[j] == '`' {
					j++
					continue
				}
				break
			}
			b.WriteString(q[i:j])
			i = j
		case c == '?' || c == '@' || c == '#' ||
			c == '-' && i+1 < len(q) && q[i+1] == '-' ||
			c == '/' && i+1 < len(q) && q[i+1] == '*' ||
			c < 0x20 && !isSpace(c) || c == 0x7f:
			return "", nil, false
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), args, true
}

// valueSensitive reports whether a word starts a clause whose rewrite
// depends on the value of the literal after it.
func valueSensitive(w string) bool {
	for _, s := range [...]string{"COLLATE", "CHARSET", "CHARACTER", "INTERVAL", "CAST", "CONVERT", "ORDER", "GROUP"} {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

// shapeOf builds the cacheable shape of q from its rewrite, or nil when the
// rewrite does not pass args through unchanged. prepare says whether a
// statement's prepared form compiles.
func shapeOf(q string, stmts []statement, args []any, prepare func(string) bool) *shape {
	toks, err := lex(q)
	if err != nil {
		return nil
	}
	var parts [][]any
	var cur []any
	nonEmpty := false
	for i := 0; i <= len(toks); i++ {
		if i == len(toks) || toks[i].kind == tkSemi {
			if nonEmpty {
				parts = append(parts, cur)
			}
			cur, nonEmpty = nil, false
			continue
		}
		nonEmpty = true
		switch t := toks[i]; t.kind {
		case tkString:
			if t.bin {
				return nil
			}
			cur = append(cur, t.val)
		case tkNumber:
			v, err := strconv.ParseInt(t.text, 10, 64)
			if err != nil {
				return nil
			}
			cur = append(cur, v)
		case tkHex, tkParam, tkSysVar, tkUserVar:
			return nil
		}
	}
	if len(parts) != len(stmts) {
		return nil
	}
	sh := &shape{stmts: make([]statement, len(stmts)), nargs: make([]int, len(stmts))}
	off := 0
	for i, st := range stmts {
		lits := parts[i]
		switch st.kind {
		case kindDML, kindQuery:
			if st.psql == "" || st.params != 0 || len(st.extra) > 0 || !sameArgs(lits, st.pargs) || !prepare(st.psql) {
				return nil
			}
		case kindBegin, kindCommit, kindRollback:
			if len(lits) > 0 {
				return nil
			}
		default:
			return nil
		}
		if !sameArgs(lits, args[off:min(off+len(lits), len(args))]) {
			return nil
		}
		off += len(lits)
		st.sql, st.pargs, st.verbatim, st.toks = "", nil, "", nil
		sh.stmts[i], sh.nargs[i] = st, len(lits)
	}
	if off != len(args) {
		return nil
	}
	return sh
}

// sameArgs reports whether a and b hold the same values of the same types.
func sameArgs(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
