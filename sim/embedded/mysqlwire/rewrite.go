package mysqlwire

import (
	"strconv"
	"strings"
)

// stmtKind tells the session how to run a statement.
type stmtKind uint8

const (
	kindEmpty       stmtKind = iota // nothing to run (only comments)
	kindQuery                       // read statement run by SQLite (SELECT, WITH, PRAGMA x, EXPLAIN ...)
	kindDML                         // INSERT/UPDATE/DELETE/REPLACE
	kindDDL                         // CREATE/DROP/ALTER/TRUNCATE: implicit commit, write
	kindWriteOther                  // PRAGMA x=y, VACUUM, REINDEX: write outside MySQL's model
	kindBegin                       // BEGIN / START TRANSACTION
	kindCommit                      // COMMIT
	kindRollback                    // ROLLBACK
	kindSavepoint                   // SAVEPOINT / RELEASE SAVEPOINT / ROLLBACK TO
	kindSet                         // SET ...: handled by the session
	kindShow                        // SHOW ... / DESCRIBE t: handled by the session
	kindUse                         // USE db
	kindNoop                        // statements accepted and ignored (LOCK TABLES, FLUSH ...)
	kindUnsupported                 // statements refused (ATTACH, KILL ...)
)

// writes reports whether a statement of this kind changes the database.
func (k stmtKind) writes() bool {
	return k == kindDML || k == kindDDL || k == kindWriteOther
}

// statement is one client statement after rewriting.
type statement struct {
	kind     stmtKind
	sql      string   // SQLite text of the main statement
	extra    []string // SQLite statements run after sql (indexes of CREATE TABLE, split DROP TABLE)
	toks     []token  // MySQL tokens, for statements the session handles itself
	params   int      // number of ? placeholders
	psql     string   // sql with its literals as ? placeholders (DML only), to prepare once
	pargs    []any    // the literals psql takes
	locking  bool     // SELECT ... FOR UPDATE / LOCK IN SHARE MODE
	insert   bool     // INSERT/REPLACE: report the last insert id
	txnRO    bool     // START TRANSACTION READ ONLY
	lastID   bool     // reads last_insert_rowid() (MySQL's LAST_INSERT_ID())
	selects  bool     // a SELECT (not a PRAGMA or EXPLAIN): its text may stay prepared
	verbatim string   // the statement as the client wrote it (for errors)
}

// rewriteEnv supplies the session values the rewriter substitutes for
// functions and system variables.
type rewriteEnv struct {
	database string
	user     string
	version  string
	connID   uint32
	sysVar   func(name string) any // value of @@name: int64, string or nil
}

// rewrite splits a MySQL query into statements and rewrites each into SQLite
// dialect. It is deliberately token based, not a SQL parser: it handles the
// MySQL constructs ordinary applications, migrations and CLIs send.
func rewrite(q string, env *rewriteEnv) ([]statement, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	var out []statement
	start := 0
	for i := 0; i <= len(toks); i++ {
		if i < len(toks) && toks[i].kind != tkSemi {
			continue
		}
		part := toks[start:i]
		start = i + 1
		if len(part) == 0 {
			continue
		}
		st, err := rewriteStmt(part, env)
		if err != nil {
			return nil, err
		}
		if st.kind != kindEmpty {
			out = append(out, st)
		}
	}
	return out, nil
}

// firstWord returns the index of the first word, skipping leading '('.
func firstWord(ts []token) int {
	for i, t := range ts {
		if t.isOp("(") {
			continue
		}
		if t.kind == tkWord {
			return i
		}
		return -1
	}
	return -1
}

func wordAt(ts []token, i int) string {
	if i >= 0 && i < len(ts) && ts[i].kind == tkWord {
		return ts[i].up
	}
	return ""
}

func countParams(ts []token) int {
	n := 0
	for _, t := range ts {
		if t.kind == tkParam {
			n++
		}
	}
	return n
}

func rewriteStmt(ts []token, env *rewriteEnv) (statement, error) {
	st := statement{verbatim: render(ts)}
	fw := firstWord(ts)
	if fw < 0 {
		// A literal, an operator or a '(' not followed by a word: let SQLite
		// judge (SELECT-less expressions are syntax errors there too).
		st.kind = kindQuery
		return finish(st, [][]token{ts}, env)
	}
	w := ts[fw].up
	next := wordAt(ts, fw+1)
	switch w {
	case "SELECT", "VALUES", "TABLE":
		st.kind, st.selects = kindQuery, w == "SELECT"
	case "WITH":
		st.kind = kindQuery
		depth := 0
		for _, t := range ts[fw+1:] {
			switch {
			case t.isOp("("):
				depth++
			case t.isOp(")"):
				depth--
			case depth == 0 && (t.is("INSERT") || t.is("UPDATE") || t.is("DELETE") || t.is("REPLACE")):
				st.kind = kindDML
			}
		}
	case "EXPLAIN", "DESCRIBE", "DESC":
		switch next {
		case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "QUERY", "ANALYZE", "FORMAT", "EXTENDED":
			st.kind = kindQuery
		default:
			st.kind, st.toks = kindShow, ts[fw:]
			return st, nil
		}
	case "INSERT", "REPLACE":
		st.kind, st.insert = kindDML, true
	case "UPDATE", "DELETE":
		st.kind = kindDML
	case "CREATE", "DROP", "ALTER", "TRUNCATE", "RENAME":
		st.kind = kindDDL
		if (w == "CREATE" || w == "DROP") && (next == "DATABASE" || next == "SCHEMA") {
			if w == "CREATE" {
				st.kind = kindNoop
			} else {
				st.kind = kindUnsupported
			}
			return st, nil
		}
		parts, err := rewriteDDL(ts[fw:])
		if err != nil {
			return st, err
		}
		return finish(st, parts, env)
	case "BEGIN", "START":
		if w == "START" && next != "TRANSACTION" {
			return st, syntaxErr("near 'START': expected START TRANSACTION")
		}
		st.kind = kindBegin
		for i := fw + 1; i+1 < len(ts); i++ {
			if ts[i].is("READ") && ts[i+1].is("ONLY") {
				st.txnRO = true
			}
		}
		return st, nil
	case "COMMIT", "END":
		st.kind = kindCommit
		return st, nil
	case "ROLLBACK":
		to := fw + 1
		if wordAt(ts, to) == "WORK" {
			to++
		}
		if wordAt(ts, to) == "TO" {
			st.kind = kindSavepoint
			return finish(st, [][]token{ts[fw:]}, env)
		}
		st.kind = kindRollback
		return st, nil
	case "SAVEPOINT", "RELEASE":
		st.kind = kindSavepoint
		return finish(st, [][]token{ts[fw:]}, env)
	case "SET":
		st.kind, st.toks = kindSet, ts[fw:]
		return st, nil
	case "SHOW":
		st.kind, st.toks = kindShow, ts[fw:]
		return st, nil
	case "USE":
		st.kind, st.toks = kindUse, ts[fw:]
		return st, nil
	case "LOCK", "UNLOCK", "FLUSH", "ANALYZE", "OPTIMIZE", "DO", "CHECK", "HANDLER", "RESET", "PURGE", "XA", "CHECKSUM", "REPAIR":
		if w == "ANALYZE" && next != "TABLE" && next != "LOCAL" && next != "NO_WRITE_TO_BINLOG" {
			st.kind = kindWriteOther // SQLite ANALYZE
			break
		}
		st.kind = kindNoop
		return st, nil
	case "PRAGMA":
		// Read-only introspection only: a PRAGMA assignment could switch the
		// shared storage out of WAL mode or turn off its safety.
		st.kind = kindQuery
		if !readPragma(ts[fw+1:]) {
			st.kind = kindUnsupported
			return st, nil
		}
	case "VACUUM", "REINDEX":
		st.kind = kindWriteOther
		for _, t := range ts {
			if t.is("INTO") { // VACUUM INTO 'file' writes anywhere
				st.kind = kindUnsupported
				return st, nil
			}
		}
	case "ATTACH", "DETACH", "KILL", "GRANT", "REVOKE", "LOAD", "CALL", "PREPARE", "EXECUTE", "DEALLOCATE", "INSTALL", "UNINSTALL", "SHUTDOWN", "CLONE", "IMPORT", "HELP":
		st.kind = kindUnsupported
		return st, nil
	default:
		st.kind = kindQuery
	}
	return finish(st, [][]token{ts}, env)
}

// readPragma reports whether PRAGMA ts only reads: no assignment, and an
// argument only for the schema introspection pragmas.
func readPragma(ts []token) bool {
	name := ""
	for i, t := range ts {
		switch {
		case t.isOp("="):
			return false
		case t.kind == tkWord && (i+1 >= len(ts) || !ts[i+1].isOp(".")) && name == "":
			name = strings.ToLower(t.text)
		case t.isOp("("):
			switch name {
			case "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
				"foreign_key_check", "integrity_check", "quick_check", "table_list":
			default:
				return false
			}
		}
	}
	return name != ""
}

// finish applies the general rewrites to every part and renders them.
func finish(st statement, parts [][]token, env *rewriteEnv) (statement, error) {
	for i, p := range parts {
		st.params += countParams(p)
		out, locking := generalPass(p, env, st.kind == kindQuery && i == 0)
		if locking {
			st.locking = true
		}
		if len(out) == 0 {
			continue
		}
		if i == 0 || st.sql == "" {
			st.sql = render(out)
			if i == 0 && st.params == 0 && (st.kind == kindDML || st.kind == kindQuery && literalFreeColumns(out)) {
				st.psql, st.pargs = parametrize(out)
			}
			continue
		}
		st.extra = append(st.extra, render(out))
	}
	if st.sql == "" {
		st.kind = kindEmpty
	}
	st.lastID = strings.Contains(st.sql, "last_insert_rowid()")
	return st, nil
}

// parametrize renders a DML statement with its string and integer literals
// as ? placeholders, so statements that differ only in values share one
// prepared SQLite statement (parsing was a tenth of the ledger's CPU). It
// returns "" when a literal may mean more than its value there: ORDER BY
// and GROUP BY positions, type lengths in CAST and CONVERT, INTERVAL units.
func parametrize(toks []token) (string, []any) {
	var args []any
	out := make([]token, len(toks))
	for i, t := range toks {
		out[i] = t
		switch t.kind {
		case tkWord:
			switch t.up {
			case "ORDER", "GROUP", "CAST", "CONVERT", "INTERVAL":
				return "", nil
			}
			continue
		case tkString:
			if t.bin {
				continue
			}
			args = append(args, t.val)
		case tkNumber:
			n, err := strconv.ParseInt(t.text, 10, 64)
			if err != nil { // decimals, exponents, huge values stay literal
				continue
			}
			args = append(args, n)
		default:
			continue
		}
		out[i] = token{kind: tkParam, text: "?", sp: t.sp}
	}
	if len(args) == 0 {
		return "", nil
	}
	return render(out), args
}

// literalFreeColumns reports whether a SELECT's result columns hold no
// literal: a literal there names its column (SELECT 'a' has a column a), so
// only literals after the top-level FROM may become parameters.
func literalFreeColumns(toks []token) bool {
	if len(toks) == 0 || toks[0].kind != tkWord || toks[0].up != "SELECT" {
		return false
	}
	depth := 0
	for _, t := range toks[1:] {
		switch {
		case t.isOp("("):
			depth++
		case t.isOp(")"):
			depth--
		case t.kind == tkWord && t.up == "FROM" && depth == 0:
			return true
		case t.kind == tkString, t.kind == tkNumber, t.kind == tkHex:
			return false
		}
	}
	return false
}

// timestampFSP is CURRENT_TIMESTAMP with fractional seconds, parenthesised so
// it is also valid as a column DEFAULT.
const timestampFSP = "(strftime('%Y-%m-%d %H:%M:%f','now'))"

const uuidExpr = "(lower(hex(randomblob(4)))||'-'||lower(hex(randomblob(2)))||'-4'||substr(lower(hex(randomblob(2))),2)||'-'||substr('89ab',1+(abs(random())%4),1)||substr(lower(hex(randomblob(2))),2)||'-'||lower(hex(randomblob(6))))"

// renamedFuncs maps MySQL function names to SQLite equivalents (same arguments).
func renamedFunc(up string) string {
	switch up {
	case "IF":
		return "iif"
	case "GREATEST":
		return "max"
	case "LEAST":
		return "min"
	case "CHAR_LENGTH", "CHARACTER_LENGTH":
		return "length"
	case "LCASE":
		return "lower"
	case "UCASE":
		return "upper"
	}
	return ""
}

func raw(s string) token { return token{kind: tkRaw, text: s, sp: true} }

func literal(v any) token {
	switch x := v.(type) {
	case nil:
		return token{kind: tkRaw, text: "NULL", sp: true}
	case int64:
		return token{kind: tkNumber, text: strconv.FormatInt(x, 10), sp: true}
	case string:
		return token{kind: tkString, val: x, sp: true}
	}
	return token{kind: tkRaw, text: "NULL", sp: true}
}

// closeParen returns the index of the ')' matching the '(' at i, or -1.
func closeParen(ts []token, i int) int {
	depth := 0
	for j := i; j < len(ts); j++ {
		switch {
		case ts[j].isOp("("):
			depth++
		case ts[j].isOp(")"):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// pass is one run of the general rewrites over a statement's tokens.
type pass struct {
	ts         []token
	out        []token
	env        *rewriteEnv
	selectList bool // alias substituted select items (SELECT @@x keeps the column name @@x)
	depth      int
	locking    bool // a locking read clause was stripped
	onDup      bool // inside ON DUPLICATE KEY UPDATE
	isInsert   bool
}

// generalPass rewrites MySQL expressions and clauses into SQLite syntax. It
// returns the new tokens and whether a locking read clause was stripped.
func generalPass(ts []token, env *rewriteEnv, selectList bool) ([]token, bool) {
	p := &pass{ts: ts, out: make([]token, 0, len(ts)+4), env: env, selectList: selectList}
	if fw := firstWord(ts); fw >= 0 {
		p.isInsert = ts[fw].is("INSERT") || ts[fw].is("REPLACE")
	}
	for i := 0; i < len(ts); {
		i = p.step(i)
	}
	return p.out, p.locking
}

func (p *pass) emit(ts ...token) { p.out = append(p.out, ts...) }

func (p *pass) last() token {
	if len(p.out) == 0 {
		return token{}
	}
	return p.out[len(p.out)-1]
}

// subst emits repl for the source tokens ts[i:j], aliased as MySQL names the
// column when it is a whole select item. It returns j.
func (p *pass) subst(i, j int, repl ...token) int {
	if len(repl) > 0 {
		repl[0].sp = true
	}
	alias := false
	if p.selectList && p.depth == 0 {
		if l := p.last(); l.is("SELECT") || l.is("DISTINCT") || l.isOp(",") {
			ts := p.ts
			alias = j >= len(ts) || ts[j].isOp(",") || ts[j].is("FROM") || ts[j].is("LIMIT") ||
				ts[j].is("WHERE") || ts[j].is("ORDER") || ts[j].is("UNION") || ts[j].is("INTO")
		}
	}
	p.emit(repl...)
	if alias {
		p.emit(raw("AS"), raw(quoteIdent(compact(p.ts[i:j]))))
	}
	return j
}

// step rewrites the token at i and returns the index of the next one.
func (p *pass) step(i int) int {
	ts := p.ts
	t := ts[i]
	switch t.kind {
	case tkOp:
		switch t.text {
		case "(":
			p.depth++
		case ")":
			p.depth--
		case "||":
			p.emit(token{kind: tkWord, text: "OR", up: "OR", sp: true})
			return i + 1
		case "&&":
			p.emit(token{kind: tkWord, text: "AND", up: "AND", sp: true})
			return i + 1
		case "<=>":
			p.emit(token{kind: tkWord, text: "IS", up: "IS", sp: true})
			return i + 1
		}
	case tkSysVar:
		return p.subst(i, i+1, literal(p.env.sysVar(t.val)))
	case tkUserVar:
		// User variables are not kept; SQLite would read @x as a parameter.
		p.emit(raw("NULL"))
		return i + 1
	case tkWord:
		// _binary'..' and other charset introducers.
		if t.text[0] == '_' && i+1 < len(ts) && ts[i+1].kind == tkString && !ts[i+1].sp {
			s := ts[i+1]
			s.sp = t.sp
			s.bin = t.up == "_BINARY"
			p.emit(s)
			return i + 2
		}
		if j, ok := p.dbQualified(i); ok {
			return j
		}
		if j, ok := p.word(i); ok {
			return j
		}
	case tkIdent:
		if j, ok := p.dbQualified(i); ok {
			return j
		}
	}
	p.emit(t)
	return i + 1
}

// dbQualified turns db.table into table for the session's database.
func (p *pass) dbQualified(i int) (int, bool) {
	ts := p.ts
	if p.env.database == "" || i+2 >= len(ts) || !ts[i+1].isOp(".") || ts[i+1].sp ||
		(ts[i+2].kind != tkWord && ts[i+2].kind != tkIdent) {
		return i, false
	}
	if name, _ := identName(ts[i]); name != p.env.database {
		return i, false
	}
	n := ts[i+2]
	n.sp = ts[i].sp
	p.emit(n)
	return i + 3, true
}

// word handles a word at ts[i]. It returns the next index and true when it
// consumed tokens, false to copy the word unchanged.
func (p *pass) word(i int) (int, bool) {
	ts, env := p.ts, p.env
	t := ts[i]
	nextOpen := i+1 < len(ts) && ts[i+1].isOp("(")
	emptyCall := nextOpen && i+2 < len(ts) && ts[i+2].isOp(")")
	// fspCall: NOW(6) and friends.
	fspCall := nextOpen && i+3 < len(ts) && ts[i+2].kind == tkNumber && ts[i+3].isOp(")")
	switch t.up {
	case "NOW", "CURRENT_TIMESTAMP", "LOCALTIME", "LOCALTIMESTAMP", "SYSDATE", "UTC_TIMESTAMP":
		switch {
		case emptyCall:
			return p.subst(i, i+3, raw("CURRENT_TIMESTAMP")), true
		case fspCall:
			if ts[i+2].text == "0" {
				return p.subst(i, i+4, raw("CURRENT_TIMESTAMP")), true
			}
			return p.subst(i, i+4, raw(timestampFSP)), true
		case !nextOpen && (t.up == "LOCALTIME" || t.up == "LOCALTIMESTAMP" || t.up == "CURRENT_TIMESTAMP"):
			return p.subst(i, i+1, raw("CURRENT_TIMESTAMP")), true
		}
	case "CURDATE", "CURRENT_DATE", "UTC_DATE":
		if emptyCall {
			return p.subst(i, i+3, raw("CURRENT_DATE")), true
		}
	case "CURTIME", "CURRENT_TIME", "UTC_TIME":
		if emptyCall {
			return p.subst(i, i+3, raw("CURRENT_TIME")), true
		}
	case "UNIX_TIMESTAMP":
		if emptyCall {
			return p.subst(i, i+3, raw("(CAST(strftime('%s','now') AS INTEGER))")), true
		}
	case "DATABASE", "SCHEMA":
		if emptyCall {
			var v any
			if env.database != "" {
				v = env.database
			}
			return p.subst(i, i+3, literal(v)), true
		}
	case "VERSION":
		if emptyCall {
			return p.subst(i, i+3, literal(env.version)), true
		}
	case "USER", "CURRENT_USER", "SESSION_USER", "SYSTEM_USER":
		if emptyCall {
			return p.subst(i, i+3, literal(env.user+"@127.0.0.1")), true
		}
		if t.up == "CURRENT_USER" && !nextOpen {
			return p.subst(i, i+1, literal(env.user+"@127.0.0.1")), true
		}
	case "CONNECTION_ID":
		if emptyCall {
			return p.subst(i, i+3, literal(int64(env.connID))), true
		}
	case "LAST_INSERT_ID":
		if emptyCall {
			return p.subst(i, i+3, raw("last_insert_rowid()")), true
		}
	case "UUID":
		if emptyCall {
			return p.subst(i, i+3, raw(uuidExpr)), true
		}
	case "DIV":
		p.emit(token{kind: tkOp, text: "/", sp: true})
		return i + 1, true
	case "FOR":
		// FOR UPDATE [OF t,..] [NOWAIT|SKIP LOCKED], FOR SHARE ...
		if w := wordAt(ts, i+1); w == "UPDATE" || w == "SHARE" {
			p.locking = true
			j := i + 2
			if wordAt(ts, j) == "OF" {
				j++
				for j < len(ts) && (ts[j].kind == tkWord || ts[j].kind == tkIdent) && ts[j].up != "NOWAIT" && ts[j].up != "SKIP" {
					j++
					if j < len(ts) && ts[j].isOp(",") {
						j++
					}
				}
			}
			switch wordAt(ts, j) {
			case "NOWAIT":
				j++
			case "SKIP":
				j += 2
			}
			return j, true
		}
	case "LOCK":
		if wordAt(ts, i+1) == "IN" && wordAt(ts, i+2) == "SHARE" && wordAt(ts, i+3) == "MODE" {
			p.locking = true
			return i + 4, true
		}
	case "SQL_CALC_FOUND_ROWS", "SQL_NO_CACHE", "SQL_CACHE", "SQL_SMALL_RESULT", "SQL_BIG_RESULT",
		"SQL_BUFFER_RESULT", "HIGH_PRIORITY", "LOW_PRIORITY", "DELAYED", "QUICK":
		l := p.last()
		if l.is("SELECT") || l.is("INSERT") || l.is("REPLACE") || l.is("UPDATE") || l.is("DELETE") ||
			l.is("DISTINCT") || l.is("ALL") {
			return i + 1, true
		}
	case "STRAIGHT_JOIN":
		if p.last().is("SELECT") {
			return i + 1, true
		}
		p.emit(token{kind: tkWord, text: "JOIN", up: "JOIN", sp: true})
		return i + 1, true
	case "IGNORE", "USE", "FORCE":
		if t.up == "IGNORE" {
			switch l := p.last(); {
			case l.is("INSERT") || l.is("UPDATE"):
				p.emit(token{kind: tkWord, text: "OR", up: "OR", sp: true}, t)
				return i + 1, true
			case l.is("DELETE"):
				return i + 1, true
			}
		}
		// index hints: USE|FORCE|IGNORE INDEX|KEY [FOR ...] (list)
		if w := wordAt(ts, i+1); (w == "INDEX" || w == "KEY") && len(p.out) > 0 {
			j := i + 2
			for j < len(ts) && ts[j].kind == tkWord {
				j++
			}
			if j < len(ts) && ts[j].isOp("(") {
				if k := closeParen(ts, j); k > 0 {
					return k + 1, true
				}
			}
		}
	case "COLLATE":
		j := i + 1
		if j < len(ts) && ts[j].isOp("=") {
			j++
		}
		if j < len(ts) && (ts[j].kind == tkWord || ts[j].kind == tkIdent || ts[j].kind == tkString) {
			name, _ := identName(ts[j])
			switch strings.ToUpper(name) {
			case "BINARY", "NOCASE", "RTRIM":
			default:
				return j + 1, true
			}
		}
	case "CHARSET", "CHARACTER":
		j := i + 1
		if t.up == "CHARACTER" {
			if wordAt(ts, j) != "SET" {
				break
			}
			j++
		}
		if j < len(ts) && ts[j].isOp("=") {
			j++
		}
		if j < len(ts) && (ts[j].kind == tkWord || ts[j].kind == tkIdent || ts[j].kind == tkString) {
			return j + 1, true
		}
	case "FROM":
		if wordAt(ts, i+1) == "DUAL" {
			return i + 2, true
		}
	case "ON":
		if wordAt(ts, i+1) == "DUPLICATE" && wordAt(ts, i+2) == "KEY" && wordAt(ts, i+3) == "UPDATE" {
			p.onDup = true
			p.emit(raw("ON CONFLICT DO UPDATE SET"))
			return i + 4, true
		}
	case "VALUES":
		if p.onDup && nextOpen && i+3 < len(ts) && (ts[i+2].kind == tkWord || ts[i+2].kind == tkIdent) && ts[i+3].isOp(")") {
			p.emit(token{kind: tkRaw, text: "excluded." + ts[i+2].sqlText(), sp: t.sp})
			return i + 4, true
		}
	case "VALUE":
		if p.isInsert && nextOpen {
			p.emit(token{kind: tkWord, text: "VALUES", up: "VALUES", sp: t.sp})
			return i + 1, true
		}
	default:
		if nextOpen {
			if r := renamedFunc(t.up); r != "" {
				p.emit(token{kind: tkWord, text: r, up: strings.ToUpper(r), sp: t.sp})
				return i + 1, true
			}
		}
	}
	return i, false
}
